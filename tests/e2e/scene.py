"""A small synthetic sequence for the browser tests: a bright disc moving over a texture."""

from __future__ import annotations

import io
import zipfile

import numpy as np

FRAMES, ROWS, COLS, RADIUS = 10, 96, 128, 14


def disc_centre(frame: int) -> tuple[float, float]:
    """(x, y) = (column, row) of the disc's centre in ``frame``."""
    # 5 px a frame: a pointer one or two frames late is still on the disc (radius 14).
    return 30.0 + 5.0 * frame, 48.0 + 3.0 * np.sin(frame / 2.0)


def sequence_arrays() -> tuple[np.ndarray, np.ndarray]:
    """frames (T, H, W) uint8 and masks (T, H, W) bool of the moving disc."""
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    background = 60 + 40 * np.sin(cols / 9.0) * np.cos(rows / 11.0)
    frames, masks = [], []
    for t in range(FRAMES):
        x, y = disc_centre(t)
        mask = (cols - x) ** 2 + (rows - y) ** 2 <= RADIUS**2
        image = background + rng.normal(0, 6, (ROWS, COLS))
        image[mask] = 210 + rng.normal(0, 6, int(mask.sum()))
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
        masks.append(mask)
    return np.stack(frames), np.stack(masks)


def png_zip(images: np.ndarray, folder: str) -> bytes:
    import imageio.v3 as iio

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, image in enumerate(images):
            archive.writestr(f"{folder}/{k:05d}.png", iio.imwrite("<bytes>", image, extension=".png"))
    return buffer.getvalue()
