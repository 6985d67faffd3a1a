"""Refinement with image evidence improves a coarse gaze mask on a synthetic blob."""

import numpy as np
import pytest

from segmentation.engine.detection.heatmap import fixation_heatmap, heat_threshold
from segmentation.engine.detection.labels import GazeBoxParams, label_image
from segmentation.engine.detection.metrics import dice
from segmentation.engine.detection.refine import refine_box_mask, refine_gaze_mask
from segmentation.engine.errors import InputError


@pytest.fixture(scope="module")
def blob_scene():
    """A reddish ellipse on a noisy greenish background, fixations clustered off-centre."""
    rng = np.random.default_rng(1)
    h, w = 96, 96
    rows, cols = np.mgrid[:h, :w]
    truth = ((rows - 50) / 26.0) ** 2 + ((cols - 44) / 18.0) ** 2 <= 1
    image = np.empty((h, w, 3))
    image[...] = (60, 140, 80)
    image[truth] = (190, 80, 70)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    # An observer fixates the upper part of the target more than the lower one, so the heat
    # map alone misses the bottom of the ellipse.
    pts = np.array([[44, 38], [40, 45], [48, 42], [44, 52], [38, 34], [50, 48]], float)
    return image, truth, pts, np.full(len(pts), 300.0)


def test_refinement_improves_dice_on_a_blob(blob_scene):
    image, truth, pts, dur = blob_scene
    heat = fixation_heatmap(pts, truth.shape, weights=dur, sigma=8.0)
    coarse = heat > heat_threshold(heat, factor=1.5)
    refined = refine_gaze_mask(image, heat, rng=0)
    d_coarse, d_refined = dice(coarse, truth), dice(refined.mask, truth)
    assert d_refined > d_coarse + 0.05, (d_coarse, d_refined)
    assert d_refined > 0.85
    assert refined.probability.min() >= 0 and refined.probability.max() <= 1
    again = refine_gaze_mask(image, heat, rng=0)
    np.testing.assert_array_equal(refined.mask, again.mask)  # deterministic for a seed


def test_box_refinement_stays_inside_the_box_and_finds_the_blob(blob_scene):
    image, truth, _, _ = blob_scene
    r = refine_box_mask(image, [[24, 22, 42, 58]], rng=0)  # the ellipse's box, a bit loose
    assert not r.mask[:, :24].any() and not r.mask[:, 66:].any()
    assert dice(r.mask, truth) > 0.85


def test_no_fixation_gives_empty_labels(blob_scene):
    image, truth, _, _ = blob_scene
    labels = label_image(image, np.zeros((0, 2)), params=GazeBoxParams())
    assert not labels.mask.any() and labels.boxes.shape == (0, 4)


def test_label_image_boxes_follow_the_refined_mask(blob_scene):
    image, truth, pts, dur = blob_scene
    labels = label_image(image, pts, dur, params=GazeBoxParams(sigma=8.0))
    assert len(labels.boxes) == 1
    x, y, w, h = labels.boxes[0]
    # the truth's box is columns 26..62, rows 24..76
    assert abs(x - 26) <= 4 and abs(y - 24) <= 4 and abs(x + w - 63) <= 4 and abs(y + h - 77) <= 4
    coarse = label_image(image, pts, dur, params=GazeBoxParams(sigma=8.0, refine=False))
    assert coarse.probability is None and coarse.mask is coarse.coarse_mask


def test_bad_shapes_are_refused(blob_scene):
    image, *_ = blob_scene
    with pytest.raises(InputError, match="RGB image"):
        refine_gaze_mask(np.zeros((4, 4, 2)), np.ones((4, 4)))
    with pytest.raises(InputError, match="like the image"):
        refine_gaze_mask(image, np.ones((5, 5)))
