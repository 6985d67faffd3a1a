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


def _baselines_whole(prepared, frames, estimates, whole):
    """What a whole-sequence run scores beside its method (services/runs.py ``_metrics``)."""
    return {m: engine.segment(prepared, frames, estimates, method=m, pool=whole.pool,
                              refit_pool=False, rng=0)
            for m in ("el", "probability")}


def test_chunked_baselines_equal_the_whole_paths_on_the_davis_sample(tmp_path):
    s = engine.load_sample("davis-blackswan")
    prepared = engine.prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    estimates = [engine.observer_estimate(prepared, s.frames, g) for g in s.gaze]
    whole = engine.segment(prepared, s.frames, estimates, method="eel")
    cut = engine.segment_chunked(s.frames, s.gaze, tmp_path, px_per_degree=s.px_per_degree,
                                 chunk_frames=4, compare=True)
    assert list(cut.baselines) == ["el", "probability"]
    for m, other in {"eel": whole, **_baselines_whole(prepared, s.frames, estimates, whole)}.items():
        mine = cut.result(m)
        assert mine.method == m and mine.threshold_rule == other.threshold_rule == "gaze-contrast"
        np.testing.assert_array_equal(mine.scores, other.scores, err_msg=m)
        assert mine.threshold == other.threshold, m
        np.testing.assert_array_equal(mine.masks, other.masks, err_msg=m)
        assert engine.evaluate(mine, s.truth) == engine.evaluate(other, s.truth)
    # The baselines differ from the run's method (the comparison is not of one map thrice).
    assert not np.array_equal(cut.result("el").scores, cut.result("probability").scores)
    # The run's method is what it was without compare.
    np.testing.assert_array_equal(cut.scores(), whole.scores)


def test_chunked_baselines_on_the_brats_sample_within_tolerance(tmp_path):
    s = engine.load_sample("brats-pat0001")
    prepared = engine.prepare_sequence(s.frames, px_per_degree=s.px_per_degree)
    estimates = [engine.observer_estimate(prepared, s.frames, g) for g in s.gaze]
    whole = engine.segment(prepared, s.frames, estimates, method="el")
    cut = engine.segment_chunked(s.frames, s.gaze, tmp_path, px_per_degree=s.px_per_degree,
                                 chunk_frames=4, method="el", compare=True)
    assert list(cut.baselines) == ["eel", "probability"]  # the run's method first, as METHODS
    others = {m: engine.segment(prepared, s.frames, estimates, method=m, pool=whole.pool,
                                refit_pool=False, rng=0) for m in ("eel", "probability")}
    for m, other in {"el": whole, **others}.items():
        mine = cut.result(m)
        assert abs(mine.threshold - other.threshold) < 1e-3, m
        assert _dice(mine.masks, other.masks) >= 0.999, m
        assert np.mean(mine.masks != other.masks) < 1e-4, m
        assert np.max(np.abs(mine.scores - other.scores)) < 0.05, m


def test_baselines_store_only_the_scored_frames_and_fits_run_in_any_order(tmp_path):
    s = engine.load_sample("davis-blackswan")
    folder = tmp_path / "a"
    full = engine.segment_chunked(s.frames, s.gaze, tmp_path / "full", px_per_degree=s.px_per_degree,
                                  chunk_frames=4, compare=True)
    layout = chunks.chunk_layout(folder, s.frames, px_per_degree=s.px_per_degree, chunk_frames=4)
    for i in range(layout.n_chunks):
        chunks.prepare_chunk(folder, i, s.frames)
    chunks.plan_estimates(folder, s.gaze)
    for i in range(layout.n_chunks):
        chunks.estimate_chunk(folder, i)
    trained = chunks.train_chunks(folder, method="eel", compare=True, compare_frames=[6, 1, 6])
    assert trained.methods == ("eel", "el", "probability") and trained.n_fits == 2 * engine.N_BAGS
    assert chunks.step_size(folder, "fit") == trained.n_fits
    assert chunks.chunks_done(folder, "fit") == [False] * trained.n_fits
    for k in reversed(range(trained.n_fits)):  # any order, any worker
        chunks.fit_booster(folder, k)
    first = chunkstore.chunk_file(folder, "fit-decision", 0).read_bytes()
    chunks.fit_booster(folder, 0)  # a retried task: the same file
    assert chunkstore.chunk_file(folder, "fit-decision", 0).read_bytes() == first
    assert all(chunks.chunks_done(folder, "fit"))
    with pytest.raises(engine.InputError, match="booster 6 does not exist"):
        chunks.fit_booster(folder, 6)
    for i in range(layout.n_chunks):
        chunks.paint_chunk(folder, i, s.frames)
    for m in ("eel", "el", "probability"):
        chunks.finish_chunks(folder, method=m)
    # Chunk 0 stores frame 1 of each baseline, chunk 1 frame 6; the run's method every frame.
    assert chunkstore.read_chunk_array(folder, "scores-el", 0).shape[0] == 1
    assert chunkstore.read_chunk_array(folder, "scores-probability", 1).shape[0] == 1
    assert chunkstore.read_chunk_array(folder, "scores", 1).shape[0] == 4
    for m in ("el", "probability"):
        mine, other = chunks.chunk_method_result(folder, m, [1, 6]), full.result(m, [1, 6])
        np.testing.assert_array_equal(mine.scores, other.scores)
        assert mine.threshold == other.threshold  # the cut saw every frame's histogram
        with pytest.raises(engine.InputError, match="frame 2 .* not stored"):
            chunks.chunk_method_result(folder, m, [2])
    with pytest.raises(engine.InputError, match="not painted"):
        chunks.chunk_method_result(folder, "vilarino")


def test_vilarino_is_not_a_chunked_baseline():
    assert chunks.chunk_methods("eel", True) == ("eel", "el", "probability")
    assert chunks.chunk_methods("probability", True) == ("probability", "eel", "el")
    assert chunks.chunk_methods("el") == ("el",)
    with pytest.raises(engine.InputError, match="not chunked"):
        chunks.chunk_methods("vilarino", True)


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
