"""Heat map, threshold and boxes on hand-made fixations."""

import numpy as np
import pytest

from segmentation.engine.detection.heatmap import (
    fixation_heatmap,
    gaze_labels,
    heat_threshold,
    mask_to_boxes,
    remove_small_blobs,
    sigma_pixels,
)
from segmentation.engine.errors import InputError


def slow_heatmap(points, weights, shape, sigma, truncate=3.0):
    """The sum of truncated Gaussians, pixel by pixel (integer positions only)."""
    heat = np.zeros(shape)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    radius = int(truncate * sigma + 0.5)
    for (x, y), w in zip(points, weights):
        g = w * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
        g[(np.abs(cols - x) > radius) | (np.abs(rows - y) > radius)] = 0
        heat += g
    return heat


def test_heatmap_is_the_sum_of_weighted_gaussians():
    pts = np.array([[10.0, 12.0], [30.0, 20.0]])
    w = np.array([200.0, 500.0])
    heat = fixation_heatmap(pts, (40, 50), weights=w, sigma=3.0)
    ref = slow_heatmap(pts, w, (40, 50), 3.0)
    # gaussian_filter normalises its discrete kernel to sum 1, the continuous one peaks at 1
    scale = ref.sum() / heat.sum()
    np.testing.assert_allclose(heat * scale, ref, rtol=1e-3, atol=1e-3 * ref.max())
    assert heat.dtype == np.float32
    assert heat[12, 10] < heat[20, 30]  # the longer fixation is hotter


def test_heatmap_ignores_nan_and_outside_points_and_is_zero_far_away():
    heat = fixation_heatmap([[5, 5], [np.nan, 3], [500, 5], [-3, 2]], (30, 30), sigma=2.0)
    assert heat[5, 5] == heat.max() > 0
    assert heat[20:, 20:].sum() == 0  # beyond 3 sigma from the only valid fixation
    assert fixation_heatmap(np.zeros((0, 2)), (8, 9)).shape == (8, 9)


def test_subpixel_fixation_moves_the_peak_half_way():
    heat = fixation_heatmap([[10.5, 10.0]], (21, 21), sigma=2.0)
    assert heat[10, 10] == pytest.approx(heat[10, 11], rel=1e-5)


def test_threshold_is_factor_times_mean_nonzero():
    heat = np.array([[0.0, 1.0, 3.0], [0.0, 0.0, 2.0]])
    assert heat_threshold(heat, factor=4) == pytest.approx(8.0)
    assert heat_threshold(np.zeros((3, 3))) == float("inf")


def test_two_fixation_clusters_give_two_boxes():
    # Two clusters of fixations, one long-fixated, far apart: two blobs, two boxes.
    a = [[20, 20], [22, 21], [21, 23]]
    b = [[70, 60], [72, 62]]
    labels = gaze_labels(a + b, (100, 100), durations=[300] * 5, sigma=3.0, factor=1.0)
    assert len(labels.boxes) == 2
    x, y, w, h = labels.boxes[0]
    assert x <= 20 and x + w >= 23 and y <= 20 and y + h >= 24  # covers the first cluster
    x, y, w, h = labels.boxes[1]
    assert x <= 70 and x + w >= 73 and y <= 60 and y + h >= 63


def test_published_factor_keeps_only_the_hot_core():
    pts = [[50, 50]] * 5 + [[10, 80]]
    labels = gaze_labels(pts, (100, 100), sigma=4.0, factor=4.0)
    assert labels.mask[50, 50] and not labels.mask[80, 10]
    assert len(labels.boxes) == 1


def test_mask_to_boxes_coco_convention_and_min_area():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:6] = True  # columns 3..5, rows 2..4
    mask[8, 10] = True
    np.testing.assert_array_equal(mask_to_boxes(mask), [[3, 2, 3, 3], [10, 8, 1, 1]])
    np.testing.assert_array_equal(mask_to_boxes(mask, min_area=2), [[3, 2, 3, 3]])
    assert remove_small_blobs(mask, 2).sum() == 9
    assert mask_to_boxes(np.zeros((4, 4), bool)).shape == (0, 4)


def test_sigma_in_degrees_and_bad_values():
    assert sigma_pixels(sigma_deg=0.5, px_per_degree=30) == 15
    assert sigma_pixels(7) == 7
    with pytest.raises(InputError, match="px_per_degree"):
        sigma_pixels(sigma_deg=1)
    with pytest.raises(InputError, match="positive"):
        sigma_pixels(-1)
    with pytest.raises(InputError, match="one value per fixation"):
        fixation_heatmap([[1, 1]], (5, 5), weights=[1, 2])


def test_manual_shapes_to_masks():
    from segmentation.engine.detection.shapes import boxes_to_mask, outline_to_mask

    square = outline_to_mask([[2, 1], [5, 1], [5, 4], [2, 4]], (8, 8))
    assert square[1:5, 2:6].all() and square.sum() == 16
    box = boxes_to_mask([[2, 1, 4, 4]], (8, 8))
    np.testing.assert_array_equal(box, square)
    np.testing.assert_array_equal(mask_to_boxes(box), [[2, 1, 4, 4]])
    assert boxes_to_mask([[-3, -3, 5, 5]], (4, 4)).sum() == 4  # cut at the image edge
    with pytest.raises(InputError, match="at least 3"):
        outline_to_mask([[0, 0], [1, 1]], (4, 4))
