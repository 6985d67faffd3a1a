"""Gaze with known fixations, for the replay tests: one steady fixation per frame.

The simulated observers of the shipped samples jitter by more than a degree at the default
pixels per degree, so the platform's I-DT (1 degree, 100 ms) finds few fixations in them;
these recordings have fixations whose place and length the tests know.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HZ = 60.0
FIXATION_SAMPLES = 15  # 14 intervals of 16.7 ms: 233 ms from first to last sample
SACCADE_SAMPLES = 2


def fixating_gaze(observer: str, points: list[tuple[float, float]], *, seed: int = 0) -> pd.DataFrame:
    """``observer, t_ms, frame, x, y`` at 60 Hz: on frame k a fixation at ``points[k]`` (x, y),
    jittered by at most half a pixel, then a two-sample saccade to the next point (on frame k + 1)."""
    rng = np.random.default_rng(seed)
    rows, n = [], 0
    for k, (x, y) in enumerate(points):
        for _ in range(FIXATION_SAMPLES):
            rows.append((observer, n * 1000.0 / HZ, k, x + rng.uniform(-0.5, 0.5), y + rng.uniform(-0.5, 0.5)))
            n += 1
        if k + 1 < len(points):
            nx, ny = points[k + 1]
            for s in range(1, SACCADE_SAMPLES + 1):
                f = s / (SACCADE_SAMPLES + 1)
                rows.append((observer, n * 1000.0 / HZ, k + 1, x + f * (nx - x), y + f * (ny - y)))
                n += 1
    return pd.DataFrame(rows, columns=["observer", "t_ms", "frame", "x", "y"])


def fixating_gaze_csv(folder: Path, observer: str, points, *, seed: int = 0) -> Path:
    path = Path(folder) / f"{observer}-fixating.csv"
    fixating_gaze(observer, points, seed=seed).round(3).to_csv(path, index=False)
    return path
