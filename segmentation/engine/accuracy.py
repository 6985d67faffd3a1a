"""A recording's measured gaze accuracy and the crowd's constant offsets.

The platform measures each recording's accuracy (a 9-point validation after calibration, a
drift check between sequences: ``annotation.selectors.recording_accuracy_deg``) in degrees of
visual angle. The engine uses it in three places (measured in docs/method.md, "Webcam-grade
observers with measured accuracy"):

* the estimate's spatial prior is widened by it (:func:`prior_sigma_deg`);
* the pools may weigh a low-accuracy recording down and say so (``pooling``);
* each recording's constant offset is estimated from the other recordings of the crowd and
  removed, bounded by its measured accuracy (:func:`consensus_offsets`; the estimates are
  then recomputed by ``pipeline.align_estimates``): a webcam's error is mostly a constant calibration offset in a
  random direction, so aligning the recordings on each other leaves only the crowd's mean
  offset, about ``accuracy / sqrt(R)`` for R independent recordings.

Gaze coordinates are (x, y) = (column, row) in image pixels.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

__all__ = [
    "MAX_ACCURACY_DEG",
    "check_accuracy_deg",
    "consensus_offsets",
    "crowd_accuracy_deg",
    "prior_sigma_deg",
]

#: The largest accuracy accepted (degrees): a gaze error cannot exceed a quarter turn; the
#: recorder caps its validation error at 90 too (static/gazecrowd/js/recorder.js).
MAX_ACCURACY_DEG = 90.0
#: Accuracies below this (degrees) count as this much when weighing recordings: no validation
#: measures better than a lab tracker's ~0.25 degree, and a zero would get an infinite weight.
MIN_ACCURACY_DEG = 0.25


def check_accuracy_deg(value, *, what: str = "accuracy_deg") -> float | None:
    """A measured accuracy as a float in [0, 90] degrees, or None when unknown.

    Parameters
    ----------
    value : float, int, None
        Degrees of visual angle; None (or NaN from a database column read through pandas is
        *not* accepted: pass None for "not measured").
    what : str
        Name used in the error message.

    Raises
    ------
    InputError
        Not a number, not finite, or outside [0, 90].
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{what} must be a number of degrees in [0, {MAX_ACCURACY_DEG:g}] or "
                         f"None (not measured); got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number of degrees in [0, {MAX_ACCURACY_DEG:g}] or "
                         f"None (not measured); got {value!r}") from None
    if not math.isfinite(out) or not 0.0 <= out <= MAX_ACCURACY_DEG:
        raise InputError(f"{what} must be a finite number of degrees in [0, "
                         f"{MAX_ACCURACY_DEG:g}] or None (not measured); got {value!r}")
    return out


def prior_sigma_deg(spatial_deg: float, accuracy_deg: float | None, scale: float) -> float:
    """Width of an observer's spatial prior: ``hypot(spatial_deg, scale * accuracy_deg)``.

    The prior says "the object is near where this observer looked"; a gaze known to be off by
    ``accuracy_deg`` says it only that precisely. Errors add in quadrature (independent).
    ``accuracy_deg`` None or ``scale`` 0: ``spatial_deg`` unchanged.
    """
    if accuracy_deg is None or not scale:
        return float(spatial_deg)
    return float(math.hypot(spatial_deg, scale * accuracy_deg))


def _weights(accuracy_deg) -> np.ndarray:
    """(R,) weights ``1 / max(a, MIN_ACCURACY_DEG)^2`` (1 deg for an unknown accuracy)."""
    a = np.array([1.0 if v is None else max(float(v), MIN_ACCURACY_DEG) for v in accuracy_deg])
    return 1.0 / a**2


def crowd_accuracy_deg(accuracy_deg) -> float | None:
    """The expected error of the crowd's consensus after aligning its recordings (degrees).

    Offsets in independent random directions average out: the accuracy-weighted mean of R
    offsets of sizes ``a_r`` has a root-mean-square size ``sqrt(sum w_r^2 a_r^2) / sum w_r``.
    None when no accuracy is known.

    Parameters
    ----------
    accuracy_deg : sequence of R float or None
    """
    known = [float(v) for v in accuracy_deg if v is not None]
    if not known:
        return None
    a = np.maximum(np.array(known), MIN_ACCURACY_DEG)
    w = 1.0 / a**2
    return float(np.sqrt(np.sum(w**2 * a**2)) / w.sum())


def consensus_offsets(points, accuracy_deg, *, px_per_degree: float, n_iter: int = 5,
                      min_frames: int = 5, min_accuracy_deg: float = 0.0) -> np.ndarray:
    """Each recording's constant gaze offset from the crowd's consensus, bounded by its accuracy.

    For recording r, the consensus of frame t is the accuracy-weighted mean of the *other*
    recordings' aligned gaze points on that frame; r's offset is the median (per coordinate,
    over the frames both have) of its point minus that consensus, a robust centre that glances
    away and blinks do not drag. Offsets and consensus are iterated; then the offsets are
    centred (accuracy-weighted mean 0: the crowd's mean offset cannot be told from the data)
    and each is shortened to at most its recording's accuracy: a validation that measured
    ``a`` degrees bounds how far the recording can be off, which also keeps an accurate
    observer in place when the rest of the crowd shares a mistake.

    Parameters
    ----------
    points : sequence of R (T, 2) ndarrays
        Each recording's gaze point per frame, (x, y) = (column, row) pixels, NaN = none
        (``EstimateResult.gaze_points``).
    accuracy_deg : sequence of R float or None
        Measured accuracy of each recording; a recording with None is never moved (and counts
        as 1 degree in the consensus).
    px_per_degree : float
    n_iter : int, default 5
    min_frames : int, default 5
        A recording sharing fewer frames with the others is not moved.
    min_accuracy_deg : float, default 0
        Only recordings measured at least this far off move; the others (and those without
        a measured accuracy) stay and pin the crowd's frame of reference.

    Returns
    -------
    (R, 2) float ndarray
        (dx, dy) pixels to *subtract* from each recording's gaze.
    """
    pts = np.stack([np.asarray(p, dtype=np.float64) for p in points])  # (R, T, 2)
    r_count = pts.shape[0]
    acc = [check_accuracy_deg(a) for a in accuracy_deg]
    if len(acc) != r_count:
        raise InputError(f"accuracy_deg must give one value (or None) per recording: "
                         f"{r_count} recordings, {len(acc)} values")
    offsets = np.zeros((r_count, 2))
    movable = np.array([a is not None and a >= min_accuracy_deg for a in acc])
    if r_count < 2 or not movable.any():
        return offsets
    w = _weights(acc)
    have = np.isfinite(pts).all(axis=2)  # (R, T)
    for _ in range(n_iter):
        aligned = pts - offsets[:, None, :]
        new = offsets.copy()
        for r in np.flatnonzero(movable):
            others = np.arange(r_count) != r
            wt = (w[others, None] * have[others]).astype(np.float64)  # (R-1, T)
            total = wt.sum(axis=0)
            both = have[r] & (total > 0)
            if both.sum() < min_frames:
                new[r] = 0.0
                continue
            consensus = np.einsum("rt,rtc->tc", wt[:, both],
                                  np.nan_to_num(aligned[others][:, both])) / total[both, None]
            new[r] = np.median(pts[r, both] - consensus, axis=0)
        if np.allclose(new, offsets, atol=0.05):
            offsets = new
            break
        offsets = new
    if movable.all():
        # Only relative offsets are identifiable: centre them on the accurate recordings.
        offsets -= (w[:, None] * offsets).sum(axis=0) / w.sum()
    for r in np.flatnonzero(movable):
        bound = acc[r] * px_per_degree
        size = float(np.hypot(*offsets[r]))
        if size > bound:
            offsets[r] *= bound / size if size > 0 else 0.0
    offsets[~movable] = 0.0
    return offsets
