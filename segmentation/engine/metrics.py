"""Pixel-wise scores of a segmentation against a reference (scikit-learn underneath).

* ``auc``: area under the ROC curve over every pixel of the sequence;
* ``f1``: the maximum F1 over thresholds (the authors' own scoring);
* ``f1_fpr5``: F1 at the threshold giving a 5% false-positive rate (the paper's figures);
* ``roc``: ROC curve points.

Scores that are constant over superpixels (every method here) can be passed with their label
map: each superpixel then counts as two weighted samples (its positive and negative pixels),
which gives exactly the pixel-wise figures in a fraction of the time.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc as _auc
from sklearn.metrics import precision_recall_curve, roc_curve


def _weighted(scores, truth, labels):
    """(scores, truth, weights) samples; compressed per superpixel when ``labels`` is given."""
    truth = np.asarray(truth).astype(bool)
    if labels is None:
        s = np.asarray(scores, dtype=np.float64).ravel()
        if s.size != truth.size:
            raise ValueError(f"scores have {s.size} pixels, truth {truth.size}: shapes differ")
        return s, truth.ravel(), None
    labels = np.asarray(labels)
    if labels.shape != truth.shape:
        raise ValueError(f"labels {labels.shape} and truth {truth.shape} differ in shape")
    sp_scores = np.asarray(scores, dtype=np.float64).ravel()
    n = sp_scores.size
    flat = labels.ravel()
    pos = np.bincount(flat, weights=truth.ravel(), minlength=n)
    tot = np.bincount(flat, minlength=n)
    neg = tot - pos
    s = np.concatenate([sp_scores, sp_scores])
    y = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    w = np.concatenate([pos, neg])
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
