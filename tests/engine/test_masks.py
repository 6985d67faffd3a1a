"""Delivered masks: the edge-aware score map and the cut chosen without the reference."""

import numpy as np
import pytest

from segmentation.engine.errors import InputError
from segmentation.engine.masks import choose_threshold, guided_filter, masks_at, refine_scores
from segmentation.engine.metrics import delivered_scores


def _scene(prior, rng, t=6, size=120):
    """Score maps of a disc covering ``prior`` of the frame: object scores around 0.8, the
    background around 0.15 (logit-normal), gaze on the disc's inner half."""
    yy, xx = np.mgrid[:size, :size]
    radius = np.sqrt(prior * size * size / np.pi)
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius ** 2
    inner = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (radius / 2) ** 2
    truth = np.repeat(disc[None], t, axis=0)
    logit = np.where(truth, 1.4, -1.7) + rng.normal(0, 0.6, truth.shape)
    scores = (1 / (1 + np.exp(-logit))).astype(np.float32)
    return scores, truth, np.repeat(inner[None], t, axis=0)


@pytest.mark.parametrize("prior", [0.01, 0.05, 0.2])
def test_the_cut_follows_the_map_and_the_gaze_whatever_the_object_size(prior):
    rng = np.random.default_rng(0)
    scores, truth, gazed = _scene(prior, rng)
    choice = choose_threshold(scores, gazed)
    assert choice.rule == "gaze-contrast" and 0 < choice.threshold < 1
    got = delivered_scores(masks_at(scores, choice.threshold), truth)
    # Known classes: the cut lands between them and the masks cover about the object.
    assert got["dice"] > 0.9
    assert got["predicted_fraction"] == pytest.approx(prior, rel=0.25)
    # A fixed 0.5 would not: it ignores where the two classes lie.
    shifted = (scores ** 0.25).astype(np.float32)  # the same ranking, every score inflated
    fixed = delivered_scores(masks_at(shifted, 0.5), truth)["dice"]
    adaptive = delivered_scores(masks_at(shifted, choose_threshold(shifted, gazed).threshold),
                                truth)["dice"]
    assert adaptive > 0.9 > fixed + 0.05


def test_the_cut_never_needs_the_reference_and_falls_back_when_gaze_says_nothing():
    rng = np.random.default_rng(1)
    scores, truth, gazed = _scene(0.05, rng)
    assert choose_threshold(scores, np.zeros_like(gazed)).details["fallback"]
    flat = np.full_like(scores, 0.3)
    assert choose_threshold(flat, gazed).threshold == 0.5
    assert choose_threshold(scores, gazed, rule="fixed").threshold == 0.5
    with pytest.raises(InputError, match="rule"):
        choose_threshold(scores, gazed, rule="oracle")
    with pytest.raises(InputError, match="shape"):
        choose_threshold(scores, gazed[:, :10])
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(InputError, match="threshold"):
            masks_at(scores, bad)


def test_refinement_moves_a_staircase_edge_onto_the_image_edge():
    """Superpixel scores painted on 8-pixel blocks; the object edge runs between blocks."""
    size = 64
    yy, xx = np.mgrid[:size, :size]
    truth = (xx + 0.5 * yy) < 37  # a slanted edge
    image = np.where(truth, 0.8, 0.2).astype(np.float32)
    labels = (yy // 8) * (size // 8) + xx // 8
    frac = np.bincount(labels.ravel(), truth.ravel()) / np.bincount(labels.ravel())
    sp_scores = np.clip(frac, 0.02, 0.98)
    painted = sp_scores[labels]
    refined = refine_scores(image[None], sp_scores, labels[None], radius_px=8, temporal=0)[0]
    assert refined.shape == (size, size) and 0 <= refined.min() and refined.max() <= 1
    block = delivered_scores(painted >= 0.5, truth)["dice"]
    pixel = delivered_scores(refined >= 0.5, truth)["dice"]
    assert pixel > 0.97 and pixel > block + 0.02


def test_guided_filter_keeps_a_constant_and_checks_its_input():
    guide = np.random.default_rng(2).random((20, 30, 3)).astype(np.float32)
    out = guided_filter(guide, np.full((20, 30), 0.7, np.float32), 3, 1e-3)
    np.testing.assert_allclose(out, 0.7, atol=1e-4)
    with pytest.raises(InputError, match="share"):
        guided_filter(guide, np.zeros((10, 30)), 3, 1e-3)
    with pytest.raises(InputError, match="radius"):
        guided_filter(guide[..., 0], np.zeros((20, 30)), 0, 1e-3)
