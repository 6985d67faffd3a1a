"""Benchmark: re-exporting ground truth at another threshold, per format.

A run stores its pixel score map as 16-bit levels in a compressed npz; ``?threshold=T`` on an
export reads it, cuts it at T and encodes the masks. This times each step on a score map of
the size the issue names (100 frames of 854x480; a smooth blob per frame so that compression
behaves as on real maps) and prints a table. Target: under 2 s per format.

    .venv/bin/python bench/exports.py [--frames 100] [--height 480] [--width 854] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def score_map(t: int, h: int, w: int) -> np.ndarray:
    """A moving blurred ellipse per frame, scores in [0, 1] like a refined map."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    out = np.empty((t, h, w), np.float32)
    for k in range(t):
        cy, cx = h / 2 + 0.2 * h * np.sin(k / 15), w / 2 + 0.3 * w * np.cos(k / 20)
        d = ((yy - cy) / (0.15 * h)) ** 2 + ((xx - cx) / (0.12 * w)) ** 2
        out[k] = 1 / (1 + np.exp(4 * (d - 1)))
    return out


def main(argv=None) -> int:
    from segmentation import export_formats as exports
    from segmentation.engine import quantise

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    scores = score_map(args.frames, args.height, args.width)
    buf = io.BytesIO()
    np.savez_compressed(buf, scores=quantise(scores), masks=(scores >= 0.5).astype(np.uint8))
    stored = buf.getvalue()
    meta = {"run": 1, "method": "eel", "threshold": 0.3, "threshold_rule": "user"}

    def load_and_cut():
        """What segmentation.export_service does: read the stored levels, dequantise, cut."""
        with np.load(io.BytesIO(stored)) as z:
            levels = z["scores"]
        values = levels.astype(np.float32) / np.float32(65535)
        return values, (values >= np.float32(0.3)).astype(np.uint8)

    scores, masks = load_and_cut()
    steps = {
        "read stored map + cut": load_and_cut,
        "nifti": lambda: exports.nifti_bytes(masks, metadata=meta),
        "png (zip)": lambda: exports.png_zip_bytes(masks, metadata=meta),
        "coco": lambda: exports.coco_json_bytes(masks, name="seq", metadata=meta),
        "npz": lambda: exports.npz_bytes(scores, masks, metadata=meta),
    }
    times = {}
    for name, fn in steps.items():
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        times[name] = best
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; map {args.frames}x{args.height}x{args.width}, "
          f"stored {len(stored) / 2**20:.1f} MiB; best of {args.repeat}")
    print("| format | read + cut (s) | encode (s) | total (s) |")
    print("|---|---|---|---|")
    cut = times["read stored map + cut"]
    for name in ("nifti", "png (zip)", "coco", "npz"):
        print(f"| {name} | {cut:.2f} | {times[name]:.2f} | {cut + times[name]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
