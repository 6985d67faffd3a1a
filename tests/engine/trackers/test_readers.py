"""Each tracker reader on a valid file (known screen points come back on the image) and broken ones."""

import warnings

import numpy as np
import pytest

from segmentation.engine.errors import InputError
from segmentation.engine.trackers import (
    READERS,
    DisplayGeometry,
    detect_format,
    read_eyelink_asc,
    read_gaze_file,
)

from .writers import BINARY_WRITERS, SCREEN, WRITERS, screen_samples, write_csv

IMAGE_HW = (256, 256)
FPS, N_FRAMES = 10.0, 30
SYNC = 5100.0  # tracker time of frame 0; samples start at 5000 (before playback)


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_reader_maps_screen_points_onto_the_image_and_aligns_to_playback(tmp_path, fmt):
    write, name = {**WRITERS, **BINARY_WRITERS}[fmt]
    t, x, y = screen_samples()
    path = write(tmp_path / name, t, x, y, sync_ms=SYNC)
    assert detect_format(path) == fmt
    has_sync = fmt in {"tobii", "eyelink", "bids"}
    gaze, raw = read_gaze_file(
        path, fmt, observer="bob", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES,
        geometry=DisplayGeometry(screen_px=SCREEN),
        playback_start_ms=None if has_sync else SYNC,
    )
    assert list(gaze.columns) == ["observer", "t_ms", "frame", "x", "y"]
    assert (gaze["observer"] == "bob").all()
    # Screen 1920x1080 shows the 256x256 image as 1080x1080 from x = 420: scale 256/1080.
    keep = t >= SYNC - 0.5
    expected_x = (x[keep] - 420 + 0.5) * 256 / 1080 - 0.5
    expected_y = (y[keep] + 0.5) * 256 / 1080 - 0.5
    assert len(gaze) == keep.sum()
    np.testing.assert_allclose(gaze["t_ms"], t[keep] - SYNC, atol=1.0)
    np.testing.assert_allclose(gaze["x"], expected_x, atol=0.05)  # 0.1 px written, /4.2
    np.testing.assert_allclose(gaze["y"], expected_y, atol=0.05)
    assert gaze["frame"].tolist() == np.floor(gaze["t_ms"] * FPS / 1000 + 1e-9).astype(int).tolist()
    assert gaze["frame"].min() == 0
    assert gaze["x"].isna().sum() == np.isnan(x[keep]).sum() == 1  # lost samples 3, 4 precede sync


def test_screen_size_comes_from_the_file_when_it_states_it(tmp_path):
    t, x, y = screen_samples()
    path = WRITERS["eyelink"][0](tmp_path / "a.asc", t, x, y, sync_ms=SYNC)
    gaze, raw = read_gaze_file(path, "eyelink", observer="b", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES)
    assert raw.screen_px == (1920, 1080) and raw.sampling_rate_hz == 60.0
    assert len(gaze) > 0


def test_eyelink_samples_agree_with_pymovements(tmp_path):
    pm = pytest.importorskip("pymovements")
    t, x, y = screen_samples()
    path = WRITERS["eyelink"][0](tmp_path / "a.asc", t, x, y, sync_ms=SYNC)
    ours = read_eyelink_asc(path)
    with warnings.catch_warnings():  # our minimal header lacks what pymovements warns about
        warnings.simplefilter("ignore")
        gaze = pm.gaze.from_asc(path)
    theirs = gaze.samples if hasattr(gaze, "samples") else gaze.frame  # renamed in 0.2x
    np.testing.assert_allclose(theirs["time"].to_numpy(), ours.t_ms)
    pixels = np.array(theirs["pixel"].to_list(), dtype=float)
    np.testing.assert_allclose(pixels[:, 0], ours.x)
    np.testing.assert_allclose(pixels[:, 1], ours.y)


def test_binocular_eyelink_averages_the_eyes(tmp_path):
    path = tmp_path / "b.asc"
    path.write_text(
        "SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t500.00\n"
        "1000\t100.0\t200.0\t900.0\t110.0\t210.0\t900.0\t.....\n"
        "1002\t   .\t   .\t0.0\t120.0\t220.0\t900.0\t.....\n"
        "1004\t   .\t   .\t0.0\t   .\t   .\t0.0\t.....\n"
    )
    raw = read_eyelink_asc(path)
    np.testing.assert_allclose(raw.x, [105.0, 120.0, np.nan])
    np.testing.assert_allclose(raw.y, [205.0, 220.0, np.nan])


def test_csv_is_read_in_image_pixels(tmp_path):
    t, x, y = screen_samples()
    path = write_csv(tmp_path / "g.csv", t[t >= SYNC], x[t >= SYNC] / 8, y[t >= SYNC] / 8, sync_ms=SYNC, fps=FPS,
                     observer="bob")
    assert detect_format(path) == "csv"
    gaze, raw = read_gaze_file(path, observer="bob", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES)
    assert raw is None and (gaze["observer"] == "bob").all() and len(gaze) == (t >= SYNC).sum()
    np.testing.assert_allclose(gaze["x"], np.round(x[t >= SYNC] / 8, 2))


BROKEN = {
    "tobii": ("x.tsv", "Time\tX\n1\t2\n", "missing column"),
    "eyelink": ("x.asc", "hello world\n", "not EyeLink ASC content"),
    "pupil": ("gaze_positions_on_surface_S.csv", "world_timestamp,x\n1,2\n", "missing column"),
    "eyetribe": ("x.json", '{"values": {"frame": {"avg": {"x": 1}}}\n', "line 1: invalid JSON"),
}


@pytest.mark.parametrize("fmt", sorted(BROKEN))
def test_broken_files_name_the_problem(tmp_path, fmt):
    name, text, message = BROKEN[fmt]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_gaze_file(path, fmt, observer="b", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES,
                       geometry=DisplayGeometry(screen_px=SCREEN))


def test_a_bad_sample_line_is_named(tmp_path):
    path = tmp_path / "bad.asc"
    path.write_text("SAMPLES\tGAZE\tLEFT\tRATE\t60\n1000\t1.0\t2.0\t3.0\n1016\tabc\t2.0\t3.0\n")
    with pytest.raises(InputError, match="line 3"):
        read_eyelink_asc(path)


def test_tobii_bad_number_is_named(tmp_path):
    t, x, y = screen_samples(n=5)
    path = WRITERS["tobii"][0](tmp_path / "t.tsv", t, x, y, sync_ms=SYNC)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("Eye Tracker\t\t", "Eye Tracker\t\tzz")
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match="line 4"):
        READERS["tobii"](path)


def test_no_sample_within_playback_is_an_error(tmp_path):
    t, x, y = screen_samples()
    path = WRITERS["eyetribe"][0](tmp_path / "e.json", t, x, y)
    with pytest.raises(InputError, match="no sample falls within playback"):
        read_gaze_file(path, "eyetribe", observer="b", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES,
                       geometry=DisplayGeometry(screen_px=SCREEN), playback_start_ms=1e9)


def test_tracker_file_without_screen_size_needs_a_geometry(tmp_path):
    t, x, y = screen_samples()
    path = WRITERS["eyetribe"][0](tmp_path / "e.json", t, x, y)
    with pytest.raises(InputError, match="does not state the screen size"):
        read_gaze_file(path, "eyetribe", observer="b", image_hw=IMAGE_HW, fps=FPS, n_frames=N_FRAMES)
