"""Refining coarse gaze (or box) labels into masks with image evidence.

A GrabCut-like colour model and a dense CRF, both on SLIC superpixels:

1. **Prior.** For gaze, the log of the heat relative to a level: ``gamma * log(heat /
   (prior_factor * mean non-zero heat))``, so heat at that level is even odds. For boxes,
   inside is clearly positive (+3 at the centre to +1 at the border), outside -5.
2. **Colour.** Two Gaussian mixtures in CIE Lab, fitted on pixels that are surely target
   (heat above ``fg_level`` times the prior level / the inner half of a box) and surely
   background (heat below ``bg_level`` times that level / outside every box); their
   log-likelihood ratio, clipped to +-10, is added with weight ``beta``.
3. **Superpixels.** Both terms are averaged over SLIC superpixels (``n_segments``,
   ``compactness``), which snap the labels to image edges.
4. **Dense CRF.** A few mean-field steps over all superpixel pairs with an appearance kernel
   ``exp(-d_pos^2 / 2 crf_position^2 - d_Lab^2 / 2 crf_colour^2)`` weighted by superpixel
   area (the superpixel version of Kraehenbuehl & Koltun's dense CRF, which GazeMedSeg uses on
   pixels): a superpixel takes the label of nearby, similar-looking ones.
5. Holes are filled (the targets are solid).

The defaults were tuned on the kvasir development split (image names before ``cju5``; see
``docs/gaze_boxes.md``) and left alone for the evaluation split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab
from skimage.segmentation import slic
from sklearn.mixture import GaussianMixture

from ..errors import InputError
from .heatmap import heat_threshold
from .params import RefineParams


@dataclass(frozen=True)
class RefinedMask:
    """Result of a refinement.

    Attributes
    ----------
    mask : (H, W) bool ndarray
    probability : (H, W) float32 ndarray
        The CRF's target probability of each pixel's superpixel, in [0, 1].
    superpixels : (H, W) int32 ndarray
        SLIC labels 0..N-1.
    """

    mask: np.ndarray
    probability: np.ndarray
    superpixels: np.ndarray


#: Refinement parameters of :func:`refine_box_mask` (a box is a stronger prior than heat).
BOX_REFINE_PARAMS = RefineParams(beta=0.5, crf_weight=2.0)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] < 3:
        raise InputError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return image[..., :3]


def _sp_mean(labels: np.ndarray, values: np.ndarray, n: int, counts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (H, W[, C]) over each of the ``n`` superpixels -> (n[, C])."""
    flat = labels.ravel()
    if values.ndim == 2:
        return np.bincount(flat, values.ravel(), n) / counts
    return np.stack([np.bincount(flat, values[..., c].ravel(), n) / counts
                     for c in range(values.shape[-1])], axis=1)


def _colour_llr(lab: np.ndarray, fg: np.ndarray, bg: np.ndarray, params: RefineParams,
                rng: np.random.Generator) -> np.ndarray:
    """Clipped log p(colour | target) - log p(colour | background) per pixel; 0 if unfit."""
    pixels = lab.reshape(-1, 3)
    fg_px, bg_px = pixels[fg.ravel()], pixels[bg.ravel()]
    k = params.n_components
    if len(fg_px) < 10 * k or len(bg_px) < 10 * k:
        return np.zeros(lab.shape[:2])  # too few sure pixels to fit a colour model
    models = []
    for px in (fg_px, bg_px):
        if len(px) > params.max_samples:
            px = px[rng.choice(len(px), params.max_samples, replace=False)]
        # reg_covar of 1 Lab unit^2 keeps flat (e.g. specular) regions from collapsing.
        models.append(GaussianMixture(k, reg_covar=1.0, random_state=int(rng.integers(2**31)))
                      .fit(px))
    llr = models[0].score_samples(pixels) - models[1].score_samples(pixels)
    return np.clip(llr, -10.0, 10.0).reshape(lab.shape[:2])


def refine_with_prior(image: np.ndarray, prior: np.ndarray, sure_fg: np.ndarray,
                      sure_bg: np.ndarray, *, params: RefineParams | None = None,
                      rng: int | np.random.Generator = 0) -> RefinedMask:
    """Colour model + superpixels + dense CRF around a prior log-odds map.

    Parameters
    ----------
    image : (H, W, 3) ndarray
        RGB image.
    prior : (H, W) float ndarray
        Prior log-odds of the target per pixel.
    sure_fg, sure_bg : (H, W) bool ndarray
        Pixels that train the target and background colour mixtures.
    params : RefineParams, optional
    rng : int or numpy.random.Generator
        Seeds the pixel sampling and the mixtures.

    Returns
    -------
    RefinedMask
    """
    params = params or RefineParams()
    image = _check_image(image)
    h, w = image.shape[:2]
    if prior.shape != (h, w) or sure_fg.shape != (h, w) or sure_bg.shape != (h, w):
        raise InputError(f"prior and seed masks must be {(h, w)} like the image, got "
                         f"{prior.shape}, {sure_fg.shape}, {sure_bg.shape}")
    rng = np.random.default_rng(rng)
    lab = rgb2lab(image)
    logit = params.gamma * prior
    if params.beta > 0:
        logit = logit + params.beta * _colour_llr(lab, sure_fg, sure_bg, params, rng)
    sp = slic(image, n_segments=params.n_segments, compactness=params.compactness,
              start_label=0).astype(np.int32)
    n = int(sp.max()) + 1
    counts = np.bincount(sp.ravel(), minlength=n).astype(np.float64)
    unary = _sp_mean(sp, logit, n, counts)
    q = 1.0 / (1.0 + np.exp(-unary))
    if params.crf_weight > 0 and params.crf_iterations > 0:
        rows, cols = np.mgrid[:h, :w]
        pos = _sp_mean(sp, np.stack([rows, cols], -1).astype(np.float64), n, counts)
        col = _sp_mean(sp, lab, n, counts)
        d_pos = ((pos[:, None] - pos[None]) ** 2).sum(-1)
        d_col = ((col[:, None] - col[None]) ** 2).sum(-1)
        kernel = np.exp(-d_pos / (2 * params.crf_position ** 2)
                        - d_col / (2 * params.crf_colour ** 2))
        np.fill_diagonal(kernel, 0.0)
        kernel *= counts[None]  # a neighbour speaks in proportion to its area
        kernel /= kernel.sum(axis=1, keepdims=True) + 1e-12
        for _ in range(params.crf_iterations):
            # Mean field for two labels: the message is the expected agreement (2q - 1).
            q = 1.0 / (1.0 + np.exp(-(unary + params.crf_weight * (kernel @ (2 * q - 1)))))
    prob = q[sp].astype(np.float32)
    mask = prob > 0.5
    if params.fill_holes:
        mask = ndi.binary_fill_holes(mask)
    return RefinedMask(mask=mask, probability=prob, superpixels=sp)


def refine_gaze_mask(image: np.ndarray, heat: np.ndarray, *,
                     params: RefineParams | None = None,
                     rng: int | np.random.Generator = 0) -> RefinedMask:
    """Refine the mask of a fixation heat map with the image.

    Parameters
    ----------
    image : (H, W, 3) ndarray
        RGB image.
    heat : (H, W) ndarray
        Heat map from :func:`.heatmap.fixation_heatmap` on this image.
    params : RefineParams, optional
    rng : int or numpy.random.Generator

    Returns
    -------
    RefinedMask
        All-false mask when the heat map is empty (no fixation on the image).
    """
    params = params or RefineParams()
    heat = np.asarray(heat, dtype=np.float64)
    level = heat_threshold(heat, factor=params.prior_factor)
    if not np.isfinite(level):
        h, w = heat.shape
        return RefinedMask(np.zeros((h, w), bool), np.zeros((h, w), np.float32),
                           np.zeros((h, w), np.int32))
    # Heat far below the level is floored so the log stays finite (odds about 1e-3).
    prior = np.log(np.maximum(heat, level * 1e-3) / level)
    return refine_with_prior(image, prior, heat > params.fg_level * level,
                             heat < params.bg_level * level, params=params, rng=rng)


def refine_box_mask(image: np.ndarray, boxes: np.ndarray, *,
                    params: RefineParams | None = None,
                    rng: int | np.random.Generator = 0) -> RefinedMask:
    """A mask inside hand-drawn (or gaze) boxes, GrabCut style.

    Inside a box the prior log-odds are +3 at its centre falling to +1 at its border (a box
    drawn around a target is mostly target); outside every box -5 (the box is taken as a
    bound). The inner half of each box trains the target colours, the outside of every box the
    background. Without ``params``, :data:`BOX_REFINE_PARAMS` (colour weight 0.5, CRF 2; chosen
    on kvasir development images, where this beats the filled box: Dice 0.856 vs 0.828).

    Parameters
    ----------
    image : (H, W, 3) ndarray
    boxes : (K, 4) array_like
        COCO boxes ``(x, y, width, height)`` in pixels.
    params : RefineParams, optional
    rng : int or numpy.random.Generator

    Returns
    -------
    RefinedMask
    """
    image = _check_image(image)
    params = params or BOX_REFINE_PARAMS
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    prior = np.full((h, w), -5.0)
    inner = np.zeros((h, w), bool)
    outside = np.ones((h, w), bool)
    rows, cols = np.mgrid[:h, :w] + 0.5  # pixel centres in box (edge) coordinates
    for x, y, bw, bh in boxes:
        # normalised distance to the box centre: 0 at the centre, 1 on the border
        d = np.maximum(np.abs(cols - (x + bw / 2)) / (bw / 2),
                       np.abs(rows - (y + bh / 2)) / (bh / 2))
        inside = d <= 1
        prior[inside] = np.maximum(prior[inside], 3.0 - 2.0 * d[inside])
        inner |= d <= 0.5
        outside &= ~inside
    result = refine_with_prior(image, prior, inner, outside, params=params, rng=rng)
    mask = result.mask & ~outside  # never outside the boxes
    return RefinedMask(mask, result.probability, result.superpixels)
