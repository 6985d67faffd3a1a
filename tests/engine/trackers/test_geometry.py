"""Display geometry and time alignment: hand-computed values and round-trip properties."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segmentation.engine.errors import InputError
from segmentation.engine.trackers import DisplayGeometry, align_to_playback, fit_image_rect


def test_fit_rect_letterboxes_a_square_image_on_a_wide_screen():
    assert fit_image_rect((1920, 1080), (256, 256)) == (420.0, 0.0, 1080.0, 1080.0)


def test_px_per_degree_from_screen_size_and_distance():
    # 53.1 cm wide, 1920 px, 60 cm away: one degree is 2*60*tan(0.5 deg) = 1.0472 cm = 37.86 px.
    g = DisplayGeometry(screen_px=(1920, 1080), screen_cm=(53.1, 29.9), distance_cm=60)
    expected = 1920 / 53.1 * 2 * 60 * math.tan(math.radians(0.5))
    assert g.screen_px_per_degree() == pytest.approx(expected)
    assert g.screen_px_per_degree() == pytest.approx(37.86, abs=0.01)
    # A 256-pixel image drawn 1080 screen pixels wide: an image pixel is 4.22 screen pixels.
    assert g.image_px_per_degree((256, 256)) == pytest.approx(expected * 256 / 1080)


def test_px_per_degree_needs_centimetres_and_distance():
    with pytest.raises(InputError, match="centimetres and the viewing distance"):
        DisplayGeometry(screen_px=(1920, 1080)).screen_px_per_degree()


def test_screen_corners_map_to_image_corners():
    g = DisplayGeometry(screen_px=(1920, 1080), image_rect=(100, 50, 512, 256))
    # Image pixel k spans screen [99.5 + 2k, 101.5 + 2k]: its centre is at 100.5 + 2k.
    x, y = g.screen_to_image(np.array([100.5, 610.5]), np.array([50.5, 304.5]), (128, 256))
    np.testing.assert_allclose(x, [0.0, 255.0])
    np.testing.assert_allclose(y, [0.0, 127.0])


def test_lost_samples_stay_nan():
    g = DisplayGeometry(screen_px=(800, 600))
    x, y = g.screen_to_image(np.array([np.nan, 400]), np.array([np.nan, 300]), (100, 100))
    assert np.isnan(x[0]) and np.isnan(y[0]) and np.isfinite(x[1])


@pytest.mark.parametrize("bad", [dict(screen_px=(0, 10)), dict(screen_px=(10, 10), distance_cm=-1),
                                 dict(screen_px=(10, 10), image_rect=(0, 0, 0, 5))])
def test_bad_geometry_is_refused(bad):
    with pytest.raises(InputError):
        DisplayGeometry(**bad)


@given(
    sw=st.integers(320, 4000), sh=st.integers(240, 3000),
    rows=st.integers(8, 1024), cols=st.integers(8, 1024),
    u=st.floats(0, 1), v=st.floats(0, 1),
)
def test_image_points_round_trip_through_the_fitted_screen_rect(sw, sh, rows, cols, u, v):
    g = DisplayGeometry(screen_px=(sw, sh))
    left, top, width, height = g.rect_for((rows, cols))
    assert left >= -1e-9 and top >= -1e-9
    assert left + width <= sw + 1e-6 and top + height <= sh + 1e-6
    xi, yi = (cols - 1) * u, (rows - 1) * v  # an image point
    sx = (xi + 0.5) * width / cols + left - 0.5
    sy = (yi + 0.5) * height / rows + top - 0.5
    bx, by = g.screen_to_image(np.array([sx]), np.array([sy]), (rows, cols))
    assert bx[0] == pytest.approx(xi, abs=1e-6) and by[0] == pytest.approx(yi, abs=1e-6)


def test_alignment_to_playback_drops_samples_outside_it():
    t = np.array([900.0, 1000.0, 1099.9, 1100.0, 1250.0, 1300.0])
    t_ms, frame, keep = align_to_playback(t, playback_start_ms=1000.0, fps=10.0, n_frames=3)
    np.testing.assert_allclose(t_ms, [-100, 0, 99.9, 100, 250, 300])
    assert frame.tolist() == [-1, 0, 0, 1, 2, 3]
    assert keep.tolist() == [False, True, True, True, True, False]


def test_frame_boundary_lands_on_the_next_frame_despite_rounding():
    # 1/3 s at 3 fps is frame 1 exactly; floating point gives 0.9999999.
    _, frame, _ = align_to_playback(np.array([1000.0 / 3.0]), playback_start_ms=0.0, fps=3.0, n_frames=5)
    assert frame.tolist() == [1]
