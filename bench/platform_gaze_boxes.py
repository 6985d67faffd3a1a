"""Benchmark: the platform's path from recorded gaze to gaze boxes on kvasir (development split).

The real EyeLink fixations of ``kvasir/fixations.csv`` are turned into 60 Hz gaze samples
(still on each fixation, sigma 0.3 px of noise, 40 ms gaps between fixations), as a recording of
an image collection stores them; the platform's I-DT (``segmentation.fixations.idt_fixations``,
1 degree at the fallback 12 px per degree, 100 ms) finds the fixations again, and the engine's
``label_images`` (defaults, refinement on) makes the masks. Printed: fixations recovered, Dice of
the platform's masks against the engine's masks from the original fixation file and against the
reference masks, seconds per image.

Usage::

    nice .venv/bin/python bench/platform_gaze_boxes.py [N_IMAGES] [--data ../shared/data/kvasir]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_images", nargs="?", type=int, default=30)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kvasir")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowd.settings")
    import django

    django.setup()
    import imageio.v3 as iio
    import numpy as np
    import pandas as pd

    from segmentation.engine import DEFAULT_PX_PER_DEGREE
    from segmentation.engine.detection import dice, label_images
    from segmentation.fixations import DISPERSION_DEG, idt_fixations

    fixations = pd.read_csv(args.data / "fixations.csv")
    names = sorted(n for n in fixations.image.unique() if n < "cju5")[: args.n_images]
    rng = np.random.default_rng(0)
    rows, n_in = [], 0
    for name in names:
        fix = fixations[fixations.image == name]
        n_in += len(fix)
        t, samples = 0.0, []
        for _, f in fix.iterrows():
            for dt in np.linspace(0, f.duration_ms, int(round(f.duration_ms * 60 / 1000)) + 1):
                samples.append((t + dt, f.x + rng.normal(0, 0.3), f.y + rng.normal(0, 0.3)))
            t += f.duration_ms + 40
        for t0, x, y, d in idt_fixations(np.asarray(samples),
                                         dispersion_px=DISPERSION_DEG * DEFAULT_PX_PER_DEGREE):
            rows.append((name, "expert", t0, x, y, d))
    found = pd.DataFrame(rows, columns=["image", "observer", "t_ms", "x", "y", "duration_ms"])
    images = {n: iio.imread(args.data / "images" / f"{n}.jpg") for n in names}
    start = time.perf_counter()
    platform = label_images(images, names, found)
    seconds = (time.perf_counter() - start) / len(names)
    direct = label_images(images, names, fixations[fixations.image.isin(names)])
    truth = {n: iio.imread(args.data / "masks" / f"{n}.png") > 0 for n in names}
    print("| images | fixations | recovered by I-DT | Dice platform vs engine | Dice platform vs "
          "reference | Dice engine vs reference | s per image |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(names)} | {n_in} | {len(found)} "
          f"| {np.mean([dice(platform[n].mask, direct[n].mask) for n in names]):.3f} "
          f"| {np.mean([dice(platform[n].mask, truth[n]) for n in names]):.3f} "
          f"| {np.mean([dice(direct[n].mask, truth[n]) for n in names]):.3f} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
