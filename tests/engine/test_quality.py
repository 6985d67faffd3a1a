"""Observer quality without ground truth, and crowd statistics with it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from segmentation.engine.pooling import WeightedPool
from segmentation.engine.quality import (
    agreement,
    gaze_quality,
    mean_roc,
    observer_quality,
    roc_metrics,
    soft_auc,
    subset_curve,
    truth_counts,
    uncertainty_map,
    variance_components,
    weighted_roc,
)


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


def _crowd(rng, n=300, noise=(0.1, 0.1, 0.15, 0.15, 0.2)):
    truth = (rng.random(n) < 0.3).astype(float)
    return truth, np.array([np.clip(truth + rng.normal(0, s, n), 0, 1) for s in noise])


def test_agreement_and_flags_pick_out_a_random_observer():
    rng = np.random.default_rng(2)
    truth, est = _crowd(rng)
    est = np.vstack([est, rng.random(len(truth))])
    names = ["a", "b", "c", "d", "e", "random"]
    ag = agreement(est, names)
    assert min(ag, key=ag.get) == "random"
    assert ag["random"] == pytest.approx(0.5, abs=0.1)
    # The others' pool is soft (it contains the random map), so even a perfect map scores < 1.
    assert all(ag[o] > ag["random"] + 0.25 for o in "abcde")
    # Without a pool: flagged against the crowd.
    alone = observer_quality(estimates=est, observers=names)
    assert alone["flagged"].tolist() == [False] * 5 + [True]
    assert "agreement with the others" in alone.loc["random", "flag_reason"]
    # With a pool, the flags are the pool's: a pool without a floor flags for disagreement...
    pool = WeightedPool(floor=0.0).fit(est, names)
    table = observer_quality(estimates=est, observers=names, pool=pool)
    assert list(table.index) == names
    assert table["flagged"].tolist() == [False] * 5 + [True]
    assert "agreement weight" in table.loc["random", "flag_reason"]
    assert table["weight"].sum() == pytest.approx(1.0)
    # ... the default keeps it at its floor weight and only notes the disagreement.
    table = observer_quality(estimates=est, observers=names, pool=WeightedPool().fit(est, names))
    assert not table["flagged"].any()
    assert "differs from the crowd" in table.loc["random", "note"]


def test_agreement_leaves_out_all_repeats_of_an_observer():
    # Two identical copies of a random map must not agree with each other.
    rng = np.random.default_rng(3)
    truth, est = _crowd(rng, noise=(0.1, 0.1, 0.1))
    r = rng.random(len(truth))
    est = np.vstack([est, r, r])
    ag = agreement(est, ["a", "b", "c", "x", "x"])
    assert ag["x"] < 0.6


def _gaze(observer, n_frames, centre, *, lost_every=0, offset=(0.0, 0.0), rng=None):
    rows = []
    for f in range(n_frames):
        for k in range(4):
            x, y = centre[0] + offset[0] + k % 2, centre[1] + offset[1] + k // 2
            if lost_every and (4 * f + k) % lost_every == 0:
                x = y = np.nan
            rows.append((observer, (4 * f + k) * 16.7, f, x, y))
    return pd.DataFrame(rows, columns=["observer", "t_ms", "frame", "x", "y"])


def test_gaze_quality_statistics_and_flags_on_a_hand_made_crowd():
    recs = [_gaze(f"o{i}", 10, (50, 40)) for i in range(5)]
    recs.append(_gaze("lossy", 10, (50, 40), lost_every=2))  # half of the samples lost
    recs.append(_gaze("offset", 10, (50, 40), offset=(30, 0)))
    recs.append(_gaze("o0", 10, (50, 40)))  # a repeat of o0
    g = gaze_quality(recs, n_frames=10, image_shape=(100, 100), px_per_degree=10)
    assert len(g) == 8
    assert g.loc[5, "valid_fraction"] == pytest.approx(0.5)
    assert g.loc[0, "frames_with_gaze"] == pytest.approx(1.0)
    assert g.loc[0, "samples_per_frame"] == pytest.approx(4.0)
    # Samples at (c, c), (c+1, c), (c, c+1), (c+1, c+1): median (c+.5, c+.5), RMS distance .707.
    assert g.loc[0, "dispersion_px"] == pytest.approx(np.sqrt(0.5))
    assert g.loc[6, "offset_px"] == pytest.approx(30.0)
    assert g.loc[6, "offset_deg"] == pytest.approx(3.0)
    table = observer_quality(gaze=recs, n_frames=10, image_shape=(100, 100), px_per_degree=10)
    assert table.loc["o0", "recordings"] == 2
    assert table.index[table["flagged"]].tolist() == ["lossy", "offset"]
    assert "fraction of valid samples" in table.loc["lossy", "flag_reason"]
    assert "offset" in table.loc["offset", "flag_reason"]


def test_samples_outside_the_image_are_invalid():
    g = gaze_quality([_gaze("a", 2, (98, 10))], image_shape=(20, 99))
    # Columns 98 and 99: x = 99 lies beyond the last pixel centre (98) + 0.5.
    assert g.loc[0, "valid_fraction"] == pytest.approx(0.5)


def test_gaze_quality_rejects_a_table_without_columns():
    with pytest.raises(ValueError, match="lacks column"):
        gaze_quality([pd.DataFrame({"observer": ["a"], "frame": [0]})])


def test_mean_roc_band():
    curves = [(np.array([0, 0, 1]), np.array([0, 1, 1])), (np.array([0, 1]), np.array([0, 1]))]
    grid, mean, se = mean_roc(curves, grid=np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(mean, [0.5, 0.75, 1.0])
    np.testing.assert_allclose(se, [0.5, 0.25, 0.0])


def test_subset_curve_enumerates_or_samples_subsets():
    seen = []

    def evaluate(subset):
        seen.append(tuple(subset))
        return len(subset) / 10

    table = subset_curve(list("abcde"), evaluate, max_subsets=6, rng=0)
    assert table["n_observers"].tolist() == [1, 2, 3, 4, 5]
    assert table["n_subsets"].tolist() == [5, 6, 6, 5, 1]  # C(5,2) = 10 > 6: sampled
    np.testing.assert_allclose(table["mean"], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert len(set(seen)) == len(seen)


def test_variance_components_separate_repeats_from_observers():
    # Observer a: repeats 0.2 and 0.4 (mean 0.3); b: 0.6 and 0.8 (mean 0.7); c: single 0.5.
    est = np.array([[0.2], [0.4], [0.6], [0.8], [0.5]])
    v = variance_components(est, ["a", "a", "b", "b", "c"])
    # Within: pooled (0.02 + 0.02) / (1 + 1) = 0.02. Between: var(0.3, 0.7, 0.5, ddof=1) = 0.04.
    assert v["within"] == pytest.approx(0.02)
    assert v["between"] == pytest.approx(0.04)
    assert v["within_share"] == pytest.approx(1 / 3)
    assert math.isnan(v["per_observer_within"]["c"])
    assert v["n_repeated"] == 2
    np.testing.assert_allclose(uncertainty_map(est, ["a", "a", "b", "b", "c"]),
                               [np.var([0.3, 0.7, 0.5])])


@pytest.mark.realdata
def test_the_sloppy_simulated_observer_is_flagged_from_gaze_alone(shared_data):
    """observer-7 of each panel has a large calibration offset (see recording.json)."""
    from segmentation.engine.io import read_gaze_csv

    folder = shared_data / "gaze" / "brats-pat0001"
    recs = [read_gaze_csv(p) for p in sorted(folder.glob("observer-*.csv"))]
    table = observer_quality(gaze=recs, image_shape=(240, 240), px_per_degree=12.0)
    assert table.index[table["flagged"]].tolist() == ["observer-7"]
    assert "offset from the others' gaze" in table.loc["observer-7", "flag_reason"]
