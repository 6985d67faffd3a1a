"""From the fixations on one image to its labels: heat map, coarse and refined masks, boxes."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .heatmap import gaze_labels, mask_to_boxes
from .params import DEFAULT_SIGMA_PX, PUBLISHED_FACTOR, RefineParams
from .refine import refine_gaze_mask


@dataclass(frozen=True)
class GazeBoxParams:
    """Everything that turns fixations into labels, with its default.

    Attributes
    ----------
    sigma : float
        Gaussian standard deviation in image pixels (16; see :func:`.heatmap.sigma_pixels`
        to give it in degrees).
    factor : float
        Coarse labels: threshold at ``factor`` x the mean non-zero heat (4, as published).
    min_area : int
        Blobs of fewer pixels give no box (0: every blob, as published).
    refine : bool
        Refine the masks with the image (True); boxes are then those of the refined mask.
    refine_params : RefineParams
        See :class:`.refine.RefineParams`.
    """

    sigma: float = DEFAULT_SIGMA_PX
    factor: float = PUBLISHED_FACTOR
    min_area: int = 0
    refine: bool = True
    refine_params: RefineParams = field(default_factory=RefineParams)


@dataclass(frozen=True)
class ImageLabels:
    """Labels of one image.

    Attributes
    ----------
    heat : (H, W) float32 ndarray
    threshold : float
        The coarse threshold.
    coarse_mask : (H, W) bool ndarray
        Heat above the threshold (the published labels).
    coarse_boxes : (K, 4) float64 ndarray
        One COCO box per coarse blob.
    mask : (H, W) bool ndarray
        The refined mask (the coarse one when refinement is off).
    boxes : (L, 4) float64 ndarray
        One COCO box per blob of ``mask``.
    probability : (H, W) float32 ndarray or None
        Target probability from the refinement.
    """

    heat: np.ndarray
    threshold: float
    coarse_mask: np.ndarray
    coarse_boxes: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    probability: np.ndarray | None


def label_image(image: np.ndarray, points: np.ndarray, durations: np.ndarray | None = None, *,
                params: GazeBoxParams | None = None,
                rng: int | np.random.Generator = 0) -> ImageLabels:
    """Heat map, coarse labels and (optionally) refined labels of one image.

    Parameters
    ----------
    image : (H, W, 3) ndarray
        RGB image (only its size is used when ``params.refine`` is false).
    points : (K, 2) array_like
        Fixations ``(x, y)`` = (column, row) in pixels, of every observer of the image.
    durations : (K,) array_like, optional
        Fixation durations in ms (the weights).
    params : GazeBoxParams, optional
    rng : int or numpy.random.Generator
        Seeds the refinement's colour model.

    Returns
    -------
    ImageLabels
    """
    params = params or GazeBoxParams()
    shape = np.asarray(image).shape[:2]
    coarse = gaze_labels(points, shape, durations=durations, sigma=params.sigma,
                         factor=params.factor, min_area=params.min_area)
    if not params.refine:
        return ImageLabels(coarse.heat, coarse.threshold, coarse.mask, coarse.boxes,
                           coarse.mask, coarse.boxes, None)
    refined = refine_gaze_mask(image, coarse.heat, params=params.refine_params, rng=rng)
    return ImageLabels(coarse.heat, coarse.threshold, coarse.mask, coarse.boxes, refined.mask,
                       mask_to_boxes(refined.mask, min_area=params.min_area),
                       refined.probability)


def label_images(images: Mapping[str, np.ndarray] | Callable[[str], np.ndarray],
                 names: list[str], fixations: pd.DataFrame, *,
                 params: GazeBoxParams | None = None, rng: int = 0,
                 progress: Callable[[str, float], None] | None = None
                 ) -> dict[str, ImageLabels]:
    """:func:`label_image` for many images, fixations from a table.

    Parameters
    ----------
    images : mapping name -> (H, W, 3) ndarray, or callable name -> image
        A callable lets a caller read images one at a time.
    names : list of str
        The images to label (an image without fixation gets empty labels).
    fixations : pandas.DataFrame
        Columns ``image``, ``x``, ``y`` and optionally ``duration_ms`` (as read by
        :func:`.io.read_fixations_csv`); the fixations of all observers of an image are pooled.
    params : GazeBoxParams, optional
    rng : int
        Each image's seed is ``rng`` plus the CRC-32 of its name, so an image gets the same
        labels whichever other images are labelled with it.
    progress : callable, optional
        ``progress("label", fraction)``.

    Returns
    -------
    dict name -> ImageLabels
    """
    groups = {str(k): g for k, g in fixations.groupby("image", sort=False)}
    get = images if callable(images) else images.__getitem__
    out = {}
    for k, name in enumerate(names):
        g = groups.get(name)
        pts = np.zeros((0, 2)) if g is None else g[["x", "y"]].to_numpy(dtype=np.float64)
        dur = None
        if g is not None and "duration_ms" in g:
            dur = g["duration_ms"].to_numpy(dtype=np.float64)
        seed = (rng + zlib.crc32(name.encode())) % 2**32
        out[name] = label_image(get(name), pts, dur, params=params, rng=seed)
        if progress is not None:
            progress("label", (k + 1) / len(names))
    return out
