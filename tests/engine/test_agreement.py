"""Agreement with the crowd, variance within and between observers, metric vs crowd size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segmentation.engine.agreement import (
    agreement,
    subset_curve,
    uncertainty_map,
    variance_components,
)


def _crowd(rng, n=300, noise=(0.1, 0.1, 0.15, 0.15, 0.2)):
    truth = (rng.random(n) < 0.3).astype(float)
    return truth, np.array([np.clip(truth + rng.normal(0, s, n), 0, 1) for s in noise])


def test_agreement_leaves_out_all_repeats_of_an_observer():
    # Two identical copies of a random map must not agree with each other.
    rng = np.random.default_rng(3)
    truth, est = _crowd(rng, noise=(0.1, 0.1, 0.1))
    r = rng.random(len(truth))
    est = np.vstack([est, r, r])
    ag = agreement(est, ["a", "b", "c", "x", "x"])
    assert ag["x"] < 0.6


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
