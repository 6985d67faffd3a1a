"""Scores of an estimate or a segmentation against a reference: ROC, AUC, F1, Dice.

One weighted ROC (:func:`weighted_roc`) serves every score of this module: item ``i`` counts as
``pos_weight[i]`` positives and ``neg_weight[i]`` negatives, so that

* per-superpixel scores are scored pixel-wise without expanding them to pixels (a superpixel
  with ``p`` object and ``q`` background pixels is ``p`` positives and ``q`` negatives of one
  score; :func:`truth_counts`);
* pixel score maps are scored on their 16-bit quantisation (:func:`quantise`), which is how
  they are stored: the figures are exactly those of the stored map, and a sequence of 40
  million pixels is scored from 65,536 weighted levels;
* a soft reference in [0, 1] (another observers' pooled estimate) needs no threshold
  (:func:`soft_auc`).

:func:`segmentation_scores` gives ``auc``, ``f1`` (the maximum F1 over thresholds: the authors'
own scoring) and ``f1_fpr5`` (F1 at 5% false-positive rate: the paper's figures);
:func:`delivered_scores` the Dice and IoU of the binary masks a user downloads (the figure that
matters: AUC ranks pixels and max-F1 picks its threshold with the reference, a user has
neither); :func:`dice_at_thresholds` and :func:`calibration_error` how the score map behaves at
other cuts and how far its values are from frequencies (as the QUBIQ and CURVAS challenges
score uncertain segmentations). :func:`mean_roc` averages ROC curves with a standard-error band
(the paper's Fig. 5 left); :func:`leave_out_auc` scores each observer against the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .defaults import LEVELS

__all__ = [
    "LEVELS",
    "ROC_GRID",
    "RocMetrics",
    "calibration_error",
    "delivered_scores",
    "dequantise",
    "dice_at_thresholds",
    "leave_out_auc",
    "mean_roc",
    "mean_se",
    "quantise",
    "roc_metrics",
    "roc_points",
    "segmentation_scores",
    "soft_auc",
    "top_fraction_auc",
    "truth_counts",
    "weighted_roc",
]



def quantise(scores) -> np.ndarray:
    """Scores in [0, 1] as uint16 levels ``round(score * 65535)`` (how score maps are stored)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(s, 0.0, 1.0) * LEVELS).astype(np.uint16)


def dequantise(levels) -> np.ndarray:
    """Inverse of :func:`quantise`: float32 scores in [0, 1]."""
    return (np.asarray(levels, dtype=np.float32) / np.float32(LEVELS)).astype(np.float32)


def _weighted(scores, truth, labels):
    """(values, pos, neg): each distinct score with its object and background pixel counts;
    per superpixel when ``labels`` is given, per 16-bit level for pixel maps."""
    if labels is None:
        pos, tot = _level_counts(scores, truth)
        values = np.arange(LEVELS + 1, dtype=np.float64) / LEVELS
    else:
        truth = np.asarray(truth).astype(bool)
        labels = np.asarray(labels)
        if labels.shape != truth.shape:
            raise ValueError(f"labels {labels.shape} and truth {truth.shape} differ in shape")
        values = np.asarray(scores, dtype=np.float64).ravel()
        flat = labels.ravel()
        pos = np.bincount(flat, weights=truth.ravel(), minlength=values.size)
        tot = np.bincount(flat, minlength=values.size).astype(np.float64)
    # Empty levels (or superpixels) are no sample: they would add thresholds of their own.
    keep = tot > 0
    return values[keep], pos[keep], tot[keep] - pos[keep]


def weighted_roc(scores, pos_weight, neg_weight):
    """ROC curve of ``scores`` where item ``i`` counts as ``pos_weight[i]`` positives and
    ``neg_weight[i]`` negatives.

    Parameters
    ----------
    scores : (M,) array_like of float
    pos_weight, neg_weight : (M,) array_like of float >= 0

    Returns
    -------
    fpr, tpr : (K,) ndarray
        From (0, 0) to (1, 1), one point per distinct score (ties form one step).
    thresholds : (K,) ndarray
        Score at or above which items are called positive (``inf`` for the first point).
    tp, fp : (K,) ndarray
        Weighted true and false positives at each threshold.

    Raises
    ------
    ValueError
        When there are no positives or no negatives (the ROC is undefined).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    p = np.asarray(pos_weight, dtype=np.float64).ravel()
    n = np.asarray(neg_weight, dtype=np.float64).ravel()
    if not (s.shape == p.shape == n.shape):
        raise ValueError(
            f"scores, pos_weight and neg_weight must have one value per item; got shapes "
            f"{s.shape}, {p.shape}, {n.shape}"
        )
    P, N = p.sum(), n.sum()
    if P <= 0 or N <= 0:
        raise ValueError(
            f"the reference has {P:g} positives and {N:g} negatives; the ROC needs both"
        )
    order = np.argsort(-s, kind="stable")
    s, p, n = s[order], p[order], n[order]
    tp, fp = np.cumsum(p), np.cumsum(n)
    # Keep the last index of each run of equal scores: ties are one threshold.
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.r_[0.0, tp[last]]
    fp = np.r_[0.0, fp[last]]
    thresholds = np.r_[np.inf, s[last]]
    return fp / N, tp / P, thresholds, tp, fp


def _auc(fpr, tpr) -> float:
    return float(np.trapezoid(tpr, fpr))


def soft_auc(scores, reference, *, sample_weight=None) -> float:
    """AUC of ``scores`` against a soft reference in [0, 1].

    Item ``i`` counts as ``reference[i]`` of a positive and ``1 - reference[i]`` of a negative
    (times ``sample_weight[i]``, e.g. a superpixel's area): for a binary reference this is the
    ordinary ROC AUC, and it needs no threshold on a pooled probability.

    Parameters
    ----------
    scores, reference : (M,) array_like of float
    sample_weight : (M,) array_like of float, optional

    Returns
    -------
    float
        In [0, 1]; NaN when the reference is all 0 or all 1.
    """
    ref = np.clip(np.asarray(reference, dtype=np.float64).ravel(), 0.0, 1.0)
    w = np.ones_like(ref) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    try:
        fpr, tpr, *_ = weighted_roc(scores, ref * w, (1.0 - ref) * w)
    except ValueError:
        return math.nan
    return _auc(fpr, tpr)


def top_fraction_auc(scores, reference, *, top: float = 0.1, sample_weight=None) -> float:
    """AUC of ``scores`` against the top ``top`` fraction of ``reference`` taken as object.

    The reference (e.g. the pooled estimate of other observers) is thresholded so that a
    fraction ``top`` of the total ``sample_weight`` (pixels, with superpixel areas) lies at or
    above the threshold. Unlike :func:`soft_auc`, a dense estimate does not agree with the
    dense, low-confidence parts of the reference.

    Parameters
    ----------
    scores, reference : (M,) array_like of float
    top : float in (0, 1), default 0.1
    sample_weight : (M,) array_like, optional

    Returns
    -------
    float
        NaN when the thresholded reference has no positive or no negative.
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    w = np.ones_like(ref) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    order = np.argsort(-ref, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, top * cum[-1]))
    thr = ref[order[min(k, ref.size - 1)]]
    positive = (ref >= thr).astype(np.float64)
    return soft_auc(scores, positive, sample_weight=w)


@dataclass
class RocMetrics:
    """Pixel-wise scores of one estimate against reference masks.

    Attributes
    ----------
    auc : float
        ROC AUC.
    f1 : float
        Maximum F1 over thresholds (the authors' scoring).
    f1_fpr5 : float
        F1 at the threshold giving 5% false-positive rate (the paper's figures).
    fpr, tpr : (K,) ndarray
        The ROC curve.
    f1_threshold : float
        The score at or above which items are called positive for the maximum F1 (the lowest
        such score when several thresholds tie).
    """

    auc: float
    f1: float
    f1_fpr5: float
    fpr: np.ndarray
    tpr: np.ndarray
    f1_threshold: float = math.nan


def roc_metrics(scores, pos_weight, neg_weight, *, fpr_target: float = 0.05) -> RocMetrics:
    """AUC, max F1, F1 at ``fpr_target`` (5%) FPR and the ROC curve of ``scores``.

    Parameters
    ----------
    scores : (M,) array_like of float
        Per superpixel (with ``pos_weight``/``neg_weight`` from :func:`truth_counts`) or per
        pixel (with ``pos_weight = truth`` and ``neg_weight = ~truth``).
    pos_weight, neg_weight : (M,) array_like of float >= 0
    fpr_target : float, default 0.05

    Returns
    -------
    RocMetrics
    """
    fpr, tpr, thresholds, tp, fp = weighted_roc(scores, pos_weight, neg_weight)
    P = tp[-1]
    fn = P - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    # The last point at or below the target FPR (the curve is a step function between
    # thresholds).
    k = max(int(np.searchsorted(fpr, fpr_target, side="right") - 1), 0)
    # Among tied maxima the lowest threshold (the last point), as scikit-learn's
    # precision-recall curve, which lists thresholds upwards, gave before.
    best = f1.size - 1 - int(np.argmax(f1[::-1]))
    return RocMetrics(auc=_auc(fpr, tpr), f1=float(f1[best]), f1_fpr5=float(f1[k]), fpr=fpr,
                      tpr=tpr, f1_threshold=float(thresholds[best]))


def truth_counts(labels, truth, n_segments: int | None = None):
    """Object and background pixel counts of each superpixel.

    Parameters
    ----------
    labels : (T, H, W) array_like of int
        Superpixel labels numbered 0..N-1 over the whole sequence.
    truth : (T, H, W) array_like of bool
        Reference masks.
    n_segments : int, optional
        N (default ``labels.max() + 1``).

    Returns
    -------
    pos, neg : (N,) ndarray of float
    """
    labels = np.asarray(labels)
    truth = np.asarray(truth).astype(bool)
    if labels.shape != truth.shape:
        raise ValueError(
            f"reference masks have shape {truth.shape} but the superpixel labels {labels.shape};"
            f" give one mask per frame of the sequence"
        )
    n = int(labels.max()) + 1 if n_segments is None else int(n_segments)
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n).astype(np.float64)
    pos = np.bincount(flat, weights=truth.ravel().astype(np.float64), minlength=n)
    return pos, size - pos


#: False-positive rates at which ROC curves are averaged and stored: 201 even steps plus 100
#: log-spaced ones from 1e-4, because pixel ROCs of small objects rise at tiny rates.
ROC_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 201), np.geomspace(1e-4, 1.0, 100)]))


def mean_roc(curves: Sequence[tuple[np.ndarray, np.ndarray]], *, grid=None):
    """Mean ROC curve over observers with its standard-error band.

    Parameters
    ----------
    curves : sequence of (fpr, tpr) pairs of (K_i,) arrays
    grid : (G,) array_like, optional
        False-positive rates at which to average (default :data:`ROC_GRID`). With one curve
        this resamples it (a compact curve for tables and plots).

    Returns
    -------
    grid, mean, se : (G,) ndarray
        TPR averaged over curves (each interpolated on the grid; at a vertical step the upper
        value) and its standard error (std with ddof 1 over sqrt(count); 0 for one curve).
    """
    grid = ROC_GRID if grid is None else np.asarray(grid, float)
    rows = []
    for fpr, tpr in curves:
        fpr, tpr = np.asarray(fpr, float), np.asarray(tpr, float)
        # np.interp needs increasing x; on vertical steps take the highest TPR at that FPR.
        ux, inv = np.unique(fpr, return_inverse=True)
        uy = np.zeros_like(ux)
        np.maximum.at(uy, inv, tpr)
        rows.append(np.interp(grid, ux, uy))
    tprs = np.array(rows)
    mean = tprs.mean(axis=0)
    se = tprs.std(axis=0, ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else np.zeros_like(mean)
    return grid, mean, se


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (ddof 1) of finite ``values``; SE is NaN for fewer than two."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se


def leave_out_auc(estimates, groups: dict[str, np.ndarray],
                  reference: Callable[[np.ndarray], np.ndarray], *, top: float | None = 0.1,
                  sample_weight=None) -> dict[str, list[float]]:
    """AUC of each recording against a reference made from the other observers' recordings.

    The agreement of an observer with the crowd, used by :func:`segmentation.engine.agreement
    .agreement` and learned from by :class:`segmentation.engine.pooling.WeightedPool`.

    Parameters
    ----------
    estimates : (R, N) array_like of float in [0, 1]
    groups : dict observer -> (k,) int ndarray
        The rows of each observer; all of them are left out of that observer's reference, so
        that neither an observer nor their repeats vouch for themselves.
    reference : callable((m,) int ndarray of rows) -> (N,) ndarray
        Pools the given rows (the other observers' recordings) into the reference.
    top : float in (0, 1) or None, default 0.1
        Score against the reference's top ``top`` fraction (:func:`top_fraction_auc`), or
        against the reference as a soft one with None (:func:`soft_auc`).
    sample_weight : (N,) array_like, optional
        Superpixel areas, for a pixel-wise AUC.

    Returns
    -------
    dict
        Observer -> list of AUCs, one per row of theirs (empty with no other observer).
    """
    est = np.asarray(estimates, dtype=np.float64)
    out: dict[str, list[float]] = {}
    for o, idx in groups.items():
        others = np.setdiff1d(np.arange(est.shape[0]), idx)
        if others.size == 0:
            out[o] = []
            continue
        ref = reference(others)
        if top is None:
            out[o] = [soft_auc(est[r], ref, sample_weight=sample_weight) for r in idx]
        else:
            out[o] = [top_fraction_auc(est[r], ref, top=top, sample_weight=sample_weight)
                      for r in idx]
    return out


def roc_points(scores, truth, *, labels=None):
    """ROC curve (fpr, tpr, thresholds), arrays of equal length, fpr increasing.

    Parameters
    ----------
    scores : (T, H, W) float ndarray, or (N,) per-superpixel scores when ``labels`` is given
    truth : (T, H, W) bool ndarray
    labels : (T, H, W) int ndarray, optional
    """
    fpr, tpr, thresholds, _, _ = weighted_roc(*_weighted(scores, truth, labels))
    return fpr, tpr, thresholds


def segmentation_scores(scores, truth, *, labels=None, fpr_target: float = 0.05) -> dict:
    """AUC, max-F1 and F1 at ``fpr_target`` false-positive rate.

    Parameters
    ----------
    scores : (T, H, W) float ndarray, or (N,) per-superpixel scores when ``labels`` is given
    truth : (T, H, W) bool ndarray
    labels : (T, H, W) int ndarray, optional

    Returns
    -------
    dict
        ``auc``, ``f1``, ``f1_fpr5`` (floats; NaN when the truth has a single class) and
        ``f1_threshold`` (the threshold reaching the maximum F1).
    """
    values, pos, neg = _weighted(scores, truth, labels)
    if pos.sum() == 0 or neg.sum() == 0:
        return {"auc": math.nan, "f1": math.nan, "f1_fpr5": math.nan, "f1_threshold": math.nan}
    m = roc_metrics(values, pos, neg, fpr_target=fpr_target)
    return {"auc": m.auc, "f1": m.f1, "f1_fpr5": m.f1_fpr5, "f1_threshold": m.f1_threshold}


def delivered_scores(masks, truth) -> dict:
    """Dice and IoU of binary ``masks`` against ``truth``, and how much each covers.

    Parameters
    ----------
    masks, truth : (T, H, W) array_like
        Non-zero = object.

    Returns
    -------
    dict
        ``dice``, ``iou`` (1.0 when both are empty), ``predicted_fraction`` and
        ``true_fraction`` (of all pixels).
    """
    m = np.asarray(masks) != 0
    t = np.asarray(truth) != 0
    if m.shape != t.shape:
        raise ValueError(f"masks {m.shape} and truth {t.shape} differ in shape")
    inter = float(np.count_nonzero(m & t))
    nm, nt = float(np.count_nonzero(m)), float(np.count_nonzero(t))
    union = nm + nt - inter
    return {"dice": 2 * inter / (nm + nt) if nm + nt else 1.0,
            "iou": inter / union if union else 1.0,
            "predicted_fraction": nm / m.size, "true_fraction": nt / t.size}


def _level_counts(scores, truth):
    q = (scores if np.asarray(scores).dtype == np.uint16 else quantise(scores)).ravel()
    t = np.asarray(truth).astype(bool).ravel()
    if q.size != t.size:
        raise ValueError(f"scores have {q.size} pixels, truth {t.size}: shapes differ")
    pos = np.bincount(q, weights=t, minlength=LEVELS + 1)
    tot = np.bincount(q, minlength=LEVELS + 1).astype(np.float64)
    return pos, tot


def dice_at_thresholds(scores, truth, thresholds=(0.1, 0.3, 0.5, 0.7, 0.9)) -> dict:
    """Dice of ``scores >= t`` for each ``t`` (keys formatted ``"0.5"``), from one pass."""
    pos, tot = _level_counts(scores, truth)
    cum_pos = np.cumsum(pos[::-1])[::-1]  # pixels at or above each level
    cum_tot = np.cumsum(tot[::-1])[::-1]
    n_true = pos.sum()
    out = {}
    for t in thresholds:
        i = int(np.ceil(float(t) * LEVELS - 1e-6))
        if i > LEVELS:
            tp, pred = 0.0, 0.0
        else:
            tp, pred = cum_pos[i], cum_tot[i]
        out[f"{float(t):g}"] = float(2 * tp / (pred + n_true)) if pred + n_true else 1.0
    return out


def calibration_error(scores, truth, *, n_bins: int = 15) -> float:
    """Expected calibration error of a score map: the pixel-weighted mean of
    ``|mean score - object frequency|`` over ``n_bins`` equal-width score bins."""
    pos, tot = _level_counts(scores, truth)
    levels = np.arange(LEVELS + 1, dtype=np.float64) / LEVELS
    b = np.minimum((levels * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, weights=tot, minlength=n_bins)
    p = np.bincount(b, weights=pos, minlength=n_bins)
    mean_s = np.bincount(b, weights=tot * levels, minlength=n_bins)
    keep = n > 0
    return float(np.sum(np.abs(mean_s[keep] - p[keep])) / n.sum()) if n.sum() else float("nan")
