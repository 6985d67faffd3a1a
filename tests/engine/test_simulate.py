"""Simulated observers: the recordings follow the masks with the parameters asked for."""

import json

import numpy as np
import pytest

from segmentation.engine.datasets import load_sample
from segmentation.engine.errors import InputError
from segmentation.engine.io import read_panel
from segmentation.engine.io.gaze_csv import validate_gaze
from segmentation.engine.pipeline import evaluate, observer_estimate, prepare_sequence, segment
from segmentation.engine.simulate import SimulatedObserver, simulate_gaze


def _square(t=20, size=100, side=20, step=2):
    """A square moving right by ``step`` pixels per frame."""
    masks = np.zeros((t, size, size), bool)
    for k in range(t):
        masks[k, 40:40 + side, 10 + k * step:10 + k * step + side] = True
    return masks


def test_a_perfect_observer_looks_inside_the_object_and_follows_it():
    masks = _square()
    still = SimulatedObserver("still", bias_deg=0, noise_deg=0, lapse_per_s=0, blink_per_s=0,
                              lag_ms=0, seed=1)
    g = validate_gaze(simulate_gaze(masks, fps=10, px_per_degree=20, observer=still))
    assert len(g) == 120 and g.t_ms.is_monotonic_increasing  # 2 s at 60 Hz
    assert g.frame.min() == 0 and g.frame.max() == 19
    inside = masks[g.frame, g.y.round().astype(int), g.x.round().astype(int)]
    assert inside.mean() > 0.95  # pursuit keeps the fixated point on the moving square
    assert g.x.iloc[-1] > g.x.iloc[0] + 20  # ... which moved right


def test_bias_blinks_and_lapses_show_in_the_recording():
    masks = _square(t=200, step=0)
    sloppy = SimulatedObserver("sloppy", bias_deg=1.0, noise_deg=0.0, lapse_per_s=0.5,
                               blink_per_s=1.0, lag_ms=0, seed=7)
    g = simulate_gaze(masks, fps=10, px_per_degree=15, observer=sloppy)
    lost = g.x.isna()
    assert 0.05 < lost.mean() < 0.3  # about 1 blink of 150 ms per second
    valid = g[~lost]
    # the median point is the square's interior shifted by the bias: 15 px away from it
    dy, dx = valid.y.median() - 49.5, valid.x.median() - 19.5
    assert 8 < np.hypot(dx, dy) < 25
    same = simulate_gaze(masks, fps=10, px_per_degree=15, observer=sloppy)
    assert same.equals(g)  # deterministic for a seed


def test_bad_input_is_named(tmp_path):
    with pytest.raises(InputError, match=r"\(T, H, W\)"):
        simulate_gaze(np.zeros((4, 4)), fps=10, px_per_degree=10, observer=SimulatedObserver("a"))
    bad = tmp_path / "recording.json"
    bad.write_text(json.dumps({"fps": 8, "observers": []}))
    with pytest.raises(InputError, match="image_px_per_degree"):
        read_panel(bad)
    bad.write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        read_panel(bad)


def test_a_simulated_crowd_segments_the_shipped_sample():
    s = load_sample("davis-blackswan")
    observers = [SimulatedObserver(f"sim-{k}", seed=k) for k in range(5)]
    tables = [simulate_gaze(s.truth, fps=s.fps, px_per_degree=s.px_per_degree, observer=o)
              for o in observers]
    prep = prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    ests = [observer_estimate(prep, s.frames, g) for g in tables]
    r = segment(prep, s.frames, ests, method="eel")
    assert evaluate(r, s.truth, prep)["auc"] > 0.9
