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
