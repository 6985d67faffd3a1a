"""Fixations from gaze samples by dispersion threshold (I-DT): numpy in, numpy out.

No Django here: the algorithm belongs with the engine's gaze processing and may move there
(``segmentation.engine``) once the engine's public API has a place for it; the platform's
gaze boxes (:mod:`segmentation.services.gaze_boxes`) are its only caller today.

Why our own I-DT rather than ``pymovements.events.idt``: pymovements refuses samples whose
time steps are not exactly constant ("interval between timesteps must be constant"), and the
browser recorder (a 60 Hz timer) and merged tracker exports never are. The detector below is
Salvucci & Goldberg's I-DT on the samples as they come.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DISPERSION_DEG", "MIN_FIXATION_MS", "idt_fixations"]

#: I-DT parameters: a fixation is at least ``MIN_FIXATION_MS`` of samples whose dispersion
#: ((max x - min x) + (max y - min y)) stays within ``DISPERSION_DEG`` degrees of visual angle.
DISPERSION_DEG = 1.0
MIN_FIXATION_MS = 100.0


def idt_fixations(samples: np.ndarray, *, dispersion_px: float, min_duration_ms: float = MIN_FIXATION_MS
                  ) -> np.ndarray:
    """Fixations of one image's samples by dispersion threshold (I-DT).

    Parameters
    ----------
    samples : (n, 3) ndarray
        ``t_ms, x, y`` sorted by time (x = column, y = row, pixels; NaN = lost, which ends a
        fixation).
    dispersion_px : float
        Largest ``(max x - min x) + (max y - min y)`` of a fixation, pixels.
    min_duration_ms : float
        Shortest fixation (first to last sample).

    Returns
    -------
    (K, 4) ndarray
        ``t_ms`` (start), ``x``, ``y`` (mean of the samples), ``duration_ms``.
    """
    t, x, y = samples[:, 0], samples[:, 1], samples[:, 2]
    valid = np.isfinite(x) & np.isfinite(y)
    out = []
    n, i = len(t), 0
    while i < n:
        if not valid[i]:
            i += 1
            continue
        # the smallest window covering min_duration_ms, without a lost sample
        j = i
        while j + 1 < n and valid[j + 1] and t[j] - t[i] < min_duration_ms:
            j += 1
        if t[j] - t[i] < min_duration_ms or _dispersion(x[i:j + 1], y[i:j + 1]) > dispersion_px:
            i += 1
            continue
        while j + 1 < n and valid[j + 1] and _dispersion(x[i:j + 2], y[i:j + 2]) <= dispersion_px:
            j += 1
        out.append((t[i], x[i:j + 1].mean(), y[i:j + 1].mean(), t[j] - t[i]))
        i = j + 1
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def _dispersion(x: np.ndarray, y: np.ndarray) -> float:
    return float(x.max() - x.min() + y.max() - y.min())
