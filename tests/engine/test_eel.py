"""The expected exponential loss and the stump booster."""

import numpy as np
import pytest

from segmentation.engine.eel import (
    EXP_CLIP,
    ExpectedExponentialLoss,
    ExponentialLoss,
    StumpBooster,
)


@pytest.mark.parametrize("loss", [ExpectedExponentialLoss(), ExponentialLoss()])
def test_gradient_and_hessian_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    f = rng.normal(0, 2, 50)
    s = rng.uniform(0, 1, 50) if isinstance(loss, ExpectedExponentialLoss) else rng.integers(0, 2, 50)
    eps = 1e-6
    num_g = (loss.loss(s, f + eps) - loss.loss(s, f - eps)) / (2 * eps)
    g, h = loss.gradient_hessian(s, f)
    num_h = (loss.gradient(s, f + eps) - loss.gradient(s, f - eps)) / (2 * eps)
    np.testing.assert_allclose(g, num_g, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(loss.gradient(s, f), g)
    np.testing.assert_allclose(h, num_h, rtol=1e-6, atol=1e-8)


def test_eel_hand_values():
    loss = ExpectedExponentialLoss()
    # s e^-f + (1 - s) e^f at (s, f) = (1, 0), (0, 0), (0.25, ln 2), (1, 1)
    s = np.array([1.0, 0.0, 0.25, 1.0])
    f = np.array([0.0, 0.0, np.log(2.0), 1.0])
    np.testing.assert_allclose(loss.loss(s, f), [1.0, 1.0, 0.25 * 0.5 + 0.75 * 2.0, np.exp(-1)])
    np.testing.assert_allclose(loss.gradient(s, f), [-1.0, 1.0, -0.125 + 1.5, -np.exp(-1)])
    np.testing.assert_allclose(loss.gradient_hessian(s, f)[1], [1.0, 1.0, 0.125 + 1.5, np.exp(-1)])


def test_eel_equals_exponential_loss_for_hard_labels():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200).astype(float)
    f = rng.normal(0, 3, 200)
    eel, el = ExpectedExponentialLoss(), ExponentialLoss()
    np.testing.assert_allclose(eel.loss(y, f), el.loss(y, f))
    for a, b in zip(eel.gradient_hessian(y, f), el.gradient_hessian(y, f)):
        np.testing.assert_allclose(a, b)


def test_exponent_is_clipped_not_overflowing():
    loss = ExpectedExponentialLoss()
    with np.errstate(over="raise"):
        value = loss.loss(np.array([0.0]), np.array([1e4]))
    assert np.isfinite(value).all() and value[0] == pytest.approx(np.exp(EXP_CLIP))


def _toy(seed=0, n=400):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    truth = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    s = np.clip(truth * 0.8 + 0.1 + rng.normal(0, 0.1, n), 0, 1)
    return x, truth, s


def test_booster_learns_soft_labels_and_is_deterministic():
    x, truth, s = _toy()
    a = StumpBooster(ExpectedExponentialLoss(), n_rounds=50).fit(x, s)
    b = StumpBooster(ExpectedExponentialLoss(), n_rounds=50).fit(x, s)
    np.testing.assert_array_equal(a.decision_function(x), b.decision_function(x))
    p = a.predict_proba(x)
    assert ((p >= 0) & (p <= 1)).all()
    assert ((p > 0.5) == truth.astype(bool)).mean() > 0.9
    # Newton steps on a convex loss: the training loss never increases.
    assert (np.diff(a.loss_history_) <= 1e-9).all()
    # Leaf values lie in [-1, 1] for these losses (|g| <= h).
    assert max(max(abs(lv), abs(rv)) for _, _, lv, rv in a.stumps_) <= 1 + 1e-12


def test_booster_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    x, _, s = _toy(2, 200)
    a = StumpBooster(n_rounds=10).fit(x, s)
    b = StumpBooster(n_rounds=10, backend="torch", device="cpu").fit(x, s)
    np.testing.assert_allclose(a.decision_function(x), b.decision_function(x), atol=1e-9)
