"""Baselines: Vilarino et al.'s gaze-patch SVM, as the EEL authors re-implemented it.

Grey-scale frames, 5x5 median filter; a patch around each gaze point is a positive, a grid of
patches with half-patch stride elsewhere are negatives; patches are z-normalised; an RBF SVM
with balanced class weights (scikit-learn) scores a patch centred on every superpixel.

(The other two baselines, ``probability`` and ``el``, reuse the estimate and the booster; see
:mod:`segmentation.engine.pipeline`.)
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from sklearn.svm import SVC

#: Patches are shrunk to this many pixels a side before the SVM (speed; shape preserved).
PATCH_SAMPLES = 9


def _patches(grey: np.ndarray, frames: np.ndarray, rows: np.ndarray, cols: np.ndarray,
             half: int) -> np.ndarray:
    """z-normalised square patches (n, PATCH_SAMPLES**2) centred at (rows, cols) of frames."""
    t, h, w = grey.shape
    offs = np.linspace(-half, half, PATCH_SAMPLES).round().astype(int)
    rr = np.clip(rows[:, None, None] + offs[None, :, None], 0, h - 1)
    cc = np.clip(cols[:, None, None] + offs[None, None, :], 0, w - 1)
    p = grey[frames[:, None, None], rr, cc].reshape(len(rows), -1).astype(np.float64)
    p -= p.mean(1, keepdims=True)
    sd = p.std(1, keepdims=True)
    return p / np.where(sd > 1e-6, sd, 1.0)


class VilarinoSVM:
    """Gaze-patch RBF SVM (Vilarino et al.).

    Parameters
    ----------
    patch : int
        Patch side in pixels (default: one superpixel, about 1 degree).
    max_negatives : int, default 4000
        Negatives are subsampled to this many (SVM cost grows quadratically).
    rng : int or Generator

    Attributes
    ----------
    svm_ : sklearn.svm.SVC
    """

    def __init__(self, *, patch: int = 12, max_negatives: int = 4000, rng=0):
        self.patch = patch
        self.max_negatives = max_negatives
        self.rng = rng

    def fit(self, grey: np.ndarray, points: list[np.ndarray]) -> VilarinoSVM:
        """Fit on median-filtered grey frames (T, H, W) and each observer's (T, 2) gaze points."""
        gen = np.random.default_rng(self.rng)
        t, h, w = grey.shape
        half = max(1, self.patch // 2)
        pos_f, pos_r, pos_c = [], [], []
        for pts in points:
            ok = np.flatnonzero(np.isfinite(pts).all(1))
            pos_f.append(ok)
            pos_c.append(np.rint(pts[ok, 0]).astype(int))
            pos_r.append(np.rint(pts[ok, 1]).astype(int))
        pos_f = np.concatenate(pos_f) if pos_f else np.zeros(0, int)
        pos_r = np.concatenate(pos_r) if pos_r else np.zeros(0, int)
        pos_c = np.concatenate(pos_c) if pos_c else np.zeros(0, int)
        # Grid of negatives with a half-patch stride, away from that frame's gaze points.
        gr, gc = np.meshgrid(np.arange(half, h - half + 1, max(1, half)),
                             np.arange(half, w - half + 1, max(1, half)), indexing="ij")
        gr, gc = gr.ravel(), gc.ravel()
        neg = []
        for k in range(t):
            here = pos_f == k
            keep = np.ones(gr.size, bool)
            for r, c in zip(pos_r[here], pos_c[here]):
                keep &= (np.abs(gr - r) > self.patch) | (np.abs(gc - c) > self.patch)
            neg.append(np.column_stack([np.full(keep.sum(), k), gr[keep], gc[keep]]))
        neg = np.concatenate(neg)
        if len(neg) > self.max_negatives:
            neg = neg[gen.choice(len(neg), self.max_negatives, replace=False)]
        xp = _patches(grey, pos_f, pos_r, pos_c, half)
        xn = _patches(grey, neg[:, 0], neg[:, 1], neg[:, 2], half)
        x = np.vstack([xp, xn])
        y = np.r_[np.ones(len(xp)), np.zeros(len(xn))]
        self.svm_ = SVC(kernel="rbf", gamma="scale", class_weight="balanced",
                        random_state=int(gen.integers(2**31)))
        self.svm_.fit(x, y)
        self.half_ = half
        return self

    def score(self, grey: np.ndarray, frame_of: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        """Score in [0, 1] (a logistic of the SVM margin) of patches at superpixel centroids."""
        r = np.rint(centroids[:, 0]).astype(int)
        c = np.rint(centroids[:, 1]).astype(int)
        out = np.empty(len(r))
        for a in range(0, len(r), 20000):
            b = min(a + 20000, len(r))
            x = _patches(grey, frame_of[a:b], r[a:b], c[a:b], self.half_)
            out[a:b] = self.svm_.decision_function(x)
        return 1.0 / (1.0 + np.exp(-np.clip(out, -50, 50)))


def vilarino_grey(frames01: np.ndarray) -> np.ndarray:
    """Grey frames (T, H, W) float32 after a 5x5 median filter per frame."""
    if frames01.ndim == 4:
        grey = frames01 @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    else:
        grey = frames01
    return np.stack([median_filter(g, size=5) for g in grey]).astype(np.float32)
