"""Pixel-wise AUC and F1 against hand-computed toys."""

import math

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from segmentation.engine.metrics import (
    mean_roc,
    roc_metrics,
    roc_points,
    segmentation_scores,
    soft_auc,
    truth_counts,
    weighted_roc,
)


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


def test_weighted_roc_equals_sklearn_on_expanded_pixels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 30, size=(3, 8, 8))
    truth = rng.random((3, 8, 8)) < 0.3
    sp = rng.random(30).round(1)  # ties on purpose
    pos, neg = truth_counts(labels, truth, 30)
    m = roc_metrics(sp, pos, neg)
    pixel_scores = sp[labels].ravel()
    assert m.auc == pytest.approx(roc_auc_score(truth.ravel(), pixel_scores))
    fpr, tpr, _ = roc_curve(truth.ravel(), pixel_scores, drop_intermediate=False)
    np.testing.assert_allclose(m.fpr, fpr)
    np.testing.assert_allclose(m.tpr, tpr)


def test_f1_and_f1_at_5_percent_fpr_on_a_hand_computed_toy():
    # Scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg) and 16 more negatives at 0.0.
    scores = np.r_[0.9, 0.8, 0.7, 0.1, np.zeros(16)]
    truth = np.r_[1, 0, 1, 0, np.zeros(16)].astype(bool)
    m = roc_metrics(scores, truth, ~truth)
    # Best threshold 0.7: tp 2, fp 1, fn 0 -> F1 = 4 / 5.
    assert m.f1 == pytest.approx(0.8)
    # 18 negatives: one false positive is 5.6% FPR > 5%, so only threshold 0.9 qualifies:
    # tp 1, fp 0, fn 1 -> F1 = 2 / 3.
    assert m.f1_fpr5 == pytest.approx(2 / 3)
    assert m.auc == pytest.approx(roc_auc_score(truth, scores))


def test_roc_without_positives_is_an_error_naming_the_counts():
    with pytest.raises(ValueError, match="0 positives"):
        weighted_roc([0.1, 0.2], [0, 0], [1, 1])


def test_soft_auc_is_auc_for_binary_references_and_half_for_a_flat_estimate():
    rng = np.random.default_rng(1)
    ref = (rng.random(200) < 0.4).astype(float)
    s = ref * 0.5 + rng.random(200)
    assert soft_auc(s, ref) == pytest.approx(roc_auc_score(ref, s))
    assert soft_auc(np.full(200, 0.3), rng.random(200)) == pytest.approx(0.5)
    assert math.isnan(soft_auc(s, np.zeros(200)))


def test_mean_roc_band():
    curves = [(np.array([0, 0, 1]), np.array([0, 1, 1])), (np.array([0, 1]), np.array([0, 1]))]
    grid, mean, se = mean_roc(curves, grid=np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(mean, [0.5, 0.75, 1.0])
    np.testing.assert_allclose(se, [0.5, 0.25, 0.0])


def test_segmentation_scores_equal_scikit_learn_on_a_map_with_ties():
    # The weighted ROC replaced scikit-learn's curves here: same AUC, F1 and F1 threshold.
    rng = np.random.default_rng(4)
    truth = rng.random((2, 9, 11)) < 0.35
    scores = np.round(np.clip(truth * 0.3 + rng.random(truth.shape) * 0.8, 0, 1), 2)
    m = segmentation_scores(scores, truth)
    levels = np.rint(scores * 65535) / 65535  # the stored map's values
    assert m["auc"] == pytest.approx(roc_auc_score(truth.ravel(), levels.ravel()), abs=1e-12)
    prec, rec, thr = precision_recall_curve(truth.ravel(), levels.ravel())
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-300), 0.0)[:-1]
    best = int(np.argmax(f1))
    assert m["f1"] == pytest.approx(f1[best], abs=1e-12)
    assert m["f1_threshold"] == pytest.approx(thr[best], abs=1e-12)

