"""Pooling of per-recording estimates: the mean, the weighted and the robust pools."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.engine.pooling import (
    DEFAULT_POOL,
    POOLS,
    MeanPool,
    RobustPool,
    WeightedPool,
    make_pool,
)


def test_mean_pool_is_the_mean_of_recordings():
    est = np.array([[0.0, 1.0, 0.5], [1.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    pool = MeanPool().fit(est, ["a", "b", "c"])
    np.testing.assert_allclose(pool.pooled_, est.mean(axis=0))
    np.testing.assert_allclose(pool.recording_weights_, [1 / 3] * 3)
    assert pool.weights_ == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert pool.flagged_ == [] and pool.flag_reasons_ == {}


def test_mean_pool_repeats_share_the_observer_weight():
    est = np.array([[0.0, 1.0], [0.2, 1.0], [1.0, 0.0]])
    pool = MeanPool().fit(est, ["a", "a", "b"])
    assert pool.weights_ == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    balanced = MeanPool(balance_observers=True).fit(est, ["a", "a", "b"])
    assert balanced.weights_ == pytest.approx({"a": 0.5, "b": 0.5})
    np.testing.assert_allclose(balanced.pooled_, [0.55, 0.5])


def test_make_pool_and_registry():
    assert DEFAULT_POOL in POOLS
    assert isinstance(make_pool("mean"), MeanPool)
    with pytest.raises(ValueError, match="unknown pool 'nope'"):
        make_pool("nope")


@pytest.mark.parametrize(
    "est, observers, match",
    [
        (np.zeros((2, 3)), ["a"], "name each of the 2 recordings"),
        (np.full((2, 3), 1.5), ["a", "b"], r"in \[0, 1\]"),
        (np.array([[0.1, np.nan]]), ["a"], "finite"),
        (np.zeros((0, 3)), [], "non-empty"),
    ],
)
def test_bad_inputs_are_named(est, observers, match):
    with pytest.raises(ValueError, match=match):
        MeanPool().fit(est, observers)


def _crowd(rng, n=400, noise=(0.05, 0.1, 0.1, 0.15, 0.15, 0.2)):
    """A soft truth and observers = truth + Gaussian noise of growing scale, clipped."""
    truth = (rng.random(n) < 0.2).astype(float)
    rows = [np.clip(truth + rng.normal(0, s, n), 0, 1) for s in noise]
    return truth, np.array(rows)


@pytest.mark.parametrize("name", sorted(POOLS))
def test_identical_observers_pool_to_each_of_them(name):
    rng = np.random.default_rng(0)
    one = rng.random(50)
    est = np.tile(one, (5, 1))
    pool = make_pool(name).fit(est, [f"o{i}" for i in range(5)])
    np.testing.assert_allclose(pool.pooled_, one, atol=1e-12)
    assert sum(pool.weights_.values()) == pytest.approx(1.0)
    assert pool.flagged_ == []


@pytest.mark.parametrize("name", sorted(POOLS))
def test_weights_do_not_depend_on_observer_order(name):
    rng = np.random.default_rng(1)
    _, est = _crowd(rng)
    names = [f"o{i}" for i in range(len(est))]
    perm = rng.permutation(len(est))
    a = make_pool(name).fit(est, names)
    b = make_pool(name).fit(est[perm], [names[i] for i in perm])
    assert a.weights_ == pytest.approx(b.weights_, rel=1e-6)
    np.testing.assert_allclose(a.pooled_, b.pooled_, atol=1e-9)
    assert sorted(a.flagged_) == sorted(b.flagged_)


@pytest.mark.parametrize("name", ["weighted", "robust"])
def test_a_planted_random_observer_gets_the_lowest_weight_and_is_flagged(name):
    rng = np.random.default_rng(2)
    truth, est = _crowd(rng)
    est = np.vstack([est[:3], rng.random(len(truth)), est[3:]])
    names = ["a", "b", "c", "random", "d", "e", "f"]
    # The robust pool flags only when asked (see its docstring); the weighted pool flags for
    # disagreement only without a floor.
    params = {"flag_ratio": 0.5} if name == "robust" else {"floor": 0.0}
    pool = make_pool(name, **params).fit(est, names)
    assert min(pool.weights_, key=pool.weights_.get) == "random"
    assert pool.flagged_ == ["random"]
    assert "median" in pool.flag_reasons_["random"]


def test_disagreeing_is_noted_not_punished_below_the_floor():
    rng = np.random.default_rng(2)
    truth, est = _crowd(rng)
    est = np.vstack([est[:3], rng.random(len(truth)), est[3:]])
    names = ["a", "b", "c", "random", "d", "e", "f"]
    pool = WeightedPool(floor=0.5).fit(est, names)
    assert min(pool.weights_, key=pool.weights_.get) == "random"
    assert pool.flagged_ == [] and "disagrees with the others" in pool.notes_["random"]
    # At least half the equal share before renormalising: never silenced by agreement alone.
    assert pool.weights_["random"] >= 0.5 / 7 / sum(
        max(w, 0.5 / 7) for w in WeightedPool(floor=0.0).fit(est, names).weights_.values()) - 1e-9
    # Its own gaze showing it non-compliant is what may cut it.
    cut = WeightedPool(floor=0.5).fit(est, names, noncompliant={"random": "eye lost"})
    assert cut.flagged_ == ["random"] and "eye lost" in cut.flag_reasons_["random"]
    assert cut.weights_["random"] < 0.01


def test_an_accurate_minority_is_not_silenced_by_a_crowd_that_shares_a_mistake():
    """Two observers see the object; five agree on a neighbouring structure instead."""
    rng = np.random.default_rng(6)
    n = 400
    truth = np.zeros(n)
    truth[:60] = 1.0
    mistake = np.zeros(n)
    mistake[60:140] = 1.0  # the wrong structure, beside the object
    right = [np.clip(truth + rng.normal(0, 0.1, n), 0, 1) for _ in range(2)]
    wrong = [np.clip(0.3 * truth + mistake + rng.normal(0, 0.1, n), 0, 1) for _ in range(5)]
    est = np.array(right + wrong)
    names = ["right-1", "right-2"] + [f"wrong-{k}" for k in range(5)]
    old = WeightedPool(floor=0.0).fit(est, names)
    assert max(old.weights_["right-1"], old.weights_["right-2"]) < 0.02  # agreement alone
    for pool in (WeightedPool(), make_pool()):
        pool.fit(est, names)
        assert min(pool.weights_["right-1"], pool.weights_["right-2"]) >= 0.5 / 7 / 1.0 * 0.5
        assert "right-1" not in pool.flagged_ and "right-2" not in pool.flagged_


def test_weighted_pool_is_closer_to_the_truth_than_the_mean():
    rng = np.random.default_rng(3)
    truth, est = _crowd(rng, noise=(0.05, 0.05, 0.1, 0.4, 0.6))
    weighted = WeightedPool().fit_predict(est, list("abcde"))
    mean = MeanPool().fit_predict(est, list("abcde"))
    assert np.mean((weighted - truth) ** 2) < 0.7 * np.mean((mean - truth) ** 2)
    # Weights follow the noise (a and c both separate the classes perfectly: equal weights).
    w = WeightedPool().fit(est, list("abcde")).weights_
    assert min(w["a"], w["c"]) > w["d"] > w["e"]


def test_weighted_pool_adds_up_an_observers_repeats():
    rng = np.random.default_rng(4)
    truth, est = _crowd(rng, noise=(0.1, 0.1, 0.1, 0.1))
    names = ["a", "a", "b", "c"]
    pool = WeightedPool().fit(est, names)
    assert pool.weights_["a"] == pytest.approx(2 * pool.weights_["b"], rel=0.3)
    balanced = WeightedPool(balance_observers=True).fit(est, names)
    assert balanced.weights_["a"] == pytest.approx(balanced.weights_["b"], rel=0.3)
    # Repeats are left out together: a's two recordings never vouch for each other, so two
    # identical copies of a random recording do not buy a high weight.
    est2 = est.copy()
    est2[0] = est2[1] = rng.random(est.shape[1])
    assert min(WeightedPool().fit(est2, names).weights_.items(), key=lambda kv: kv[1])[0] == "a"


def test_weighted_pool_with_two_observers_falls_back_to_the_mean():
    est = np.array([[0.0, 1.0, 0.2], [0.4, 0.6, 0.2]])
    pool = WeightedPool().fit(est, ["a", "b"])
    np.testing.assert_allclose(pool.pooled_, est.mean(axis=0))
    assert pool.flagged_ == []


def test_robust_pool_median_and_trimmed_mean():
    est = np.array([[0.0, 0.1], [0.2, 0.5], [0.4, 0.9], [1.0, 0.3], [0.3, 0.0]])
    np.testing.assert_allclose(RobustPool(trim=0.5).fit_predict(est), np.median(est, axis=0))
    # trim 0.2 of 5 recordings drops one at each end.
    expected = np.sort(est, axis=0)[1:4].mean(axis=0)
    np.testing.assert_allclose(RobustPool(trim=0.2).fit_predict(est), expected)
    np.testing.assert_allclose(RobustPool(trim=0.0).fit_predict(est), est.mean(axis=0))
    with pytest.raises(ValueError, match="trim"):
        RobustPool(trim=0.7).fit(est)


def test_weighted_pool_exposes_agreement_and_separation():
    rng = np.random.default_rng(5)
    truth, est = _crowd(rng)
    est = np.vstack([est, rng.random(len(truth))])
    pool = WeightedPool(floor=0.0).fit(est, list("abcdefg"))
    assert set(pool.agreement_) == set("abcdefg")
    assert pool.agreement_["g"] < 0.7 < min(v for k, v in pool.agreement_.items() if k != "g")
    assert pool.n_iter_ >= 1
    # Weights are proportional to the separation d' (power 1), floored at eps.
    sep = {k: max(v, pool.eps) for k, v in pool.separation_.items()}
    total = sum(sep.values())
    assert pool.weights_ == pytest.approx({k: v / total for k, v in sep.items()})
    with pytest.raises(ValueError, match="top"):
        WeightedPool(top=1.5).fit(est, list("abcdefg"))


def test_sample_weight_is_checked():
    with pytest.raises(ValueError, match="sample_weight"):
        WeightedPool().fit(np.zeros((3, 4)), list("abc"), sample_weight=np.ones(3))


@pytest.mark.slow
def test_on_the_shipped_sample_the_worst_observer_gets_no_weight():
    """brats-pat0001's shipped 16-slice crop with the colour covariance floor (too tight for
    grey) and no spatial prior: one observer's estimate is far off the tumour (AUC against the reference about 0.2;
    the others 0.96-0.99). Without seeing the reference, the weighted pool must give that
    observer the lowest weight."""
    from segmentation.engine.datasets import load_sample
    from segmentation.engine.estimate import COLOUR_COV_FLOOR
    from segmentation.engine.metrics import roc_metrics, truth_counts
    from segmentation.engine.pipeline import observer_estimate, prepare_sequence

    s = load_sample("brats-pat0001")
    prepared = prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    estimates = [observer_estimate(prepared, s.frames, g, cov_floor=COLOUR_COV_FLOOR,
                                   spatial_deg=None) for g in s.gaze]
    est = np.array([e.scores for e in estimates])
    names = [e.observer for e in estimates]
    pos, neg = truth_counts(prepared.labels, s.truth, prepared.n_superpixels)
    auc = {n: roc_metrics(e, pos, neg).auc for n, e in zip(names, est)}
    worst = min(auc, key=auc.get)
    assert auc[worst] < 0.5 < 0.95 < min(v for k, v in auc.items() if k != worst)

    pool = WeightedPool(floor=0.0).fit(est, names, sample_weight=prepared.sizes)
    assert min(pool.weights_, key=pool.weights_.get) == worst
    assert pool.weights_[worst] < 0.02
    assert pool.flagged_ == [worst]
    # With the floor (the default) it keeps a bounded weight and is noted, not flagged.
    floored = WeightedPool().fit(est, names, sample_weight=prepared.sizes)
    assert min(floored.weights_, key=floored.weights_.get) == worst
    assert floored.weights_[worst] > 0.03 and worst in floored.notes_
    mean_auc = roc_metrics(est.mean(axis=0), pos, neg).auc
    assert roc_metrics(pool.pooled_, pos, neg).auc >= mean_auc - 1e-3
