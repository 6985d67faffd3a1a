"""Fixations -> duration-weighted Gaussian heat map -> threshold -> blobs -> boxes.

The method of Mariam et al. (IEEE JBHI 2022, gaze labelling of keratin pearls): every fixation
adds a Gaussian weighted by its duration; the heat map is thresholded at ``factor`` times the
mean of its non-zero values (published: 4); each connected blob becomes one box.

Coordinates: fixations are given as ``x`` = column and ``y`` = row in image pixels, origin at
the centre of the top-left pixel. Arrays are indexed (row, column). Boxes are returned in the
COCO convention ``(x, y, width, height)`` in pixels, where ``(x, y)`` is the top-left corner of
the top-left pixel of the box, so a box covering columns 3..5 has ``x = 3, width = 3``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from ..errors import InputError
from .params import DEFAULT_SIGMA_PX, PUBLISHED_FACTOR, TRUNCATE


@dataclass(frozen=True)
class GazeLabels:
    """Labels derived from the fixations on one image.

    Attributes
    ----------
    heat : (H, W) float32 ndarray
        The duration-weighted heat map (sum of Gaussians, in milliseconds per pixel).
    threshold : float
        The heat level used to cut the blobs.
    mask : (H, W) bool ndarray
        Pixels whose heat exceeds ``threshold`` (after dropping blobs under ``min_area``).
    boxes : (K, 4) float64 ndarray
        One COCO box ``(x, y, width, height)`` per blob of ``mask``.
    """

    heat: np.ndarray
    threshold: float
    mask: np.ndarray
    boxes: np.ndarray


def sigma_pixels(sigma_px: float | None = None, *, sigma_deg: float | None = None,
                 px_per_degree: float | None = None) -> float:
    """The Gaussian's standard deviation in pixels, from pixels or from degrees.

    Parameters
    ----------
    sigma_px : float, optional
        Standard deviation in image pixels; used as is.
    sigma_deg : float, optional
        Standard deviation in degrees of visual angle; needs ``px_per_degree``.
    px_per_degree : float, optional
        Image pixels per degree of visual angle of the display set-up.

    Returns
    -------
    float
        ``sigma_px``, or ``sigma_deg * px_per_degree``, or :data:`DEFAULT_SIGMA_PX`.
    """
    if sigma_px is not None and sigma_deg is not None:
        raise InputError("give the Gaussian width either in pixels or in degrees, not both")
    if sigma_deg is not None:
        if px_per_degree is None or not px_per_degree > 0:
            raise InputError(
                f"sigma_deg={sigma_deg} needs a positive px_per_degree (got {px_per_degree})"
            )
        sigma_px = sigma_deg * px_per_degree
    if sigma_px is None:
        sigma_px = DEFAULT_SIGMA_PX
    if not sigma_px > 0:
        raise InputError(f"the Gaussian width must be positive pixels, got {sigma_px}")
    return float(sigma_px)


def fixation_heatmap(
    points: np.ndarray,
    shape: tuple[int, int],
    *,
    weights: np.ndarray | None = None,
    sigma: float = DEFAULT_SIGMA_PX,
) -> np.ndarray:
    """Sum of Gaussians, one per fixation, weighted by its duration.

    Each fixation's weight is split bilinearly over the four pixels around it (so sub-pixel
    positions count) and the result is convolved with a Gaussian of standard deviation
    ``sigma`` cut at :data:`TRUNCATE` standard deviations: the same as summing truncated
    Gaussians, in O(H W) whatever the number of fixations.

    Parameters
    ----------
    points : (K, 2) array_like
        Fixations as ``(x, y)`` = (column, row) in image pixels. Rows with NaN and points
        outside the image are ignored.
    shape : (H, W) tuple of int
        Image size.
    weights : (K,) array_like, optional
        Weight of each fixation (its duration in ms); all 1 when omitted.
    sigma : float
        Gaussian standard deviation in pixels.

    Returns
    -------
    heat : (H, W) float32 ndarray
        Non-negative; zero farther than ``TRUNCATE * sigma`` from every fixation.
    """
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    wts = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    if wts.shape != (len(pts),):
        raise InputError(f"weights must have one value per fixation ({len(pts)}), got {wts.shape}")
    if np.any(wts < 0):
        raise InputError("fixation weights (durations) must be non-negative")
    ok = np.isfinite(pts).all(axis=1) & np.isfinite(wts)
    x, y, wts = pts[ok, 0], pts[ok, 1], wts[ok]
    inside = (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
    x, y, wts = x[inside], y[inside], wts[inside]

    acc = np.zeros((h + 1, w + 1))  # one spare row/column takes the far bilinear neighbours
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    c0, r0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fc, fr = x - c0, y - r0
    np.add.at(acc, (r0, c0), wts * (1 - fr) * (1 - fc))
    np.add.at(acc, (r0, c0 + 1), wts * (1 - fr) * fc)
    np.add.at(acc, (r0 + 1, c0), wts * fr * (1 - fc))
    np.add.at(acc, (r0 + 1, c0 + 1), wts * fr * fc)
    acc = acc[:h, :w]
    heat = ndi.gaussian_filter(acc, sigma=float(sigma), mode="constant", truncate=TRUNCATE)
    heat[heat < 1e-9 * max(heat.max(), 1e-300)] = 0.0  # float dust outside the support
    return heat.astype(np.float32)


def heat_threshold(heat: np.ndarray, *, factor: float = PUBLISHED_FACTOR) -> float:
    """``factor`` times the mean of the non-zero heat (the published rule uses 4).

    Parameters
    ----------
    heat : (H, W) ndarray
        A heat map from :func:`fixation_heatmap`.
    factor : float
        Multiple of the mean non-zero heat.

    Returns
    -------
    float
        The threshold; ``inf`` when the heat map is all zero (no fixation on the image).
    """
    nz = heat[heat > 0]
    if nz.size == 0:
        return float("inf")
    return float(factor * nz.mean())


def mask_to_boxes(mask: np.ndarray, *, min_area: int = 0) -> np.ndarray:
    """One COCO box per 8-connected blob of a binary mask.

    Parameters
    ----------
    mask : (H, W) bool ndarray
    min_area : int
        Blobs with fewer pixels are ignored.

    Returns
    -------
    boxes : (K, 4) float64 ndarray
        ``(x, y, width, height)`` in pixels, ordered by blob label (top to bottom scan).
    """
    labels = measure.label(np.asarray(mask, dtype=bool), connectivity=2)
    boxes = []
    for region in measure.regionprops(labels):
        if region.area < min_area:
            continue
        r0, c0, r1, c1 = region.bbox
        boxes.append((c0, r0, c1 - c0, r1 - r0))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def remove_small_blobs(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without its 8-connected blobs of fewer than ``min_area`` pixels."""
    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1:
        return mask.copy()
    labels = measure.label(mask, connectivity=2)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def gaze_labels(
    points: np.ndarray,
    shape: tuple[int, int],
    *,
    durations: np.ndarray | None = None,
    sigma: float = DEFAULT_SIGMA_PX,
    factor: float = PUBLISHED_FACTOR,
    min_area: int = 0,
) -> GazeLabels:
    """Heat map, threshold, blobs and boxes for the fixations on one image.

    Parameters
    ----------
    points : (K, 2) array_like
        Fixations ``(x, y)`` = (column, row) in pixels.
    shape : (H, W) tuple of int
        Image size.
    durations : (K,) array_like, optional
        Fixation durations (ms), the weights of the Gaussians; equal weights when omitted.
    sigma : float
        Gaussian standard deviation in pixels (see :func:`sigma_pixels` for degrees).
    factor : float
        Threshold = ``factor`` x mean non-zero heat (published: 4).
    min_area : int
        Blobs smaller than this many pixels are dropped (0 keeps all, as published).

    Returns
    -------
    GazeLabels
    """
    heat = fixation_heatmap(points, shape, weights=durations, sigma=sigma)
    thr = heat_threshold(heat, factor=factor)
    mask = remove_small_blobs(heat > thr, min_area)
    return GazeLabels(heat=heat, threshold=thr, mask=mask, boxes=mask_to_boxes(mask))
