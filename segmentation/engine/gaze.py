"""Raw gaze samples -> at most one gaze point per frame.

A tracker gives several samples per frame (60 Hz against 4-30 frames per second); some are lost
(blinks), some fall outside the image, some belong to saccades. Per frame we keep the samples
that lie inside the image and move slower than a saccade threshold (an I-VT fixation filter),
and take their median: a robust centre that one stray sample cannot drag. Frames without a
valid sample get no gaze point (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

#: Samples moving faster than this (degrees of visual angle per second) belong to saccades.
SACCADE_DEG_PER_S = 30.0


def gaze_points(
    gaze: pd.DataFrame,
    n_frames: int,
    shape: tuple[int, int],
    *,
    px_per_degree: float | None = None,
    saccade_deg_per_s: float = SACCADE_DEG_PER_S,
    min_samples: int = 1,
) -> np.ndarray:
    """One robust gaze point per frame from one observer's samples.

    Parameters
    ----------
    gaze : DataFrame
        Canonical gaze table (``observer, t_ms, frame, x, y``; x = column, y = row, pixels) of
        one recording.
    n_frames : int
        T, number of frames.
    shape : (H, W)
        Frame size; samples outside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` are dropped.
    px_per_degree : float, optional
        Pixels per degree; enables the saccade filter (samples faster than
        ``saccade_deg_per_s`` are dropped unless that would leave the frame empty).
    min_samples : int, default 1
        Frames with fewer valid samples get no gaze point.

    Returns
    -------
    (T, 2) float ndarray
        (x, y) = (column, row) per frame; NaN where the frame has no gaze point.
    """
    h, w = shape
    out = np.full((n_frames, 2), np.nan)
    if len(gaze) == 0:
        return out
    df = gaze.sort_values("t_ms", kind="stable")
    frame = df["frame"].to_numpy(dtype=np.int64)
    if (frame >= n_frames).any() or (frame < 0).any():
        k = int(np.flatnonzero((frame >= n_frames) | (frame < 0))[0])
        src = gaze.attrs.get("source", "gaze")
        raise InputError(f"{src}: row {df.index[k]}: frame {frame[k]} outside 0..{n_frames - 1}")
    x = df["x"].to_numpy(dtype=float)
    y = df["y"].to_numpy(dtype=float)
    t = df["t_ms"].to_numpy(dtype=float)
    valid = np.isfinite(x) & np.isfinite(y)
    valid &= (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)

    fix = valid.copy()
    if px_per_degree and saccade_deg_per_s > 0 and valid.sum() > 1:
        # Velocity between consecutive valid samples (lost samples break the chain).
        idx = np.flatnonzero(valid)
        dt = np.diff(t[idx]) / 1000.0
        dist = np.hypot(np.diff(x[idx]), np.diff(y[idx])) / px_per_degree
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = np.where(dt > 0, dist / dt, np.inf)
        fast = np.zeros(idx.size, bool)
        # A sample is a saccade sample when both of its links are fast (an isolated fast link
        # is the start or end of a fixation, whose sample we keep).
        fast_link = speed > saccade_deg_per_s
        fast[1:-1] = fast_link[:-1] & fast_link[1:]
        if idx.size >= 2:
            fast[0] = fast_link[0]
            fast[-1] = fast_link[-1]
        fix[idx[fast]] = False

    for keep in (fix, valid):  # fall back to all valid samples where no fixation sample exists
        sel = keep & np.isnan(out[np.clip(frame, 0, n_frames - 1), 0])
        if not sel.any():
            continue
        f = frame[sel]
        counts = np.bincount(f, minlength=n_frames)
        order = np.argsort(f, kind="stable")
        fx, fy = x[sel][order], y[sel][order]
        starts = np.r_[0, np.cumsum(counts)]
        for k in np.flatnonzero(counts >= min_samples):
            a, b = starts[k], starts[k + 1]
            out[k] = (np.median(fx[a:b]), np.median(fy[a:b]))
    return out


def gazed_superpixels(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Superpixel under each frame's gaze point.

    Parameters
    ----------
    points : (T, 2) float ndarray
        (x, y) per frame, NaN = none.
    labels : (T, H, W) int ndarray

    Returns
    -------
    (T,) int64 ndarray
        Superpixel index, -1 where the frame has no gaze point.
    """
    t_count, h, w = labels.shape
    out = np.full(t_count, -1, dtype=np.int64)
    ok = np.isfinite(points).all(axis=1)
    k = np.flatnonzero(ok)
    cols = np.clip(np.rint(points[k, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.rint(points[k, 1]).astype(int), 0, h - 1)
    out[k] = labels[k, rows, cols]
    return out
