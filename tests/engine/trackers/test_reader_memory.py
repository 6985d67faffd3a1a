"""Tracker readers hold a bounded multiple of the file in memory, whatever the format.

A file is accepted up to GAZECROWD_MAX_GAZE_UPLOAD_MB; what a worker needs to read it must
stay a small multiple of that. Each reader gets a file of 30,000 samples (1 to 7 MB) and the
peak of memory traced by Python (tracemalloc: Python objects and numpy arrays) while it reads
must stay under 6 times the file's size. The Eye Tribe reader once held every message as a
dictionary (12 times the file); the CSV reader every value as a Python float.
"""

import tracemalloc

import numpy as np
import pytest

from segmentation.engine.trackers import DisplayGeometry, read_gaze_file

from .writers import WRITERS, write_csv

N = 30_000


@pytest.mark.parametrize("fmt", ["csv", *sorted(WRITERS)])
def test_a_reader_holds_a_small_multiple_of_its_file(tmp_path, fmt):
    t = 5000 + np.arange(N) * 2.0  # 500 Hz
    rng = np.random.default_rng(0)
    x, y = np.round(rng.uniform(200, 1700, N)), np.round(rng.uniform(100, 1000, N))
    if fmt == "csv":
        path = write_csv(tmp_path / "g.csv", t - t[0], x / 80, y / 80, observer="o")
    else:
        write, name = WRITERS[fmt]
        path = write(tmp_path / name, t, x, y, sync_ms=5100)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        gaze, _ = read_gaze_file(path, fmt, observer="o", image_hw=(480, 640), fps=10.0, n_frames=10**6,
                                 geometry=DisplayGeometry(screen_px=(1920, 1080)), playback_start_ms=5100.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(gaze) > N * 0.9
    assert peak < 6 * size, f"{fmt}: {peak / 2**20:.1f} MB traced for a {size / 2**20:.1f} MB file"
