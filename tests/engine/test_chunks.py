"""The chunked path (segmentation.engine.chunks) against the whole-sequence path.

Measured (these tests): davis-blackswan sample, 2 chunks: identical masks; brats-pat0001
sample, 4 chunks: Dice 0.99986 between the two paths' masks (9 pixels of 921,600 differ, from
estimate rounding of 1e-15 that the booster's splits amplify); the first 20 frames of the
full-size DAVIS blackswan (../shared/data), 3 chunks: see test_longer_davis_sequence.
"""

from __future__ import annotations

import numpy as np
import pytest

from segmentation import engine
from segmentation.engine import chunks
from segmentation.engine.io import chunkstore


def _dice(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def _both(frames, gaze, ppd, folder, chunk_frames):
    prepared = engine.prepare_sequence(frames, px_per_degree=ppd)
    estimates = [engine.observer_estimate(prepared, frames, g) for g in gaze]
    whole = engine.segment(prepared, frames, estimates, method="eel")
    cut = engine.segment_chunked(frames, gaze, folder, px_per_degree=ppd, chunk_frames=chunk_frames)
    return prepared, whole, cut


def test_chunked_equals_whole_on_the_davis_sample(tmp_path):
    s = engine.load_sample("davis-blackswan")
    prepared, whole, cut = _both(s.frames, s.gaze, s.px_per_degree, tmp_path, 4)
    assert cut.layout.chunks == [(0, 4), (4, 8)]
    np.testing.assert_array_equal(cut.labels(), prepared.labels)
    np.testing.assert_array_equal(cut.scores(), whole.scores)
    assert cut.threshold == whole.threshold
    np.testing.assert_array_equal(cut.masks(), whole.masks)


def test_chunked_on_the_brats_sample_within_tolerance(tmp_path):
    """Float volume: scaled by the whole volume's percentiles; 4 chunks, 3 seams."""
    s = engine.load_sample("brats-pat0001")
    prepared, whole, cut = _both(s.frames, s.gaze, s.px_per_degree, tmp_path, 4)
    assert len(cut.layout.chunks) == 4
    np.testing.assert_array_equal(cut.labels(), prepared.labels)
    for a, b in zip(cut.estimates, engine.align_estimates(prepared, [
            engine.observer_estimate(prepared, s.frames, g) for g in s.gaze])[0]):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-12)
        np.testing.assert_array_equal(a.gazed, b.gazed)
    assert abs(cut.threshold - whole.threshold) < 1e-3
    assert _dice(cut.masks(), whole.masks) >= 0.999
    assert np.mean(cut.masks() != whole.masks) < 1e-4


def test_longer_davis_sequence(tmp_path, shared_data):
    """20 full-size DAVIS frames (854x480) in 3 chunks with their real-folder gaze."""
    frames = engine.open_sequence(shared_data / "davis" / "blackswan" / "frames")
    meta = engine.read_json(shared_data / "gaze" / "davis-blackswan" / "recording.json")
    n = 20
    gaze = []
    for p in sorted((shared_data / "gaze" / "davis-blackswan").glob("observer-*.csv")):
        g = engine.read_gaze_csv(p)
        g = g[g["frame"] < n].reset_index(drop=True)
        g.attrs.update(engine.read_gaze_csv(p).attrs)
        gaze.append(g)
    sub = frames[0:n]
    ppd = meta["image_px_per_degree"]
    prepared = engine.prepare_sequence(sub, px_per_degree=ppd)
    estimates = [engine.observer_estimate(prepared, sub, g) for g in gaze]
    whole = engine.segment(prepared, sub, estimates, method="eel")
    cut = engine.segment_chunked(sub, gaze, tmp_path, px_per_degree=ppd, chunk_frames=8)
    assert cut.layout.chunks == [(0, 8), (8, 16), (16, 20)]
    dice = _dice(cut.masks(), whole.masks)
    assert dice >= 0.999, dice
    assert abs(cut.threshold - whole.threshold) < 1e-3


def test_chunk_bounds_are_bounded():
    assert chunks.chunk_bounds(9, 4) == [(0, 4), (4, 9)]  # a 1-frame tail joins the last chunk
    assert chunks.chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunks.chunk_bounds(12, 4) == [(0, 4), (4, 8), (8, 12)]
    assert chunks.chunk_bounds(3, 4) == [(0, 3)]
    for bad in (3, 1001, 4.5, "x", None):
        with pytest.raises(engine.InputError, match="chunk size"):
            chunks.chunk_bounds(100, bad)


def test_whole_sequence_only_options_are_refused(tmp_path):
    frames = np.zeros((8, 16, 16), np.uint8)
    with pytest.raises(engine.InputError, match="not chunked"):
        chunks.chunk_layout(tmp_path, frames, features="autoencoder")
    with pytest.raises(engine.InputError, match="not chunked"):
        chunks.chunk_layout(tmp_path, frames, temporal=True)


@pytest.mark.parametrize("n", [1, 2, 7, 10])
def test_threshold_medians_from_histograms_are_exact(n):
    rng = np.random.default_rng(n)
    levels = rng.integers(0, engine.LEVELS + 1, size=n).astype(np.uint16)
    hist = np.bincount(levels, minlength=engine.LEVELS + 1)
    expected = float(np.median(engine.logit(engine.dequantise(levels))))
    assert chunks._median_logit(hist) == expected


def test_chunk_arrays_are_replaced_atomically(tmp_path):
    chunkstore.write_chunk_array(tmp_path, "scores", 3, np.arange(5))
    chunkstore.write_chunk_array(tmp_path, "scores", 3, np.arange(6))  # a retried step
    assert [p.name for p in tmp_path.iterdir()] == ["scores-00003.npy"]  # no temporary left
    np.testing.assert_array_equal(chunkstore.read_chunk_array(tmp_path, "scores", 3), np.arange(6))
    with pytest.raises(FileNotFoundError, match="has not run"):
        chunkstore.read_chunk_array(tmp_path, "scores", 4)


def test_npz_written_in_blocks_reads_back(tmp_path):
    a = np.arange(5 * 3 * 2, dtype=np.uint16).reshape(5, 3, 2)
    path = chunkstore.write_npz_blocks(tmp_path / "x.npz", {
        "scores": (a.shape, a.dtype, [a[:2], a[2:]]), "labels": ((4,), np.int32, [np.arange(4)])})
    with np.load(path) as z:
        np.testing.assert_array_equal(z["scores"], a)
        np.testing.assert_array_equal(z["labels"], np.arange(4))
    with pytest.raises(ValueError, match="rows"):
        chunkstore.write_npz_blocks(tmp_path / "y.npz", {"a": ((3,), np.uint8, [np.zeros(2)])})


@pytest.mark.parametrize("name,part", [("davis-blackswan", "frames"), ("brats-pat0001", "flair.nii.gz")])
def test_lazy_readers_match_the_eager_reader(name, part):
    from segmentation.engine.datasets import sample_path

    path = sample_path(name) / part
    eager = engine.read_sequence(path).frames
    lazy = engine.open_sequence(path)
    assert lazy.shape == eager.shape and lazy.dtype == eager.dtype
    np.testing.assert_array_equal(lazy[2:5], eager[2:5])
    np.testing.assert_array_equal(lazy[-1], eager[-1])
    with pytest.raises(TypeError):
        lazy[::2]


def test_lazy_npy_is_memory_mapped(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (6, 8, 9), dtype=np.uint8)
    np.save(tmp_path / "f.npy", arr)
    lazy = engine.open_sequence(tmp_path / "f.npy")
    np.testing.assert_array_equal(lazy[1:4], arr[1:4])
