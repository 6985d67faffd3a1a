"""Benchmark of chunked runs: memory per worker and seconds per frame as sequences get long.

Inputs (from ../shared/data, never copied into memory whole):

* ``davis``: DAVIS ``blackswan`` (50 frames of 854x480) played forward and back to N frames;
  7 observers simulated (engine/simulate.py, the development panel of recording.json) on the
  50 real frames, their samples repeated on the frames that replay them.
* ``brats``: BRATS ``pat0001`` FLAIR resampled to 512x512 slices and N slices (linear between
  the source slices); observers simulated on the source slices the same way.

Frames are decoded on demand (JPEG per frame; a resampled slice per request). Each run executes
the engine's chunked steps (segmentation/engine/chunks.py) exactly as the Celery tasks of
segmentation/services/chunked_runs.py do: the parallel steps (prepare, estimate, fit: one task
per booster, paint) on a pool of W worker processes, the gather steps (plan, train: pooling
and the boosters' samples, finalize: every painted method's cut) in the coordinating process,
which stands for the worker that runs them. Baselines are painted as a run with ``compare``
(the default of runs) paints them: probability and el beside eel, every frame stored (a run
stores the reference frames only), unless ``--no-compare``. Every run is its own process tree, so peak RSS (``ru_maxrss``) is that run's:
``rss worker`` is the largest over the W pool processes, ``rss gather`` the coordinator's.
``sp pass`` is the superpixel pass alone (SLIC on every frame, one process) for comparison.
The machine is shared: ``load`` is ``os.getloadavg()`` (1 min) before and after each run.

    nice .venv/bin/python bench/scale.py                                  # everything
    nice .venv/bin/python bench/scale.py --davis 100 300 --brats 150 --workers 1 2
    nice .venv/bin/python bench/scale.py --davis 100 --workers 1 --no-superpixels
    nice .venv/bin/python bench/scale.py --davis 100 300 --brats --workers 1 2 --chunk-frames 16 \
        --no-superpixels --no-compare                                   # the run's method alone

Results and the command used: docs/benchmarks.md, "Scale".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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
DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _pingpong(t: int, n: int) -> int:
    """Source frame of frame ``t`` when ``n`` frames are played forward, back, forward..."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    k = t % period
    return k if k < n else period - k


class LongDavis:
    """DAVIS blackswan played forward and back to ``length`` frames, decoded per request."""

    def __init__(self, length: int):
        from segmentation import engine

        self.source = engine.open_sequence(DATA / "davis" / "blackswan" / "frames")
        self.n_source = len(self.source)
        self.shape = (int(length), *self.source.shape[1:])
        self.dtype = self.source.dtype

    def source_of(self, t: int) -> int:
        return _pingpong(t, self.n_source)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        a, b, _ = key.indices(self.shape[0])
        return np.stack([self.source[self.source_of(t)] for t in range(a, b)]) if b > a else \
            np.zeros((0, *self.shape[1:]), self.dtype)


class LongBrats:
    """BRATS pat0001 FLAIR resampled to 512x512 and ``length`` slices, one slice per request."""

    SIDE = 512

    def __init__(self, length: int):
        from segmentation import engine

        self.source = engine.open_sequence(DATA / "brats" / "pat0001" / "flair.nii.gz")
        self.n_source = len(self.source)
        self.shape = (int(length), self.SIDE, self.SIDE)
        self.dtype = np.dtype(np.float32)

    def position(self, t: int) -> float:
        return t * (self.n_source - 1) / max(1, self.shape[0] - 1)

    def source_of(self, t: int) -> int:
        return int(round(self.position(t)))

    def _slice(self, t: int) -> np.ndarray:
        from scipy.ndimage import zoom

        z = self.position(t)
        lo = int(np.floor(z))
        hi = min(lo + 1, self.n_source - 1)
        w = z - lo
        pair = self.source[lo:hi + 1].astype(np.float32)
        s = pair[0] * (1 - w) + pair[-1] * w
        return zoom(s, self.SIDE / s.shape[0], order=1)[:self.SIDE, :self.SIDE].astype(np.float32)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        a, b, _ = key.indices(self.shape[0])
        return np.stack([self._slice(t) for t in range(a, b)]) if b > a else \
            np.zeros((0, *self.shape[1:]), self.dtype)


def make_sequence(kind: str, length: int):
    return LongDavis(length) if kind == "davis" else LongBrats(length)


def simulated_gaze(kind: str, seq) -> tuple[list, float]:
    """Gaze tables of the long sequence: the panel simulated on the source frames, each long
    frame taking the samples of the source frame it shows (times shifted to its slot)."""
    import pandas as pd

    from segmentation import engine

    if kind == "davis":
        masks = engine.read_masks(DATA / "davis" / "blackswan" / "masks")
        panel = engine.read_panel(DATA / "gaze" / "davis-blackswan" / "recording.json")
        scale = 1.0
    else:
        masks = engine.read_masks(DATA / "brats" / "pat0001" / "tumour.nii.gz")
        panel = engine.read_panel(DATA / "gaze" / "brats-pat0001" / "recording.json")
        scale = LongBrats.SIDE / masks.shape[1]
    tables = engine.simulate_panel(masks, panel)
    frame_ms = 1000.0 / panel.fps
    out = []
    sources = np.array([seq.source_of(t) for t in range(len(seq))])
    for table in tables:
        by_frame = {f: g for f, g in table.groupby("frame")}
        parts = []
        for t, src in enumerate(sources):
            g = by_frame.get(int(src))
            if g is None:
                continue
            g = g.copy()
            g["t_ms"] = g["t_ms"] - src * frame_ms + t * frame_ms
            g["frame"] = t
            g["x"] = g["x"] * scale
            g["y"] = g["y"] * scale
            parts.append(g)
        long = pd.concat(parts, ignore_index=True)
        long.attrs = {}
        out.append(long)
    return out, panel.px_per_degree * scale


# --- worker processes: the parallel steps ---------------------------------------------------

_WORKER = {}


def _init_worker(kind: str, length: int, folder: str) -> None:
    _WORKER.update(seq=make_sequence(kind, length), folder=folder)


def _step(args) -> tuple[float, dict]:
    """One task of a parallel step, as ``chunked_runs.run_chunk`` runs it: (seconds, the
    step's own timings where it returns some)."""
    from segmentation import engine

    step, index = args
    t = time.perf_counter()
    parts = None
    if step == "prepare":
        engine.prepare_chunk(_WORKER["folder"], index, _WORKER["seq"])
    elif step == "estimate":
        engine.estimate_chunk(_WORKER["folder"], index)
    elif step == "fit":
        parts = engine.fit_booster(_WORKER["folder"], index)
    else:
        parts = engine.paint_chunk(_WORKER["folder"], index, _WORKER["seq"])
    return time.perf_counter() - t, parts or {}


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MB (Linux: KiB)


def _reference(kind: str, seq):
    """Reference masks of every 10th frame (DAVIS: the source frame's mask); None for the
    resampled volume (its report is written without a reference)."""
    if kind != "davis":
        return None
    from segmentation import engine

    masks = engine.read_masks(DATA / "davis" / "blackswan" / "masks")
    idx = list(range(0, len(seq), 10))
    return np.stack([masks[seq.source_of(t)] for t in idx]).astype(bool), idx


def one_run(kind: str, length: int, workers: int, chunk_frames: int, compare: bool = True,
            report: bool = True) -> dict:
    """A chunked run with ``workers`` pool processes (this process gathers)."""
    from segmentation import engine

    seq = make_sequence(kind, length)
    gaze, ppd = simulated_gaze(kind, seq)
    load_before = os.getloadavg()[0]
    timings, parts = {}, {}
    with tempfile.TemporaryDirectory(prefix="scale-") as folder:
        t0 = time.perf_counter()
        layout = engine.chunk_layout(folder, seq, px_per_degree=ppd, chunk_frames=chunk_frames)
        timings["layout"] = time.perf_counter() - t0
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(kind, length, folder)) as pool:
            pool.apply(os.getpid)  # workers started (import time is not the run's)
            [pool.apply(os.getpid) for _ in range(workers)]
            t_run = time.perf_counter()

            def parallel(step):
                t = time.perf_counter()
                done = list(pool.imap_unordered(_step, [(step, i) for i in
                                                        range(engine.step_size(folder, step))]))
                timings[step] = time.perf_counter() - t
                # Task seconds summed over workers, and the steps' own split of them.
                parts[step] = {"tasks": sum(s for s, _ in done)}
                for _, split in done:
                    for key, value in split.items():
                        parts[step][key] = parts[step].get(key, 0.0) + value

            parallel("prepare")
            t = time.perf_counter()
            engine.chunk_offsets(folder)
            engine.plan_estimates(folder, gaze)
            timings["plan"] = time.perf_counter() - t
            parallel("estimate")
            t = time.perf_counter()
            trained = engine.train_chunks(folder, method="eel", compare=compare)
            timings["train"] = time.perf_counter() - t
            if trained.n_fits:
                parallel("fit")
            parallel("paint")
            t = time.perf_counter()
            choice = engine.finish_chunks(folder)
            baselines = {m: engine.finish_chunks(folder, method=m).threshold
                         for m in trained.methods[1:]}
            masks = sum(int(engine.chunk_masks(folder, i, choice.threshold).sum())
                        for i in range(layout.n_chunks))
            timings["finalize"] = time.perf_counter() - t
            if report:
                # The platform's finalize task writes the crowd report too (serial).
                t = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="scale-report-") as out:
                    engine.write_chunked_report(out, folder, frames=seq, gaze=gaze,
                                                truth=_reference(kind, seq))
                timings["report"] = time.perf_counter() - t
            seconds = time.perf_counter() - t_run
            rss_workers = pool.map(_child_rss, range(workers), chunksize=1)
    return {"kind": kind, "frames": length, "shape": list(seq.shape[1:]), "workers": workers,
            "chunk_frames": chunk_frames, "chunks": layout.n_chunks, "seconds": seconds,
            "s_per_frame": seconds / length, "rss_worker_mb": max(rss_workers),
            "rss_gather_mb": _rss(), "timings": timings, "task_seconds": parts,
            "methods": list(trained.methods), "mask_pixels": masks, "threshold": choice.threshold,
            "baseline_thresholds": baselines, "load": [load_before, os.getloadavg()[0]]}


def _child_rss(_):
    time.sleep(0.2)  # let every pool process take one of these
    return _rss()


def superpixel_pass(kind: str, length: int, ppd: float) -> dict:
    """SLIC on every frame, one process: the floor of any run."""
    from segmentation.engine.superpixels import normalise_frames, slic_frame, superpixel_side

    seq = make_sequence(kind, length)
    side = superpixel_side(ppd)
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    for a in range(0, length, 16):
        block = seq[a:min(length, a + 16)]
        # Volumes: per-block scaling is close enough for timing SLIC.
        f01 = normalise_frames(block)
        for k in range(f01.shape[0]):
            slic_frame(f01[k], side=side)
    seconds = time.perf_counter() - t
    return {"kind": kind, "frames": length, "superpixel_s_per_frame": seconds / length,
            "load": [load_before, os.getloadavg()[0]]}


def _in_subprocess(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(rows: list, workers: list) -> None:
    print("\nspeed-up of 2 workers over 1 and s/frame relative to the shortest length:")
    for kind in ("davis", "brats"):
        mine = [r for r in rows if r["kind"] == kind]
        for length in sorted({r["frames"] for r in mine}):
            by_w = {r["workers"]: r for r in mine if r["frames"] == length}
            if 1 in by_w and 2 in by_w:
                print(f"  {kind} {length}: {by_w[1]['seconds'] / by_w[2]['seconds']:.2f}x")
        ones = sorted((r for r in mine if r["workers"] == min(workers)), key=lambda r: r["frames"])
        for r in ones[1:]:
            print(f"  {kind} {r['frames']} vs {ones[0]['frames']} frames, s/frame ratio "
                  f"{r['s_per_frame'] / ones[0]['s_per_frame']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--davis", type=int, nargs="*", default=[100, 300, 1000],
                        help="DAVIS lengths in frames")
    parser.add_argument("--brats", type=int, nargs="*", default=[150, 300, 600],
                        help="512x512 volume lengths in slices")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--chunk-frames", type=int, default=32)
    parser.add_argument("--no-superpixels", action="store_true",
                        help="skip the superpixel pass alone")
    parser.add_argument("--no-compare", action="store_true",
                        help="paint the run's method (eel) alone, no baselines")
    parser.add_argument("--no-report", action="store_true",
                        help="leave out the crowd report the platform's finalize writes")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        what, kind, length, *rest = args.child
        if what == "run":
            out = one_run(kind, int(length), int(rest[0]), int(rest[1]), rest[2] == "compare",
                          report=rest[3] == "report")
        else:
            out = superpixel_pass(kind, int(length), float(rest[0]))
        print(json.dumps(out))
        return
    if not DATA.is_dir():
        sys.exit(f"the real data folder {DATA} is absent (set GAZECROWD_SHARED_DATA)")
    rows, passes = [], {}
    cases = [("davis", n) for n in args.davis] + [("brats", n) for n in args.brats]
    ppd = {"davis": 26.687, "brats": 12.0 * LongBrats.SIDE / 240}
    print(f"{os.cpu_count()} CPUs; chunk {args.chunk_frames} frames; "
          f"{'eel alone' if args.no_compare else 'eel + baselines probability, el (compare)'}",
          flush=True)
    header = (f"{'input':7} {'frames':>6} {'W':>2} {'chunks':>6} {'seconds':>8} {'s/frame':>8} "
              f"{'rss worker MB':>13} {'rss gather MB':>13} {'sp pass s/f':>11} {'load':>11}")
    print(header, flush=True)
    for kind, length in cases:
        if not args.no_superpixels:
            passes[(kind, length)] = _in_subprocess(["sp", kind, str(length), str(ppd[kind])])
        for w in args.workers:
            row = _in_subprocess(["run", kind, str(length), str(w), str(args.chunk_frames),
                                  "alone" if args.no_compare else "compare",
                                  "none" if args.no_report else "report"])
            sp = passes.get((kind, length), {}).get("superpixel_s_per_frame")
            row["superpixel_s_per_frame"] = sp
            rows.append(row)
            print(f"{kind:7} {length:>6} {w:>2} {row['chunks']:>6} {row['seconds']:>8.1f} "
                  f"{row['s_per_frame']:>8.3f} {row['rss_worker_mb']:>13.0f} "
                  f"{row['rss_gather_mb']:>13.0f} {sp if sp is None else round(sp, 3)!s:>11} "
                  f"{row['load'][0]:>5.1f}-{row['load'][1]:<5.1f}", flush=True)
            print("        steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in row["timings"].items())
                  + "; task s: " + ", ".join(
                      f"{k} " + "/".join(f"{n} {x:.1f}" for n, x in v.items())
                      for k, v in row["task_seconds"].items() if k in ("fit", "paint")),
                  flush=True)
    _summary(rows, args.workers)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
