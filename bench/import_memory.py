"""Benchmark of a sequence's import: peak memory and seconds, whole in memory vs streamed.

``whole`` is the import before 2026-11-30: ``read_sequence`` decodes every frame into one
array, then ``np.save`` into a buffer for the storage (two copies at the peak). ``streamed`` is
the import now: ``read_sequence(out=...)`` writes each decoded frame to a ``.npy`` file, which
goes to the storage from disk. Each row runs in a fresh process so that its peak RSS
(``VmHWM``) is its own; ``frames MB`` is the decoded sequence's size.

Inputs are written first into a temporary folder: a float32 NIfTI volume of 512x512 slices
(``.nii``, read in slabs along its last axis), a 854x480 H.264 video and a folder of 854x480
PNG frames (smooth random colour).

    nice .venv/bin/python bench/import_memory.py --frames 300

Results: docs/benchmarks.md, "Import memory".
"""

from __future__ import annotations

import argparse
import io
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


def _frames(n: int, h: int, w: int, colour: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 40.0) + np.cos(y / 30.0)) * 60 + 128
    for t in range(n):
        f = base + 20 * np.sin(t / 10.0) + rng.normal(0, 5, (h, w))
        f = np.clip(f, 0, 255).astype(np.uint8)
        yield np.stack([f, np.roll(f, t, 1), 255 - f], -1) if colour else f


def make_inputs(folder: Path, n: int) -> dict:
    import imageio.v3 as iio
    import nibabel as nib

    vol = np.stack(list(_frames(n, 512, 512, False)), -1).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), folder / "volume.nii")
    del vol
    with iio.imopen(folder / "video.mp4", "w", plugin="pyav") as out:
        out.init_video_stream("libx264", fps=25)
        for f in _frames(n, 480, 854, True):
            out.write_frame(f)
    pngs = folder / "frames"
    pngs.mkdir()
    for t, f in enumerate(_frames(n, 480, 854, True)):
        iio.imwrite(pngs / f"{t:05d}.png", f)
    return {"nifti": folder / "volume.nii", "video": folder / "video.mp4", "png": pngs}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``). Not ``ru_maxrss``: Linux carries the
    parent's peak across fork and exec into it, and the parent wrote the inputs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(path: str, mode: str, out: str) -> dict:
    from segmentation.engine import read_sequence

    t = time.perf_counter()
    if mode == "whole":
        data = read_sequence(path)
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(data.frames), allow_pickle=False)
        size = len(buffer.getvalue())
    else:
        data = read_sequence(path, out=out)
        size = Path(out).stat().st_size
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "rss_mb": _peak_rss_mb(),
            "frames_mb": data.frames.nbytes / 2**20, "file_mb": size / 2**20,
            "shape": list(data.frames.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(*args.child)))
        return
    print("| input | frames | shape | frames MB | mode | seconds | peak RSS MB | load |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        inputs = make_inputs(Path(tmp), args.frames)
        for kind, path in inputs.items():
            for mode in ("whole", "streamed"):
                load = os.getloadavg()[0]
                out = Path(tmp) / "out.npy"
                run = subprocess.run([sys.executable, __file__, "--child", str(path), mode, str(out)],
                                     capture_output=True, text=True)
                if run.returncode:
                    sys.exit(run.stderr[-3000:])
                row = json.loads(run.stdout.strip().splitlines()[-1])
                out.unlink(missing_ok=True)
                print(f"| {kind} | {args.frames} | {'x'.join(map(str, row['shape'][1:]))} | "
                      f"{row['frames_mb']:.0f} | {mode} | {row['seconds']:.1f} | {row['rss_mb']:.0f} | "
                      f"{load:.1f}-{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
