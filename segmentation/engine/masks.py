"""From superpixel scores to the masks a user downloads: pixel-accurate maps, a reference-free cut.

Two steps, both without the reference masks (a user has none):

1. :func:`refine_scores` turns per-superpixel scores into a per-pixel score map that follows
   the image's edges: a guided filter (He, Sun & Tang, "Guided image filtering", ECCV 2010 /
   TPAMI 2013) of the painted scores' log-odds with the frame as guide, then a short average
   over neighbouring frames (or slices) so that masks do not flicker. Superpixel masks have
   staircase edges one superpixel wide; the filtered map keeps the scores inside regions and
   moves the transitions onto the image's edges.
2. :func:`choose_threshold` picks the cut from the map itself and the gaze: most pixels are
   background, the gazed pixels are object, so the median log-odds of all pixels and of the
   gazed pixels are the two classes' levels; the cut lies a fraction ``k`` of the way from the
   first to the second (``gaze-contrast`` rule). ``k`` was chosen by leave-one-sequence-out over
   the development sequences and simulated observer panels (docs/method.md, "Delivered masks").

The threshold stays the user's call: :func:`masks_at` cuts a stored map at any value.

Why our own guided filter: scikit-image has none, and OpenCV's (``cv2.ximgproc``) lives in the
60 MB opencv-contrib package; the filter is a dozen box filters (:func:`scipy.ndimage.uniform_filter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter, uniform_filter1d

from .errors import InputError

__all__ = [
    "THRESHOLD_RULES",
    "ThresholdChoice",
    "choose_threshold",
    "guided_filter",
    "logit",
    "masks_at",
    "refine_scores",
]

#: Rules that choose the cut without the reference; ``fixed`` is the booster's f = 0 (0.5).
THRESHOLD_RULES = ("gaze-contrast", "fixed")
#: Default of the ``gaze-contrast`` rule: the cut lies this fraction of the way from the
#: background's median log-odds to the gazed pixels' median (docs/method.md).
GAZE_CONTRAST_K = 0.75
#: Log-odds are clipped here: a score of exactly 0 or 1 would be infinite.
_LOGIT_CLIP = 1e-4


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds ``log(p / (1 - p))`` of scores, clipped to [1e-4, 1 - 1e-4] first.

    Parameters
    ----------
    p : (...) array_like of float in [0, 1]

    Returns
    -------
    (...) float32 ndarray
    """
    p = np.clip(np.asarray(p, dtype=np.float32), _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return uniform_filter(x, size=2 * r + 1, mode="reflect")


def _enlarge(x: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    if factor == 1:
        return x
    return np.repeat(np.repeat(x, factor, axis=0), factor, axis=1)[: shape[0], : shape[1]]


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, *,
                  subsample: int = 1) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` steered by the edges of ``guide``.

    Parameters
    ----------
    guide : (H, W) or (H, W, 3) float ndarray in [0, 1]
        Grey or colour guide image.
    src : (H, W) float ndarray
        The image to filter.
    radius : int
        Window radius in pixels (windows are ``2 radius + 1`` wide).
    eps : float
        Regularisation (on the guide's scale squared): edges with a guide variance well above
        ``eps`` are kept, flatter regions are smoothed.
    subsample : int, default 1
        The "fast guided filter": the linear coefficients are computed on a grid this many
        times coarser and enlarged, then applied to the full-resolution guide.

    Returns
    -------
    (H, W) float32 ndarray
    """
    guide = np.asarray(guide, dtype=np.float32)
    src = np.asarray(src, dtype=np.float32)
    if guide.shape[:2] != src.shape or guide.ndim not in (2, 3):
        raise InputError(f"guide {guide.shape} and source {src.shape} must share (H, W)")
    if radius < 1 or eps <= 0:
        raise InputError(f"radius must be >= 1 and eps > 0; got {radius} and {eps}")
    shape = src.shape
    s = max(1, int(subsample))
    g, p, r = guide[::s, ::s], src[::s, ::s], max(1, int(round(radius / s)))
    mp = _box(p, r)
    if g.ndim == 2:
        mg = _box(g, r)
        cov = _box(g * p, r) - mg * mp
        var = _box(g * g, r) - mg * mg
        a = cov / (var + eps)
        b = mp - a * mg
        return _enlarge(_box(a, r), s, shape) * guide + _enlarge(_box(b, r), s, shape)
    c = g.shape[2]
    mg = np.stack([_box(g[..., i], r) for i in range(c)], axis=-1)
    cov = np.stack([_box(g[..., i] * p, r) for i in range(c)], axis=-1) - mg * mp[..., None]
    sigma = np.empty(g.shape[:2] + (c, c), np.float32)
    for i in range(c):
        for j in range(i, c):
            v = _box(g[..., i] * g[..., j], r) - mg[..., i] * mg[..., j]
            sigma[..., i, j] = v
            sigma[..., j, i] = v
    sigma += eps * np.eye(c, dtype=np.float32)
    a = np.linalg.solve(sigma, cov[..., None])[..., 0]
    b = mp - (a * mg).sum(axis=-1)
    a_full = np.stack([_enlarge(_box(a[..., i], r), s, shape) for i in range(c)], axis=-1)
    return (a_full * guide).sum(axis=-1) + _enlarge(_box(b, r), s, shape)


def refine_scores(frames01: np.ndarray, sp_scores: np.ndarray, labels: np.ndarray, *,
                  radius_px: float, eps: float = 1e-3, temporal: int = 1,
                  progress=None) -> np.ndarray:
    """A pixel-accurate score map from per-superpixel scores.

    Parameters
    ----------
    frames01 : (T, H, W) or (T, H, W, 3) float ndarray in [0, 1]
        The sequence (the guide).
    sp_scores : (N,) ndarray in [0, 1]
        Scores per superpixel.
    labels : (T, H, W) int ndarray
        Superpixel of every pixel.
    radius_px : float
        Guided-filter radius in pixels (about one superpixel side).
    eps : float, default 1e-3
        Guided-filter regularisation.
    temporal : int, default 1
        Average the filtered log-odds over ``2 temporal + 1`` neighbouring frames (0: none).
    progress : callable(fraction), optional

    Returns
    -------
    (T, H, W) float32 ndarray in [0, 1]
    """
    t_count = labels.shape[0]
    logit_sp = logit(sp_scores)
    out = np.empty(labels.shape, np.float32)
    radius = max(1, int(round(radius_px)))
    sub = 2 if radius >= 8 else 1
    for k in range(t_count):
        out[k] = guided_filter(frames01[k], logit_sp[labels[k]], radius, eps, subsample=sub)
        if progress is not None:
            progress((k + 1) / t_count)
    if temporal > 0 and t_count > 1:
        out = uniform_filter1d(out, size=2 * int(temporal) + 1, axis=0, mode="nearest")
    return _sigmoid(out)


@dataclass
class ThresholdChoice:
    """The cut of a score map and how it was chosen.

    Attributes
    ----------
    threshold : float
        Masks are ``scores >= threshold``.
    rule : str
        One of :data:`THRESHOLD_RULES`.
    details : dict
        What the rule measured (for reports and ``metrics.json``).
    """

    threshold: float
    rule: str
    details: dict = field(default_factory=dict)


def choose_threshold(scores: np.ndarray, gazed: np.ndarray, *, rule: str = "gaze-contrast",
                     k: float = GAZE_CONTRAST_K, sample: int = 4) -> ThresholdChoice:
    """Choose the cut of a score map from the map and the gaze alone.

    Parameters
    ----------
    scores : (T, H, W) float ndarray in [0, 1]
    gazed : (T, H, W) bool ndarray
        Pixels under the observers' trusted gaze (the object, as far as the gaze tells).
    rule : {"gaze-contrast", "fixed"}
        ``gaze-contrast``: ``sigmoid(b + k (g - b))`` with ``b`` and ``g`` the median log-odds
        of all pixels and of the gazed pixels; ``fixed``: 0.5. With no gazed pixel, or gazed
        pixels no higher than the rest, ``gaze-contrast`` falls back to 0.5 and says so.
    k : float in (0, 1)
        Fraction of the way from the background level to the gazed level.
    sample : int
        Every ``sample``-th row and column is used for the background median (speed).

    Returns
    -------
    ThresholdChoice
    """
    if rule not in THRESHOLD_RULES:
        raise InputError(f"threshold rule must be one of {', '.join(THRESHOLD_RULES)}; got {rule!r}")
    if rule == "fixed":
        return ThresholdChoice(0.5, "fixed", {})
    if not 0.0 < k < 1.0:
        raise InputError(f"k must lie in (0, 1); got {k}")
    scores = np.asarray(scores)
    gazed = np.asarray(gazed, bool)
    if gazed.shape != scores.shape:
        raise InputError(f"gazed {gazed.shape} and scores {scores.shape} differ in shape")
    if not gazed.any():
        return ThresholdChoice(0.5, "gaze-contrast", {"fallback": "no gazed pixel"})
    background = float(np.median(logit(scores[:, ::sample, ::sample])))
    object_level = float(np.median(logit(scores[gazed])))
    if object_level <= background:
        return ThresholdChoice(0.5, "gaze-contrast",
                               {"fallback": "gazed pixels score no higher than the rest",
                                "background_logit": background, "gazed_logit": object_level})
    cut = background + k * (object_level - background)
    threshold = float(_sigmoid(np.array(cut)))
    return ThresholdChoice(threshold, "gaze-contrast",
                           {"k": float(k), "background_logit": background,
                            "gazed_logit": object_level})


def masks_at(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Binary masks ``scores >= threshold`` as uint8 (T, H, W)."""
    threshold = float(threshold)
    if not np.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be a number in [0, 1]; got {threshold}")
    return (np.asarray(scores) >= threshold).astype(np.uint8)
