"""Raw samples -> one robust gaze point per frame."""

import numpy as np
import pandas as pd

from segmentation.engine.gaze import gaze_points, gazed_superpixels


def _table(rows):
    return pd.DataFrame(rows, columns=["observer", "t_ms", "frame", "x", "y"])


def test_median_drops_lost_and_outside_samples_and_stray_sample():
    rows = [("a", 0, 0, 10, 10), ("a", 16, 0, 11, 10), ("a", 33, 0, np.nan, np.nan),
            ("a", 50, 0, 500, 10), ("a", 66, 0, 10.5, 30), ("a", 83, 0, 10.2, 10.4),
            ("a", 100, 2, np.nan, np.nan)]
    pts = gaze_points(_table(rows), 3, (40, 50))
    # Frame 0: x 500 is outside, NaN lost; median of (10, 11, 10.5, 10.2) and (10, 10, 30, 10.4).
    np.testing.assert_allclose(pts[0], [10.35, 10.2])
    assert np.isnan(pts[1]).all() and np.isnan(pts[2]).all()


def test_saccade_samples_are_dropped():
    # 60 Hz; a jump of 30 px in 16.7 ms at 10 px/deg = 180 deg/s between two fixations.
    rows = [("a", 0, 0, 10, 10), ("a", 16.7, 0, 10, 10), ("a", 33.3, 0, 40, 10),
            ("a", 50, 0, 70, 10), ("a", 66.7, 0, 70, 10), ("a", 83.3, 0, 70, 10)]
    pts = gaze_points(_table(rows), 1, (100, 100), px_per_degree=10)
    np.testing.assert_allclose(pts[0], [70, 10])  # the saccade sample at 40 is gone


def test_gazed_superpixels():
    labels = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    pts = np.array([[1.2, 2.6], [np.nan, np.nan]])
    np.testing.assert_array_equal(gazed_superpixels(pts, labels), [labels[0, 3, 1], -1])
