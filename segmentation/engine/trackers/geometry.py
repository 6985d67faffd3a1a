"""Display geometry: where the image sat on the screen and how big a degree of visual angle is.

Screen and image coordinates are both (x, y) = (column, row) in pixels, origin at the top-left
pixel centre. Nothing here knows about files or Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class DisplayGeometry:
    """The screen an observer watched and where the image was drawn on it.

    Parameters
    ----------
    screen_px : (width, height) of the screen in pixels.
    screen_cm : (width, height) of the screen's visible area in centimetres, or None.
    distance_cm : eye-to-screen distance in centimetres, or None.
    image_rect : (left, top, width, height) of the displayed image in screen pixels, or None
        for the default: the image scaled to fit the screen, aspect kept, centred.
    """

    screen_px: tuple[float, float]
    screen_cm: tuple[float, float] | None = None
    distance_cm: float | None = None
    image_rect: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        w, h = self.screen_px
        if not (w > 0 and h > 0):
            raise InputError(f"screen size must be positive pixels, got {self.screen_px}")
        if self.screen_cm is not None and not (self.screen_cm[0] > 0 and self.screen_cm[1] > 0):
            raise InputError(f"screen size must be positive centimetres, got {self.screen_cm}")
        if self.distance_cm is not None and not self.distance_cm > 0:
            raise InputError(f"viewing distance must be positive centimetres, got {self.distance_cm}")
        if self.image_rect is not None and not (self.image_rect[2] > 0 and self.image_rect[3] > 0):
            raise InputError(f"image_rect width and height must be positive, got {self.image_rect}")

    def rect_for(self, image_hw: tuple[int, int]) -> tuple[float, float, float, float]:
        """(left, top, width, height) of an image of ``image_hw`` = (rows, columns) on screen."""
        if self.image_rect is not None:
            return tuple(float(v) for v in self.image_rect)
        return fit_image_rect(self.screen_px, image_hw)

    def screen_px_per_degree(self) -> float:
        """Screen pixels per degree of visual angle at the screen centre.

        One degree spans ``2 d tan(0.5 deg)`` centimetres at distance ``d``.
        """
        if self.screen_cm is None or self.distance_cm is None:
            raise InputError(
                "pixels per degree need the screen size in centimetres and the viewing distance"
            )
        px_per_cm = self.screen_px[0] / self.screen_cm[0]
        cm_per_degree = 2.0 * self.distance_cm * math.tan(math.radians(0.5))
        return px_per_cm * cm_per_degree

    def image_px_per_degree(self, image_hw: tuple[int, int]) -> float:
        """Image pixels per degree: screen pixels per degree over the display scale factor."""
        _, _, width, _ = self.rect_for(image_hw)
        scale = width / image_hw[1]  # screen pixels per image pixel
        return self.screen_px_per_degree() / scale

    def screen_to_image(
        self, x: np.ndarray, y: np.ndarray, image_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map screen pixels to image pixels (x = column, y = row). NaN stays NaN.

        Points off the image are kept (off-target glances are information); the engine
        decides what to do with them.
        """
        left, top, width, height = self.rect_for(image_hw)
        rows, cols = image_hw
        # Pixel centres: screen pixel x covers [x - 0.5, x + 0.5]; the image's left edge is at
        # left - 0.5 on screen and at -0.5 in image pixels.
        xi = (np.asarray(x, dtype=float) - left + 0.5) * (cols / width) - 0.5
        yi = (np.asarray(y, dtype=float) - top + 0.5) * (rows / height) - 0.5
        return xi, yi

    def image_to_screen(
        self, x: np.ndarray, y: np.ndarray, image_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map image pixels back to screen pixels: the inverse of :meth:`screen_to_image`."""
        left, top, width, height = self.rect_for(image_hw)
        rows, cols = image_hw
        xs = (np.asarray(x, dtype=float) + 0.5) * (width / cols) + left - 0.5
        ys = (np.asarray(y, dtype=float) + 0.5) * (height / rows) + top - 0.5
        return xs, ys


def fit_image_rect(
    screen_px: tuple[float, float], image_hw: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The largest aspect-preserving rectangle for ``image_hw`` centred on the screen.

    Returns (left, top, width, height) in screen pixels.
    """
    sw, sh = float(screen_px[0]), float(screen_px[1])
    rows, cols = image_hw
    scale = min(sw / cols, sh / rows)
    width, height = cols * scale, rows * scale
    return (sw - width) / 2.0, (sh - height) / 2.0, width, height
