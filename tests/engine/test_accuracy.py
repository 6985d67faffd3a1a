"""A recording's measured accuracy: validation, the crowd's alignment, the pools' use of it."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.engine.accuracy import (
    check_accuracy_deg,
    consensus_offsets,
    crowd_accuracy_deg,
    prior_sigma_deg,
)
from segmentation.engine.errors import InputError
from segmentation.engine.metrics import roc_metrics
from segmentation.engine.pooling import MeanPool, WeightedPool, make_pool
from segmentation.engine.simulate import SimulatedObserver, simulate_gaze, validation_accuracy_deg

PPD = 20.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1, 90.5, "four", True, [1.0]])
def test_accuracy_outside_0_90_or_not_a_number_is_refused(value):
    with pytest.raises(InputError, match=r"degrees in \[0, 90\] or None"):
        check_accuracy_deg(value)


@pytest.mark.parametrize("value, expected", [(None, None), (0, 0.0), (4.1, 4.1), ("2.5", 2.5),
                                             (90, 90.0)])
def test_accuracy_accepted_values(value, expected):
    assert check_accuracy_deg(value) == expected


def test_observer_estimate_refuses_a_bad_accuracy():
    from segmentation.engine import load_sample, observer_estimate, prepare_sequence

    s = load_sample("brats-pat0001")
    prep = prepare_sequence(s.frames[:3], px_per_degree=s.px_per_degree)
    gaze = s.gaze[0][s.gaze[0]["frame"] < 3]
    with pytest.raises(InputError, match="accuracy_deg"):
        observer_estimate(prep, s.frames[:3], gaze, accuracy_deg=float("nan"))
    e = observer_estimate(prep, s.frames[:3], gaze, accuracy_deg=3.0)
    assert e.accuracy_deg == 3.0


def test_prior_sigma_adds_the_accuracy_in_quadrature():
    assert prior_sigma_deg(1.0, None, 0.5) == 1.0
    assert prior_sigma_deg(1.0, 4.0, 0.0) == 1.0
    assert prior_sigma_deg(1.0, 4.0, 0.5) == pytest.approx(np.sqrt(1 + 4))


def _trajectory(rng, t=120):
    """(T, 2) gaze points (x, y) of an object moving across a 400 x 300 image."""
    x = np.linspace(60, 340, t) + rng.normal(0, 3, t)
    y = 150 + 60 * np.sin(np.linspace(0, 3, t)) + rng.normal(0, 3, t)
    return np.column_stack([x, y])


def test_a_known_offset_is_recovered():
    rng = np.random.default_rng(0)
    path = _trajectory(rng)
    shift = np.array([30.0, -20.0])  # 1.8 degrees at 20 px/degree
    points = []
    for r in range(5):
        p = path + rng.normal(0, 4, path.shape)
        p[rng.random(len(p)) < 0.1] = np.nan  # blinks
        away = rng.random(len(p)) < 0.05  # glances away
        p[away] = rng.uniform(0, 300, (away.sum(), 2))
        points.append(p + (shift if r == 2 else 0.0))
    acc = [0.3, 0.3, 2.0, 0.3, 0.3]
    offsets = consensus_offsets(points, acc, px_per_degree=PPD)
    # The shifted recording is moved back; the accurate ones stay within a pixel or two.
    np.testing.assert_allclose(offsets[2], shift, atol=3.0)
    assert np.abs(np.delete(offsets, 2, axis=0)).max() < 3.0


def test_independent_offsets_are_aligned_on_each_other():
    rng = np.random.default_rng(1)
    path = _trajectory(rng)
    angles = rng.uniform(0, 2 * np.pi, 7)
    sizes = rng.uniform(2.0, 4.0, 7) * PPD
    true = np.column_stack([np.cos(angles), np.sin(angles)]) * sizes[:, None]
    points = [path + o + rng.normal(0, PPD, path.shape) for o in true]
    offsets = consensus_offsets(points, sizes / PPD, px_per_degree=PPD)
    # What remains of each recording's offset is the crowd's common part: the same for all.
    residual = true - offsets
    spread = np.hypot(*(residual - residual.mean(axis=0)).T)
    assert spread.max() < 0.5 * PPD  # half a degree, from 2-4 degrees
    assert np.hypot(*true.T).min() > 2 * PPD  # they were 2-4 degrees apart before


def test_the_offset_is_bounded_by_the_measured_accuracy():
    rng = np.random.default_rng(2)
    path = _trajectory(rng)
    points = [path + rng.normal(0, 2, path.shape) for _ in range(4)]
    points[0] = points[0] + np.array([60.0, 0.0])  # 3 degrees off...
    offsets = consensus_offsets(points, [0.5, 0.5, 0.5, 0.5], px_per_degree=PPD)
    # ...but validated at 0.5 degree: it moves 0.5 degree at most (a crowd sharing a mistake
    # cannot drag an accurate observer onto it).
    assert np.hypot(*offsets[0]) == pytest.approx(0.5 * PPD)
    assert offsets[0, 0] > 0


def test_recordings_without_accuracy_never_move():
    rng = np.random.default_rng(3)
    path = _trajectory(rng)
    points = [path, path + 40.0, path]
    offsets = consensus_offsets(points, [None, None, None], px_per_degree=PPD)
    assert not offsets.any()
    offsets = consensus_offsets(points, [None, 3.0, None], px_per_degree=PPD)
    np.testing.assert_allclose(offsets[1], [40.0, 40.0], atol=1.0)
    assert not offsets[[0, 2]].any()
    # Recordings measured better than min_accuracy_deg stay and pin the frame.
    offsets = consensus_offsets(points, [0.3, 3.0, 0.3], px_per_degree=PPD, min_accuracy_deg=1.0)
    np.testing.assert_allclose(offsets[1], [40.0, 40.0], atol=1.0)
    assert not offsets[[0, 2]].any()


def test_crowd_accuracy_shrinks_with_the_crowd():
    assert crowd_accuracy_deg([None, None]) is None
    assert crowd_accuracy_deg([3.0]) == pytest.approx(3.0)
    assert crowd_accuracy_deg([3.0] * 9) == pytest.approx(1.0)


def _estimates(rng, n=300):
    truth = rng.random(n) < 0.2
    rows = [np.clip(truth + rng.normal(0, s, n), 0, 1) for s in (0.1, 0.15, 0.2, 0.6)]
    return truth, np.array(rows)


def test_weighted_pool_weighs_a_low_accuracy_recording_down_and_says_why():
    truth, est = _estimates(np.random.default_rng(4))
    names = ["alice", "bob", "carol", "dave"]
    plain = WeightedPool().fit(est, names)
    pool = WeightedPool().fit(est, names, accuracy_deg=[0.6, 0.8, None, 4.1])
    assert "accuracy 4.1 deg" in pool.notes_["dave"]
    assert pool.weights_["dave"] < plain.weights_["dave"]
    # Never below the floor (floor / R before renormalising), never flagged: accuracy is not
    # non-compliance.
    assert pool.recording_weights_[3] >= pool.floor / 4 / (1 + pool.floor)
    assert "dave" not in pool.flagged_
    assert "alice" not in pool.notes_ and "carol" not in pool.notes_


def test_the_mean_pool_notes_accuracy_but_keeps_equal_weights():
    truth, est = _estimates(np.random.default_rng(5))
    pool = MeanPool().fit(est, ["a", "b", "c", "d"], accuracy_deg=[0.5, 0.5, 0.5, 3.5])
    np.testing.assert_allclose(pool.recording_weights_, 0.25)
    assert "accuracy 3.5 deg" in pool.notes_["d"] and "not weighed down" in pool.notes_["d"]
    weighed = MeanPool(accuracy_ref=1.0).fit(est, ["a", "b", "c", "d"],
                                             accuracy_deg=[0.5, 0.5, 0.5, 3.5])
    assert weighed.recording_weights_[3] < 0.25 and "weight x0.08" in weighed.notes_["d"]


def test_pool_refuses_a_bad_accuracy_list():
    est = np.zeros((2, 3))
    with pytest.raises(ValueError, match="one value .* per recording"):
        MeanPool().fit(est, ["a", "b"], accuracy_deg=[1.0])
    with pytest.raises(InputError, match=r"accuracy_deg\[1\]"):
        MeanPool().fit(est, ["a", "b"], accuracy_deg=[1.0, -2.0])


@pytest.mark.parametrize("seed", range(6))
def test_default_pool_with_accuracy_never_below_the_mean_pool(seed):
    rng = np.random.default_rng(seed)
    truth, est = _estimates(rng)
    # The least accurate recording is sometimes the one who is right: shuffle which it is.
    acc = rng.permutation([0.5, 1.0, 2.5, 4.0])
    names = ["a", "b", "c", "d"]
    auc = {}
    for key, pool, kw in (("default", make_pool(), {"accuracy_deg": acc}), ("mean", MeanPool(), {})):
        pooled = pool.fit_predict(est, names, **kw)
        auc[key] = roc_metrics(pooled, truth.astype(float), (~truth).astype(float)).auc
    assert auc["default"] >= auc["mean"] - 1e-12


def test_simulated_accuracy_is_what_a_validation_would_measure():
    masks = np.zeros((20, 60, 80), bool)
    masks[:, 20:40, 30:50] = True
    obs = SimulatedObserver("o", bias_deg=3.0, noise_deg=1.0, drift_deg=0.0, lapse_per_s=0.0)
    gaze = simulate_gaze(masks, fps=10, px_per_degree=PPD, observer=obs, sample_hz=30)
    assert gaze.attrs["accuracy_deg"] == pytest.approx(3.0, abs=0.3)
    # The drift check after the recording adds the drift (the platform keeps the worse).
    assert validation_accuracy_deg([3.0, 0.0], 0.0, drift_deg=[1.0, 0.0]) == pytest.approx(4.0)
    assert validation_accuracy_deg([0.0, 0.0], 0.0) == 0.0


def test_segment_aligns_only_recordings_with_a_measured_accuracy():
    from segmentation.engine import load_sample, observer_estimate, prepare_sequence, segment

    s = load_sample("brats-pat0001")
    frames = s.frames[:20]
    prep = prepare_sequence(frames, px_per_degree=s.px_per_degree)
    tables = [g[g["frame"] < 20].copy() for g in s.gaze[:4]]
    # One recording 3 degrees to the right of where it looked, and measured so.
    tables[1]["x"] += 3.0 * s.px_per_degree
    plain = [observer_estimate(prep, frames, g) for g in tables]
    r0 = segment(prep, frames, plain, n_rounds=5, n_bags=1)
    assert r0.offsets_px is None
    acc = [0.4, 3.1, 0.5, 0.4]
    ests = [observer_estimate(prep, frames, g, accuracy_deg=a) for g, a in zip(tables, acc)]
    r1 = segment(prep, frames, ests, n_rounds=5, n_bags=1)
    assert r1.offsets_px.shape == (4, 2)
    # The shifted recording is moved back to the left, by at most its accuracy; not by all 3
    # degrees: on this sample the observers look at different parts of a 7-degree tumour, so
    # 16 frames leave the consensus uncertain by a degree or so (the exact recovery of a known
    # offset is test_a_known_offset_is_recovered).
    dx, dy = r1.offsets_px[1] / s.px_per_degree
    assert 1.0 < dx <= 3.1 and abs(dy) < 1.0
    others = np.delete(r1.offsets_px, 1, axis=0)
    assert not others.any()  # validated below ALIGN_MIN_DEG: they stay
    assert "accuracy 3.1 deg" in r1.pool.notes_[ests[1].observer]
