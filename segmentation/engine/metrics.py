"""Pixel-wise scores of a segmentation against a reference (scikit-learn underneath).

* ``auc``: area under the ROC curve over every pixel of the sequence;
* ``f1``: the maximum F1 over thresholds (the authors' own scoring);
* ``f1_fpr5``: F1 at the threshold giving a 5% false-positive rate (the paper's figures);
* ``roc``: ROC curve points;
* :func:`delivered_scores`: Dice and IoU of the binary masks a user downloads (the figure that
  matters: AUC ranks pixels and max-F1 picks its threshold with the reference, a user has
  neither);
* :func:`dice_at_thresholds` and :func:`calibration_error`: how the score map behaves at other
  cuts and how far its values are from frequencies (as the QUBIQ and CURVAS challenges score
  uncertain segmentations).

Scores that are constant over superpixels can be passed with their label map: each superpixel
then counts as two weighted samples (its positive and negative pixels), which gives exactly the
pixel-wise figures in a fraction of the time. Pixel score maps are scored on their 16-bit
quantisation (:func:`quantise`), which is how they are stored: the figures are exactly those
of the stored map, and a sequence of 40 million pixels is scored from 65,536 weighted levels.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc as _auc
from sklearn.metrics import precision_recall_curve, roc_curve

#: Levels of a stored score map: scores are kept as ``round(score * LEVELS)`` in uint16.
LEVELS = 65535


def quantise(scores) -> np.ndarray:
    """Scores in [0, 1] as uint16 levels ``round(score * 65535)`` (how score maps are stored)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(s, 0.0, 1.0) * LEVELS).astype(np.uint16)


def dequantise(levels) -> np.ndarray:
    """Inverse of :func:`quantise`: float32 scores in [0, 1]."""
    return (np.asarray(levels, dtype=np.float32) / np.float32(LEVELS)).astype(np.float32)


def _weighted(scores, truth, labels):
    """(scores, truth, weights) samples; compressed per superpixel when ``labels`` is given,
    per 16-bit level for pixel maps."""
    truth = np.asarray(truth).astype(bool)
    if labels is None:
        s = np.asarray(scores)
        if s.size != truth.size:
            raise ValueError(f"scores have {s.size} pixels, truth {truth.size}: shapes differ")
        q = (s if s.dtype == np.uint16 else quantise(s)).ravel()
        pos = np.bincount(q, weights=truth.ravel(), minlength=LEVELS + 1)
        tot = np.bincount(q, minlength=LEVELS + 1)
        levels = np.arange(LEVELS + 1, dtype=np.float64) / LEVELS
        return _pack(levels, pos, tot - pos)
    labels = np.asarray(labels)
    if labels.shape != truth.shape:
        raise ValueError(f"labels {labels.shape} and truth {truth.shape} differ in shape")
    sp_scores = np.asarray(scores, dtype=np.float64).ravel()
    n = sp_scores.size
    flat = labels.ravel()
    pos = np.bincount(flat, weights=truth.ravel(), minlength=n)
    tot = np.bincount(flat, minlength=n)
    return _pack(sp_scores, pos, tot - pos)


def _pack(values, pos, neg):
    """Each value as two weighted samples: its positive and its negative pixels."""
    n = values.size
    s = np.concatenate([values, values])
    y = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    w = np.concatenate([pos, neg]).astype(np.float64)
    keep = w > 0
    return s[keep], y[keep], w[keep]


def roc_points(scores, truth, *, labels=None):
    """ROC curve (fpr, tpr, thresholds), arrays of equal length, fpr increasing.

    Parameters
    ----------
    scores : (T, H, W) float ndarray, or (N,) per-superpixel scores when ``labels`` is given
    truth : (T, H, W) bool ndarray
    labels : (T, H, W) int ndarray, optional
    """
    s, y, w = _weighted(scores, truth, labels)
    return roc_curve(y, s, sample_weight=w, drop_intermediate=True)


def segmentation_scores(scores, truth, *, labels=None, fpr_target: float = 0.05) -> dict:
    """AUC, max-F1 and F1 at ``fpr_target`` false-positive rate.

    Returns
    -------
    dict
        ``auc``, ``f1``, ``f1_fpr5`` (floats; NaN when the truth has a single class) and
        ``f1_threshold`` (the threshold reaching the maximum F1).
    """
    s, y, w = _weighted(scores, truth, labels)
    wt = np.ones_like(s) if w is None else w
    n_pos = float(wt[y].sum())
    n_neg = float(wt[~y].sum())
    if n_pos == 0 or n_neg == 0:
        return {"auc": float("nan"), "f1": float("nan"), "f1_fpr5": float("nan"),
                "f1_threshold": float("nan")}
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    auc = float(_auc(fpr, tpr))
    prec, rec, pthr = precision_recall_curve(y, s, sample_weight=w)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1s = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    best = int(np.argmax(f1s[:-1])) if f1s.size > 1 else 0
    # F1 at the last ROC point whose false-positive rate does not exceed the target.
    k = int(np.searchsorted(fpr, fpr_target, side="right") - 1)
    k = max(k, 0)
    tp = tpr[k] * n_pos
    fp = fpr[k] * n_neg
    fn = n_pos - tp
    f1_fpr = float(2 * tp / (2 * tp + fp + fn)) if tp > 0 else 0.0
    return {"auc": auc, "f1": float(f1s[best]), "f1_fpr5": f1_fpr,
            "f1_threshold": float(pthr[min(best, pthr.size - 1)])}


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
