"""Colour models and label propagation: a dense reference and invariants."""

import numpy as np
import pandas as pd
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

    # The floor alone (without the spatial prior, which hides much of the problem).
    assert auc(spatial_deg=None) > 0.7 > auc(cov_floor=COLOUR_COV_FLOOR, spatial_deg=None) + 0.1


def _core_unlike_rim_scene(t=6, size=96):
    """A grey disc whose core looks exactly like the background and whose rim is bright;
    observers fixate the core (as on a tumour with a necrotic middle)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    truth = np.repeat((r < 22)[None], t, axis=0)
    rim = (r >= 11) & (r < 22)
    frames = np.where(rim, 0.8, 0.3) + rng.normal(0, 0.03, (t, size, size))
    frames = np.clip(frames, 0, 1).astype(np.float32)
    gaze = []
    for _k, name in enumerate(("a", "b", "c")):
        for f in range(t):
            for s in range(6):
                x, y = size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2)
                gaze.append((name, (6 * f + s) * 40.0, f, x, y))
    table = pd.DataFrame(gaze, columns=["observer", "t_ms", "frame", "x", "y"])
    return frames, truth, [g for _, g in table.groupby("observer")]


def test_an_observer_who_looks_at_a_core_unlike_the_rim_stays_above_chance():
    from segmentation.engine import pipeline

    frames, truth, tables = _core_unlike_rim_scene()
    prepared = pipeline.prepare_sequence(frames, px_per_degree=8.0)

    def auc(**options):
        return [pipeline.evaluate(pipeline.observer_estimate(prepared, frames, g, **options).scores,
                                  truth, prepared)["auc"] for g in tables]

    # The colour model learns the background's colour from the core; propagation from the
    # gazed superpixels and the spatial prior keep the object (rim included) above the rest.
    assert min(auc()) > 0.7


def test_the_spatial_prior_is_one_at_the_gaze_and_neutral_without_gaze():
    from segmentation.engine.estimate import spatial_prior

    centroids = np.array([[50.0, 50.0], [50.0, 60.0], [50.0, 90.0], [10.0, 10.0]])
    frame_of = np.array([0, 0, 0, 1])
    points = np.array([[50.0, 50.0], [np.nan, np.nan]])  # (x, y); frame 1 has none
    p = spatial_prior(centroids, frame_of, points, sigma_px=10.0, window=0)
    assert p[0] == pytest.approx(1.0) and p[1] == pytest.approx(np.exp(-0.5))
    assert p[2] < 1e-3 and p[3] == 1.0  # no gaze on frame 1: no information
    # With a window, frame 1 borrows frame 0's gaze.
    assert spatial_prior(centroids, frame_of, points, sigma_px=10.0, window=1)[3] < 1e-3
