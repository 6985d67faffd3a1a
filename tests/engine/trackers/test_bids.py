"""BIDS eye-tracking physiology: written and read back exactly; bad files named by file and line."""

import gzip
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmentation.engine import InputError
from segmentation.engine.trackers import (
    DisplayGeometry,
    detect_format,
    read_bids_geometry,
    read_bids_physio,
    read_gaze_file,
    write_bids_physio,
)

GEOMETRY = DisplayGeometry(screen_px=(1920, 1080), screen_cm=(53.1, 29.9), distance_cm=60.0,
                           image_rect=(240.0, 0.0, 1440.0, 1080.0))


def _recording(n=300, hz=500.0, fps=10.0):
    rng = np.random.default_rng(1)
    t = np.arange(n) * (1000.0 / hz) + rng.uniform(0, 0.3, n)  # jittered, as trackers are
    x, y = rng.uniform(200, 1700, n), rng.uniform(100, 1000, n)
    x[[5, 6, 100]] = np.nan
    y[[5, 6, 100]] = np.nan
    frames = np.floor(t * fps / 1000).astype(np.int64)
    frames[50:60] = 7  # the frame shown is what the file says, not what the clock implies
    return t, x, y, frames


def _write(tmp_path, name="sub-01_task-clip_recording-eye1", **kwargs):
    t, x, y, frames = _recording()
    written = write_bids_physio(tmp_path / name, t, x, y, sampling_rate_hz=500.0, frames=frames,
                                geometry=GEOMETRY, **kwargs)
    return written, (t, x, y, frames)


def test_written_recording_reads_back_exactly(tmp_path):
    written, (t, x, y, frames) = _write(tmp_path)
    assert [p.name for p in written] == [
        "sub-01_task-clip_recording-eye1_physio.tsv.gz", "sub-01_task-clip_recording-eye1_physio.json",
        "sub-01_task-clip_recording-eye1_physioevents.tsv.gz", "sub-01_task-clip_recording-eye1_physioevents.json",
    ]
    with gzip.open(written[0], "rt") as fh:
        first = fh.readline()
    assert not first.startswith("timestamp")  # BIDS physio files have no header row
    raw = read_bids_physio(written[0])
    np.testing.assert_array_equal(raw.t_ms, t)
    np.testing.assert_array_equal(raw.x, x)  # NaN where NaN: assert_array_equal treats them equal
    np.testing.assert_array_equal(raw.y, y)
    np.testing.assert_array_equal(raw.frames, frames)
    assert raw.sync_ms == 0.0 and raw.sampling_rate_hz == 500.0 and raw.screen_px == (1920.0, 1080.0)
    assert read_bids_geometry(written[0]) == GEOMETRY


def test_gaze_file_keeps_the_frames_of_the_events(tmp_path):
    written, (t, x, y, frames) = _write(tmp_path)
    assert detect_format(written[0]) == "bids"
    gaze, _ = read_gaze_file(written[0], "bids", observer="o", image_hw=(24, 32), fps=10.0, n_frames=60,
                             geometry=GEOMETRY)
    assert len(gaze) == len(t)
    np.testing.assert_array_equal(gaze["frame"], frames)
    xi, yi = GEOMETRY.screen_to_image(x, y, (24, 32))
    np.testing.assert_allclose(gaze["x"], xi)
    np.testing.assert_allclose(gaze["y"], yi)


def test_eye2bids_style_recording_with_pupil_and_seconds(tmp_path):
    """An eye2bids-like file: a pupil column, timestamps in s, a SYNCTIME message, no frames."""
    prefix = tmp_path / "sub-02_task-x_recording-eye1"
    rows = [f"{10 + k * 0.002:.3f}\t{500 + k}\t{400 - k}\t{1000 + k}" for k in range(50)]
    with gzip.open(f"{prefix}_physio.tsv.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    (tmp_path / f"{prefix.name}_physio.json").write_text(json.dumps({
        "SamplingFrequency": 500, "StartTime": 0, "RecordedEye": "right", "PhysioType": "eyetrack",
        "Columns": ["timestamp", "x_coordinate", "y_coordinate", "pupil_size"],
        "timestamp": {"Units": "s"},
    }))
    with gzip.open(f"{prefix}_physioevents.tsv.gz", "wt") as fh:
        fh.write("10.01\tn/a\tn/a\tn/a\tSYNCTIME\n")
    raw = read_bids_physio(f"{prefix}_physio.tsv.gz")
    assert len(raw.t_ms) == 50 and raw.frames is None
    assert raw.sync_ms == pytest.approx(10010.0) and raw.t_ms[1] == pytest.approx(10002.0)
    assert raw.screen_px is None and raw.notes == ["RecordedEye: right"]


def test_a_zip_and_a_folder_hold_one_recording(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    written, (t, *_rest) = _write(folder)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in written:
            zf.write(p, f"sub-01/beh/{p.name}")
    assert detect_format(archive) == "bids"
    np.testing.assert_array_equal(read_bids_physio(archive).t_ms, t)
    np.testing.assert_array_equal(read_bids_physio(folder).t_ms, t)
    assert read_bids_geometry(archive) == GEOMETRY


def _physio(tmp_path, lines, columns=("timestamp", "x_coordinate", "y_coordinate")):
    prefix = tmp_path / "sub-01_task-a_recording-eye1"
    with gzip.open(f"{prefix}_physio.tsv.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (tmp_path / f"{prefix.name}_physio.json").write_text(json.dumps(
        {"SamplingFrequency": 100, "Columns": list(columns), "PhysioType": "eyetrack"}))
    return tmp_path / f"{prefix.name}_physio.tsv.gz"


@pytest.mark.parametrize(("line", "words"), [
    ("30\t1\t2\t3", ["line 3", "4 tab-separated values", "names 3"]),
    ("30\tabc\t2", ["line 3", "x_coordinate", "'abc'", "not a number"]),
    ("30\tinf\t2", ["line 3", "not a finite number"]),
    ("1e400\t1\t2", ["line 3", "not a finite number"]),
    ("n/a\t1\t2", ["line 3", "without a timestamp"]),
])
def test_bad_rows_are_named_by_file_and_line(tmp_path, line, words):
    path = _physio(tmp_path, ["10\t1\t2", "20\t3\t4", line])
    with pytest.raises(InputError) as err:
        read_bids_physio(path)
    message = str(err.value)
    assert message.startswith("sub-01_task-a_recording-eye1_physio.tsv.gz, line")
    for word in words:
        assert word in message


def test_missing_sidecar_and_bad_sidecars(tmp_path):
    path = _physio(tmp_path, ["10\t1\t2"])
    sidecar = tmp_path / "sub-01_task-a_recording-eye1_physio.json"
    sidecar.write_text(json.dumps({"SamplingFrequency": 100, "Columns": ["timestamp", "x"]}))
    with pytest.raises(InputError, match="Columns lacks x_coordinate, y_coordinate"):
        read_bids_physio(path)
    sidecar.write_text('{"SamplingFrequency": NaN, "Columns": ["timestamp"]}')
    with pytest.raises(InputError, match="physio.json: invalid JSON"):
        read_bids_physio(path)
    sidecar.write_text(json.dumps({"SamplingFrequency": 1e9, "Columns": ["timestamp", "x_coordinate",
                                                                          "y_coordinate"]}))
    with pytest.raises(InputError, match="sampling rate"):
        read_bids_physio(path)
    sidecar.unlink()
    with pytest.raises(InputError, match="its sidecar sub-01_task-a_recording-eye1_physio.json is missing"):
        read_bids_physio(path)


def test_a_gzip_bomb_is_refused_before_and_while_decoding(tmp_path):
    path = _physio(tmp_path, ["10\t1\t2"] * 10_000)
    with pytest.raises(InputError, match="once decompressed"):
        read_bids_physio(path, max_bytes=1000)
    archive = tmp_path / "r.zip"  # inside a zip the trailer is not read: the running count stops it
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(path, path.name)
        zf.write(tmp_path / "sub-01_task-a_recording-eye1_physio.json", "sub-01_task-a_recording-eye1_physio.json")
    with pytest.raises(InputError, match="line 143: more than 0.000954 MB"):
        read_bids_physio(archive, max_bytes=1000)


def test_a_zip_without_sidecar_is_refused(tmp_path):
    path = _physio(tmp_path, ["10\t1\t2"])
    archive = tmp_path / "r.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(path, path.name)
    with pytest.raises(InputError, match="has no sidecar"):
        read_bids_physio(archive)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(finite, finite, finite, st.booleans(), st.integers(0, 10**6)), min_size=1, max_size=40))
def test_any_samples_round_trip_exactly(tmp_path, rows):
    t = np.array([r[0] for r in rows])
    x = np.array([np.nan if r[3] else r[1] for r in rows])
    y = np.array([np.nan if r[3] else r[2] for r in rows])
    frames = np.array([r[4] for r in rows])
    order = np.argsort(t, kind="stable")
    written = write_bids_physio(tmp_path / "sub-h_task-h_recording-eye1", t, x, y, sampling_rate_hz=60.0,
                                frames=frames[order][np.argsort(order)])
    raw = read_bids_physio(written[0])
    np.testing.assert_array_equal(raw.t_ms, t[order])
    np.testing.assert_array_equal(raw.x, x[order])
    np.testing.assert_array_equal(raw.y, y[order])


def test_the_reader_holds_a_small_multiple_of_the_text(tmp_path):
    """As the other readers (test_reader_memory): under 6 times the decompressed text."""
    n = 30_000
    t = 5000 + np.arange(n) * 2.0
    rng = np.random.default_rng(0)
    x, y = np.round(rng.uniform(200, 1700, n)), np.round(rng.uniform(100, 1000, n))
    written = write_bids_physio(tmp_path / "sub-m_task-m_recording-eye1", t, x, y, sampling_rate_hz=500.0,
                                frames=np.floor((t - 5000) / 100).astype(int))
    with gzip.open(written[0], "rb") as fh:
        text = len(fh.read())
    tracemalloc.start()
    try:
        raw = read_bids_physio(written[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(raw.t_ms) == n
    assert peak < 6 * text, f"{peak / 2**20:.1f} MB traced for {text / 2**20:.1f} MB of text"
