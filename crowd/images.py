"""Images the platform serves or stores: the one PNG encoder, and frames scaled for display.

Frames on the recording page, result overlays, mask zips of exports and gaze boxes all become
PNG here, so that every PNG the platform writes is encoded the same way.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["display_uint8", "mask_png", "png_bytes"]


def png_bytes(image: np.ndarray, *, compress_level: int = 6) -> bytes:
    """``image`` (H, W) or (H, W, 3|4) uint8 as PNG bytes (zlib ``compress_level`` 0..9)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    """A binary mask (H, W), any dtype (nonzero = object), as an 8-bit PNG: 0 or 255.

    ``compress_level=1`` rather than the default or ``optimize=True``: a binary mask compresses
    almost as well, and re-exporting a run at another threshold must stay fast (bench/exports.py).
    """
    return png_bytes((np.asarray(mask) > 0).astype(np.uint8) * np.uint8(255), compress_level=1)


def display_uint8(frames: np.ndarray, index: int, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Frame ``index`` as uint8; volumes scaled by the whole sequence's range (no flicker)."""
    frame = np.asarray(frames[index])
    if frames.dtype == np.uint8:
        return frame
    lo, hi = value_range or (float(np.nanmin(frames)), float(np.nanmax(frames)))
    scaled = (frame.astype(float) - lo) / (hi - lo if hi > lo else 1.0)
    return np.clip(np.nan_to_num(scaled) * 255.0 + 0.5, 0, 255).astype(np.uint8)
