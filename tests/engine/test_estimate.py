"""Colour models and label propagation: a dense reference and invariants."""

import numpy as np
import pytest

from segmentation.engine.estimate import (
    LabelPropagation,
    affinity_matrix,
    colour_likelihood,
    trusted_gazed,
)


def _graph(seed=0, n=12):
    rng = np.random.default_rng(seed)
    centroids = rng.uniform(0, 80, size=(n, 2))
    theta = rng.uniform(-0.5, 0.5, n)
    groups = rng.integers(0, 2, n)
    return centroids, theta, groups


def _dense_affinity(centroids, theta, groups, sigma_a, sigma_d, tau):
    n = len(theta)
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d = np.hypot(*(centroids[i] - centroids[j]))
            if i != j and groups[i] == groups[j] and d <= tau:
                w[i, j] = np.exp(-((theta[i] - theta[j]) ** 2) / (2 * sigma_a**2)) * np.exp(
                    -(d**2) / (2 * sigma_d**2))
    return w


def test_affinity_matches_dense_loop_and_is_symmetric():
    c, th, g = _graph()
    w = affinity_matrix(c, th, g, sigma_a=0.5, sigma_d=50, tau=50).toarray()
    ref = _dense_affinity(c, th, g, 0.5, 50, 50)
    np.testing.assert_allclose(w, ref, atol=1e-12)
    np.testing.assert_allclose(w, w.T)
    assert (np.diag(w) == 0).all()
    assert ref.astype(bool).sum() > 4  # the toy graph really has edges


@pytest.mark.parametrize("normalisation", ["symmetric", "random_walk"])
def test_sparse_propagation_equals_dense_reference(normalisation):
    c, th, g = _graph(1)
    w = affinity_matrix(c, th, g)
    dense = w.toarray()
    p0 = np.random.default_rng(3).uniform(size=len(th))
    alpha, iters = 0.95, 10
    if normalisation == "symmetric":
        d = dense.sum(1)
        dinv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
        omega = dinv[:, None] * dense * dinv[None, :]
    else:
        a = dense + np.eye(len(th))
        omega = a / a.sum(1, keepdims=True)
    p = p0.copy()
    for _ in range(iters):
        p = alpha * omega @ p + (1 - alpha) * p0
    if normalisation == "symmetric":
        p = p / p.max()
    out = LabelPropagation(alpha=alpha, n_iter=iters, normalisation=normalisation).fit(p0, w)
    np.testing.assert_allclose(out.scores_, np.clip(p, 0, 1), atol=1e-12)


def test_propagation_keeps_scores_in_unit_interval_and_gazed_at_one():
    c, th, g = _graph(2, 40)
    w = affinity_matrix(c, th, g)
    p0 = np.random.default_rng(0).uniform(size=40)
    fixed = np.zeros(40, bool)
    fixed[[3, 17]] = True
    for norm in ("symmetric", "random_walk"):
        s = LabelPropagation(normalisation=norm, clamp=True).fit(p0, w, fixed=fixed).scores_
        assert ((s >= 0) & (s <= 1)).all()
        assert (s[fixed] == 1).all()


def test_colour_models_max_and_mean():
    mean = np.array([[50.0, 0, 0], [52.0, 1, 0], [10.0, 20, -20], [90.0, -30, 30]])
    cov = np.tile(np.eye(3) * 4.0, (4, 1, 1))
    pmax = colour_likelihood(mean, cov, [0, 3], combine="max")
    assert pmax.max() == pytest.approx(1.0)
    assert pmax[1] > pmax[2]
    pmean = colour_likelihood(mean, cov, [0, 3], combine="mean", density=False, cov_floor=0.0)
    # exp(-d^2 / 2) averaged over the two models, by hand for superpixel 1 (d^2 = 5 / 4 to 0).
    assert pmean[1] == pytest.approx(0.5 * np.exp(-0.5 * 5 / 4))
    assert pmean[0] == pytest.approx(0.5)


def test_stray_gaze_point_is_not_trusted():
    rng = np.random.default_rng(0)
    mean = np.vstack([rng.normal([60, 0, 0], 1.0, size=(8, 3)), [[5.0, 40, -40]]])
    cov = np.tile(np.eye(3) * 2.0, (9, 1, 1))
    keep = trusted_gazed(mean, cov, np.arange(9))
    assert keep[:8].all() and not keep[8]


def test_grey_sequences_get_a_covariance_floor_that_keeps_a_tight_model_from_inverting():
    """On the BRATS sample one observer's estimate inverts with the colour floor (1e-3)."""
    from segmentation.engine import pipeline
    from segmentation.engine.datasets import load_sample
    from segmentation.engine.estimate import COLOUR_COV_FLOOR

    sample = load_sample("brats-pat0001")
    prepared = pipeline.prepare_sequence(sample.frames, px_per_degree=sample.px_per_degree)
    gaze = next(g for g in sample.gaze if g["observer"].iloc[0] == "observer-6")

    def auc(**options):
        estimate = pipeline.observer_estimate(prepared, sample.frames, gaze, **options)
        return pipeline.evaluate(estimate.scores, sample.truth, prepared)["auc"]

    assert auc() > 0.7 > auc(cov_floor=COLOUR_COV_FLOOR) + 0.1
