"""Benchmark of a chunked run's report: seconds and peak RSS as the sequence gets long.

The chunk folder of a run is built first (the engine's chunked steps in one process, the
inputs of ``bench/scale.py``: DAVIS blackswan played forward and back to N frames, 7 simulated
observers, reference masks on every 10th frame), then :func:`engine.write_chunked_report`
runs in a fresh process so that its peak RSS (``ru_maxrss``) is its own. The machine is
shared: ``load`` is the 1-minute load average before and after the report.

    nice .venv/bin/python bench/chunked_report.py --davis 100 300 1000

Results: docs/benchmarks.md, "Scale".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _truth(seq) -> tuple:
    """Reference masks of every 10th frame (the source frame's DAVIS mask)."""
    from bench.scale import DATA
    from segmentation import engine

    masks = engine.read_masks(DATA / "davis" / "blackswan" / "masks")
    idx = list(range(0, len(seq), 10))
    return np.stack([masks[seq.source_of(t)] for t in idx]).astype(bool), idx


def build(length: int, chunk_frames: int, folder: str) -> dict:
    from bench.scale import make_sequence, simulated_gaze
    from segmentation import engine

    seq = make_sequence("davis", length)
    gaze, ppd = simulated_gaze("davis", seq)
    t = time.perf_counter()
    engine.segment_chunked(seq, gaze, folder, px_per_degree=ppd, chunk_frames=chunk_frames)
    return {"run_seconds": time.perf_counter() - t}


def report(length: int, folder: str) -> dict:
    from bench.scale import make_sequence, simulated_gaze
    from segmentation import engine

    seq = make_sequence("davis", length)
    gaze, _ = simulated_gaze("davis", seq)
    truth = _truth(seq)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        files = engine.write_chunked_report(out, folder, frames=seq, truth=truth, gaze=gaze,
                                            name=f"davis {length}")
        seconds = time.perf_counter() - t
    return {"report_seconds": seconds, "files": len(files), "rss_before_mb": before,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "load": [load, os.getloadavg()[0]], "frames_scored": len(truth[1])}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True)
    if out.returncode:
        sys.exit(f"{' '.join(args[:2])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--davis", type=int, nargs="*", default=[100, 300, 1000])
    parser.add_argument("--chunk-frames", type=int, default=16)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, length, folder, *rest = args.child
        row = (build(int(length), int(rest[0]), folder) if what == "build"
               else report(int(length), folder))
        print(json.dumps(row))
        return
    print("| frames | chunks of | run s (1 process) | report s | report rss MB | imports rss MB "
          "| frames scored | load |")
    print("|---|---|---|---|---|---|---|---|")
    for length in args.davis:
        with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
            built = _child(["build", str(length), folder, str(args.chunk_frames)])
            row = _child(["report", str(length), folder])
        print(f"| {length} | {args.chunk_frames} | {built['run_seconds']:.1f} | "
              f"{row['report_seconds']:.1f} | {row['rss_mb']:.0f} | {row['rss_before_mb']:.0f} | "
              f"{row['frames_scored']} | {row['load'][0]:.1f}-{row['load'][1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
