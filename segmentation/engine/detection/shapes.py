"""Hand-drawn labels as arrays: freehand outlines and boxes -> masks (for the manual modes).

Outline vertices and boxes are in image pixels with ``x`` = column and ``y`` = row; a box is
COCO ``(x, y, width, height)`` whose ``(x, y)`` is the top-left corner of its top-left pixel.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon as draw_polygon

from ..errors import InputError


def outline_to_mask(outline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fill a closed freehand outline.

    Parameters
    ----------
    outline : (K, 2) array_like
        Vertices ``(x, y)`` (column, row, pixel centres), K >= 3; the last joins the first.
    shape : (H, W) tuple of int

    Returns
    -------
    (H, W) bool ndarray
        Pixels whose centre lies inside the polygon (parts outside the image are cut).
    """
    pts = np.asarray(outline, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise InputError(f"an outline needs at least 3 finite (x, y) vertices, got shape "
                         f"{pts.shape}")
    mask = np.zeros(shape, dtype=bool)
    rr, cc = draw_polygon(pts[:, 1], pts[:, 0], shape=shape)
    mask[rr, cc] = True
    return mask


def boxes_to_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The union of COCO boxes as a mask (pixels whose centre lies inside a box).

    Parameters
    ----------
    boxes : (K, 4) array_like
        ``(x, y, width, height)``.
    shape : (H, W) tuple of int

    Returns
    -------
    (H, W) bool ndarray
    """
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        # pixel c (centre c + 0.5 in edge coordinates) is inside when x <= c + 0.5 < x + w
        c0, c1 = int(np.ceil(x - 0.5)), int(np.ceil(x + w - 0.5))
        r0, r1 = int(np.ceil(y - 0.5)), int(np.ceil(y + h - 0.5))
        mask[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = True
    return mask
