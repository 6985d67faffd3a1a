"""Observer quality without ground truth: gaze statistics, flags and their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.engine.agreement import agreement
from segmentation.engine.pooling import WeightedPool
from segmentation.engine.quality import gaze_quality, observer_quality


def _crowd(rng, n=300, noise=(0.1, 0.1, 0.15, 0.15, 0.2)):
    truth = (rng.random(n) < 0.3).astype(float)
    return truth, np.array([np.clip(truth + rng.normal(0, s, n), 0, 1) for s in noise])


def test_agreement_and_flags_pick_out_a_random_observer():
    rng = np.random.default_rng(2)
    truth, est = _crowd(rng)
    est = np.vstack([est, rng.random(len(truth))])
    names = ["a", "b", "c", "d", "e", "random"]
    ag = agreement(est, names)
    assert min(ag, key=ag.get) == "random"
    assert ag["random"] == pytest.approx(0.5, abs=0.1)
    # The others' pool is soft (it contains the random map), so even a perfect map scores < 1.
    assert all(ag[o] > ag["random"] + 0.25 for o in "abcde")
    # Without a pool: flagged against the crowd.
    alone = observer_quality(estimates=est, observers=names)
    assert alone["flagged"].tolist() == [False] * 5 + [True]
    assert "agreement with the others" in alone.loc["random", "flag_reason"]
    # With a pool, the flags are the pool's: a pool without a floor flags for disagreement...
    pool = WeightedPool(floor=0.0).fit(est, names)
    table = observer_quality(estimates=est, observers=names, pool=pool)
    assert list(table.index) == names
    assert table["flagged"].tolist() == [False] * 5 + [True]
    assert "agreement weight" in table.loc["random", "flag_reason"]
    assert table["weight"].sum() == pytest.approx(1.0)
    # ... the default keeps it at its floor weight and only notes the disagreement.
    table = observer_quality(estimates=est, observers=names, pool=WeightedPool().fit(est, names))
    assert not table["flagged"].any()
    assert "far below the crowd's median" in table.loc["random", "differs_from_crowd"]
    assert table.loc["random", "flag_reason"] == ""
    assert table.loc["random", "note"].startswith("disagrees with the others")  # the pool's note


def _gaze(observer, n_frames, centre, *, lost_every=0, offset=(0.0, 0.0), rng=None):
    rows = []
    for f in range(n_frames):
        for k in range(4):
            x, y = centre[0] + offset[0] + k % 2, centre[1] + offset[1] + k // 2
            if lost_every and (4 * f + k) % lost_every == 0:
                x = y = np.nan
            rows.append((observer, (4 * f + k) * 16.7, f, x, y))
    return pd.DataFrame(rows, columns=["observer", "t_ms", "frame", "x", "y"])


def test_gaze_quality_statistics_and_flags_on_a_hand_made_crowd():
    recs = [_gaze(f"o{i}", 10, (50, 40)) for i in range(5)]
    recs.append(_gaze("lossy", 10, (50, 40), lost_every=2))  # half of the samples lost
    recs.append(_gaze("offset", 10, (50, 40), offset=(30, 0)))
    recs.append(_gaze("o0", 10, (50, 40)))  # a repeat of o0
    g = gaze_quality(recs, n_frames=10, image_shape=(100, 100), px_per_degree=10)
    assert len(g) == 8
    assert g.loc[5, "valid_fraction"] == pytest.approx(0.5)
    assert g.loc[0, "frames_with_gaze"] == pytest.approx(1.0)
    assert g.loc[0, "samples_per_frame"] == pytest.approx(4.0)
    # Samples at (c, c), (c+1, c), (c, c+1), (c+1, c+1): median (c+.5, c+.5), RMS distance .707.
    assert g.loc[0, "dispersion_px"] == pytest.approx(np.sqrt(0.5))
    assert g.loc[6, "offset_px"] == pytest.approx(30.0)
    assert g.loc[6, "offset_deg"] == pytest.approx(3.0)
    table = observer_quality(gaze=recs, n_frames=10, image_shape=(100, 100), px_per_degree=10)
    assert table.loc["o0", "recordings"] == 2
    assert table.index[table["flagged"]].tolist() == ["lossy", "offset"]
    assert "fraction of valid samples" in table.loc["lossy", "flag_reason"]
    assert "offset" in table.loc["offset", "flag_reason"]


def test_samples_outside_the_image_are_invalid():
    g = gaze_quality([_gaze("a", 2, (98, 10))], image_shape=(20, 99))
    # Columns 98 and 99: x = 99 lies beyond the last pixel centre (98) + 0.5.
    assert g.loc[0, "valid_fraction"] == pytest.approx(0.5)


def test_gaze_quality_rejects_a_table_without_columns():
    with pytest.raises(ValueError, match="lacks column"):
        gaze_quality([pd.DataFrame({"observer": ["a"], "frame": [0]})])


@pytest.mark.realdata
def test_the_sloppy_simulated_observer_is_flagged_from_gaze_alone(shared_data):
    """observer-7 of each panel has a large calibration offset (see recording.json)."""
    from segmentation.engine.io import read_gaze_csv

    folder = shared_data / "gaze" / "brats-pat0001"
    recs = [read_gaze_csv(p) for p in sorted(folder.glob("observer-*.csv"))]
    table = observer_quality(gaze=recs, image_shape=(240, 240), px_per_degree=12.0)
    assert table.index[table["flagged"]].tolist() == ["observer-7"]
    assert "offset from the others' gaze" in table.loc["observer-7", "flag_reason"]
