"""Pipeline invariants on the shipped sample."""

import numpy as np
import pytest

from segmentation.engine.datasets import load_sample
from segmentation.engine.pipeline import (
    evaluate,
    observer_estimate,
    prepare_sequence,
    segment,
)


@pytest.fixture(scope="module")
def sample():
    s = load_sample("brats-pat0001")
    prep = prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    return s, prep


def test_superpixels_numbered_over_the_sequence(sample):
    s, prep = sample
    labels = prep.labels
    assert labels.dtype == np.int32 and labels.shape == s.frames.shape
    assert labels.min() == 0 and labels.max() == prep.n_superpixels - 1
    assert np.unique(labels).size == prep.n_superpixels
    # About one degree: 240x240 at 12 px/deg -> ~400 superpixels per frame.
    assert 200 < prep.n_superpixels / len(labels) < 600
    assert prep.features.shape[0] == prep.n_superpixels and prep.features.dtype == np.float32
    # Each superpixel lies in one frame (per-frame SLIC).
    assert (prep.frame_of[labels[5]] == 5).all()


@pytest.mark.parametrize("estimate", ["default", "paper"])
def test_estimate_invariants(sample, estimate):
    s, prep = sample
    e = observer_estimate(prep, s.frames, s.gaze[0], estimate=estimate)
    assert e.scores.shape == (prep.n_superpixels,)
    assert ((e.scores >= 0) & (e.scores <= 1)).all()
    assert e.gazed.any() and (e.scores[e.gazed] == 1).all()
    assert e.gaze_points.shape == (len(s.frames), 2) and e.observer == "observer-1"
    assert (e.gazed <= e.gazed_all).all()


def test_default_estimate_beats_paper_with_stray_gaze(sample):
    s, prep = sample
    sloppy = s.gaze[6]  # the last observer glances away often
    auc = {k: evaluate(observer_estimate(prep, s.frames, sloppy, estimate=k).scores, s.truth,
                       prep)["auc"] for k in ("default", "paper")}
    assert auc["default"] > auc["paper"]


def test_segment_methods(sample):
    s, prep = sample
    ests = [observer_estimate(prep, s.frames, g) for g in s.gaze]
    for method in ("eel", "el", "probability"):
        r = segment(prep, s.frames, ests, method=method, rng=1)
        assert r.scores.dtype == np.float32 and r.scores.shape == s.frames.shape
        assert ((r.scores >= 0) & (r.scores <= 1)).all()
        np.testing.assert_array_equal(r.masks, (r.scores >= r.threshold).astype(np.uint8))
        assert set(r.pool.weights_) == {f"observer-{k}" for k in range(1, 8)}
        assert {"train", "predict"} <= set(r.timings)
        m = evaluate(r, s.truth, prep)
        assert m["auc"] > 0.9
        # Exact shortcut: per-superpixel scoring equals pixel scoring.
        assert m["auc"] == pytest.approx(evaluate(r.scores, s.truth)["auc"], abs=1e-9)


def test_a_fitted_pool_is_reused_as_it_is(sample):
    s, prep = sample
    ests = [observer_estimate(prep, s.frames, g) for g in s.gaze]
    first = segment(prep, s.frames, ests, method="eel", rng=1)
    pooled = first.pool.pooled_.copy()
    again = segment(prep, s.frames, ests, method="probability", pool=first.pool,
                    refit_pool=False)
    assert again.pool is first.pool
    np.testing.assert_array_equal(again.pooled, pooled)
    fresh = segment(prep, s.frames, ests, method="probability")
    np.testing.assert_allclose(again.sp_scores, fresh.sp_scores)
    # Only a pool fitted on these same estimates is accepted.
    with pytest.raises(Exception, match="already fitted on these estimates"):
        segment(prep, s.frames, ests[:3], method="probability", pool=first.pool,
                refit_pool=False)
    with pytest.raises(Exception, match="already fitted on these estimates"):
        segment(prep, s.frames, ests, method="probability", pool="mean", refit_pool=False)


def test_the_paper_booster_is_one_booster_and_bags_average_raw_scores(sample):
    from segmentation.engine import PAPER_BOOSTER
    from segmentation.engine.eel import ExpectedExponentialLoss, StumpBooster

    s, prep = sample
    ests = [observer_estimate(prep, s.frames, g) for g in s.gaze]
    paper = segment(prep, s.frames, ests, method="eel", rng=3, **PAPER_BOOSTER)
    # By hand: all gazed superpixels plus 10% of the others drawn with the same seed.
    positive = np.any([e.gazed for e in ests], axis=0)
    others = np.flatnonzero(~positive)
    gen = np.random.default_rng(3)
    sampled = gen.choice(others, size=int(round(0.1 * others.size)), replace=False)
    train = np.concatenate([np.flatnonzero(positive), np.sort(sampled)])
    target = paper.pooled.copy()
    target[positive] = 1.0
    booster = StumpBooster(ExpectedExponentialLoss(), n_rounds=50).fit(
        prep.features[train], target[train])
    np.testing.assert_allclose(paper.sp_scores, booster.predict_proba(prep.features), atol=1e-6)
    assert len(booster.stumps_) == 50
    # Three bags: the first is that same booster; the score is the link of the mean raw score.
    bagged = segment(prep, s.frames, ests, method="eel", rng=3, n_rounds=50, n_bags=3)
    f = booster.decision_function(prep.features)
    for _ in range(2):  # the next two samples of the same generator
        sampled = gen.choice(others, size=sampled.size, replace=False)
        train = np.concatenate([np.flatnonzero(positive), np.sort(sampled)])
        f += StumpBooster(ExpectedExponentialLoss(), n_rounds=50).fit(
            prep.features[train], target[train]).decision_function(prep.features)
    np.testing.assert_allclose(bagged.sp_scores, StumpBooster.proba_from_decision(f / 3),
                               atol=1e-6)
    assert not np.allclose(bagged.sp_scores, paper.sp_scores)
    assert bagged.timings["train"] > 0
    with pytest.raises(Exception, match="n_bags and n_rounds must be >= 1"):
        segment(prep, s.frames, ests, method="el", n_bags=0)
