"""GazeCrowd gaze to pymovements and back: same samples; its I-VT and I-DT find the fixations."""

import sys

import numpy as np
import pandas as pd
import pytest

from segmentation.engine.trackers import DisplayGeometry, gaze_from_pymovements, gaze_to_pymovements

IMAGE_HW = (256, 256)
GEOMETRY = DisplayGeometry(screen_px=(1920, 1080), screen_cm=(53.1, 29.9), distance_cm=60.0)
HZ, FPS, N_FRAMES = 500.0, 10.0, 40


def _fixating(n_fix=4, fix_ms=400, saccade_ms=40, rng=0, lost=True) -> pd.DataFrame:
    """Fixations on image points, joined by fast saccades, sampled at a constant 500 Hz."""
    g = np.random.default_rng(rng)
    targets = g.uniform(30, 220, (n_fix, 2))
    xs, ys = [], []
    for k, (tx, ty) in enumerate(targets):
        n = int(fix_ms * HZ / 1000)
        xs.append(tx + g.normal(0, 0.2, n))
        ys.append(ty + g.normal(0, 0.2, n))
        if k + 1 < n_fix:
            m = int(saccade_ms * HZ / 1000)
            xs.append(np.linspace(tx, targets[k + 1, 0], m + 2)[1:-1])
            ys.append(np.linspace(ty, targets[k + 1, 1], m + 2)[1:-1])
    x, y = np.concatenate(xs), np.concatenate(ys)
    t = np.arange(len(x)) * (1000.0 / HZ)
    frame = np.floor(t * FPS / 1000 + 1e-9).astype(np.int64)
    if lost:
        x[[10, 11]] = np.nan
        y[[10, 11]] = np.nan
    return pd.DataFrame({"observer": "bob", "t_ms": t, "frame": frame, "x": x, "y": y})


def test_round_trip_gives_the_same_samples():
    gaze = _fixating()
    pm_gaze = gaze_to_pymovements(gaze, geometry=GEOMETRY, image_hw=IMAGE_HW, sampling_rate_hz=HZ)
    assert pm_gaze.experiment.screen.width_px == 1920
    back = gaze_from_pymovements(pm_gaze, observer="bob", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES,
                                 geometry=GEOMETRY)
    assert len(back) == len(gaze)  # 0 lost
    np.testing.assert_allclose(back["t_ms"], gaze["t_ms"])
    np.testing.assert_array_equal(back["frame"], gaze["frame"])
    np.testing.assert_allclose(back["x"], gaze["x"], atol=1e-9)  # NaN where NaN
    np.testing.assert_allclose(back["y"], gaze["y"], atol=1e-9)


def test_pymovements_event_detection_finds_the_fixations():
    gaze = _fixating(lost=False)  # I-DT wants constant time steps: no gap
    pm_gaze = gaze_to_pymovements(gaze, geometry=GEOMETRY, image_hw=IMAGE_HW, sampling_rate_hz=HZ)
    pm_gaze.pix2deg()
    pm_gaze.pos2vel()
    pm_gaze.detect("ivt")
    ivt = pm_gaze.events.frame.filter(pm_gaze.events.frame["name"] == "fixation")
    assert len(ivt) >= 4
    pm_gaze.clear_events()
    pm_gaze.detect("idt", dispersion_threshold=1.0, minimum_duration=100)
    idt = pm_gaze.events.frame.filter(pm_gaze.events.frame["name"] == "fixation")
    assert len(idt) >= 4


def test_without_pymovements_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymovements", None)  # import pymovements -> ImportError
    with pytest.raises(ImportError, match=r'pip install "gazecrowd\[interop\]"'):
        gaze_to_pymovements(_fixating(), geometry=GEOMETRY, image_hw=IMAGE_HW, sampling_rate_hz=HZ)
