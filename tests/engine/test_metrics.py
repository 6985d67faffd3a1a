"""Pixel-wise AUC and F1 against hand-computed toys."""

import numpy as np
import pytest

from segmentation.engine.metrics import roc_points, segmentation_scores


def test_hand_computed_toy():
    # 4 positives with scores .9 .8 .4 .3, 4 negatives with .7 .2 .1 .05.
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.2, 0.1, 0.05]).reshape(1, 2, 4)
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool).reshape(1, 2, 4)
    m = segmentation_scores(scores, truth)
    # Pairs (pos > neg): .9, .8 beat all 4; .4 and .3 beat 3 -> 14 / 16.
    assert m["auc"] == pytest.approx(14 / 16)
    # Best F1: threshold .3 -> tp 4, fp 1: F1 = 8 / 9.
    assert m["f1"] == pytest.approx(8 / 9)
    # FPR <= 5% means no false positive: threshold .8 -> tp 2, fn 2: F1 = 4 / 6.
    assert m["f1_fpr5"] == pytest.approx(4 / 6)


def test_superpixel_compression_is_exact():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 30, size=(3, 10, 12))
    sp_scores = rng.uniform(size=30)
    truth = rng.uniform(size=labels.shape) > 0.6
    a = segmentation_scores(sp_scores[labels], truth)
    b = segmentation_scores(sp_scores, truth, labels=labels)
    for k in ("auc", "f1", "f1_fpr5"):
        assert a[k] == pytest.approx(b[k], abs=1e-12)
    fpr, tpr, _ = roc_points(sp_scores, truth, labels=labels)
    assert fpr[0] == 0 and tpr[-1] == pytest.approx(1.0) and (np.diff(fpr) >= 0).all()


def test_single_class_truth_gives_nan():
    m = segmentation_scores(np.ones((1, 2, 2)), np.zeros((1, 2, 2), bool))
    assert np.isnan(m["auc"])
