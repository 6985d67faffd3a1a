"""The chunked run's report (engine.report.chunked) against the whole run's report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentation import engine
from segmentation.engine.report.chunked import ChunkStack, chunk_areas


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The davis sample run both ways (2 chunks), and each run's report."""
    s = engine.load_sample("davis-blackswan")
    folder = tmp_path_factory.mktemp("chunks")
    prepared = engine.prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    estimates = [engine.observer_estimate(prepared, s.frames, g) for g in s.gaze]
    whole = engine.segment(prepared, s.frames, estimates, method="eel")
    cut = engine.segment_chunked(s.frames, s.gaze, folder, px_per_degree=s.px_per_degree,
                                 chunk_frames=4)
    idx = [1, 5, 6]  # reference masks on three frames, across the seam
    truth = (s.truth[idx], idx)
    whole_dir, cut_dir = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("cut")
    engine.write_run_report(whole_dir, prepared=prepared, estimates=estimates,
                            result=whole, frames=s.frames, truth=truth, gaze=s.gaze,
                            name="blackswan", svg=False)
    files = engine.write_chunked_report(cut_dir, folder, frames=s.frames, truth=truth,
                                        gaze=s.gaze, name="blackswan", svg=False)
    return s, prepared, whole, cut, folder, whole_dir, cut_dir, files


def test_chunk_stack_reads_frames_as_the_whole_arrays(both):
    s, prepared, whole, cut, folder, *_ = both
    labels = ChunkStack(folder, "labels")
    assert labels.shape == prepared.labels.shape and len(labels) == len(prepared.labels)
    assert labels.max() == prepared.labels.max()
    np.testing.assert_array_equal(labels[5], prepared.labels[5])
    np.testing.assert_array_equal(labels[[7, 0, 4]], prepared.labels[[7, 0, 4]])
    np.testing.assert_array_equal(labels[2:6], prepared.labels[2:6])
    np.testing.assert_array_equal(labels[-1], prepared.labels[-1])
    masks = ChunkStack(folder, "scores", threshold=cut.threshold)
    np.testing.assert_array_equal(masks[3], whole.masks[3].astype(bool))
    with pytest.raises(IndexError, match="frame 8 outside 0..7"):
        labels[8]
    np.testing.assert_array_equal(chunk_areas(folder), np.bincount(prepared.labels.ravel()))


def test_chunked_report_says_what_the_whole_report_says(both):
    *_, whole_dir, cut_dir, files = both
    assert {"report.html", "observers.csv", "curves.csv", "summary.json", "roc.png",
            "delivered_masks.png", "maps.png"} <= set(files)
    a = json.loads((whole_dir / "summary.json").read_text())
    b = json.loads((cut_dir / "summary.json").read_text())
    assert b["pool"] == a["pool"] and b["flagged"] == a["flagged"]
    assert b["n_superpixels"] == a["n_superpixels"] and b["frames_scored"] == 3
    for key in ("dice", "iou", "auc", "threshold", "predicted_fraction"):
        assert b["delivered"][key] == pytest.approx(a["delivered"][key], abs=1e-9), key
    assert b["pooled"]["eel"]["auc"] == pytest.approx(a["pooled"]["eel"]["auc"], abs=1e-9)
    assert b["single"]["probability"]["auc"]["mean"] == pytest.approx(
        a["single"]["probability"]["auc"]["mean"], abs=1e-9)
    ta = pd.read_csv(whole_dir / "observers.csv")
    tb = pd.read_csv(cut_dir / "observers.csv")
    pd.testing.assert_frame_equal(ta, tb, check_exact=False, atol=1e-9)
    html = (cut_dir / "report.html").read_text()
    assert "Chunked run: 8 frames in 2 chunks" in html


def test_chunked_report_without_reference(tmp_path, both):
    s, _, _, cut, folder, *_ = both
    files = engine.write_chunked_report(tmp_path, folder, frames=s.frames, gaze=s.gaze,
                                        svg=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "dice" not in summary["delivered"] and summary["delivered"]["predicted_fraction"] == \
        pytest.approx(float(np.mean(cut.masks())))
    assert "report.html" in files
