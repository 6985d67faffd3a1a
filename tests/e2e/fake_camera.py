"""A short face video for Chromium's fake camera (``--use-file-for-fake-video-capture``).

The face is ``data/astronaut-face.png``: a crop of NASA's portrait of astronaut Eileen Collins
(NASA photo STS-93, 1998; a work of the US government, public domain), taken from
scikit-image's sample data (``skimage.data.astronaut()``, which states it is public domain and
is what scikit-image itself redistributes). The video moves the face by a few pixels in a small
circle (a head that is not perfectly still); the eyes themselves do not move, so a gaze model
calibrated on it cannot be accurate: the browser test measures and stores whatever accuracy it
gets, which tests the pipeline, not the accuracy.

Chromium reads YUV4MPEG2 (4:2:0) and loops the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACE = Path(__file__).with_name("data") / "astronaut-face.png"
WIDTH, HEIGHT, FPS = 640, 480, 30


def _rgb_to_yuv420(rgb: np.ndarray) -> bytes:
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    sub = lambda c: c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3))  # noqa: E731
    planes = [y, sub(u), sub(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def face_frames(n_frames: int = 30, *, amplitude_px: float = 4.0) -> list[np.ndarray]:
    """``n_frames`` RGB frames (HEIGHT, WIDTH, 3): the face, scaled to the frame's height, centred,
    moving on a circle of ``amplitude_px``."""
    from PIL import Image

    face = Image.open(FACE).convert("RGB").resize((HEIGHT, HEIGHT), Image.BICUBIC)
    base = np.zeros((HEIGHT + 20, WIDTH + 20, 3), np.uint8)
    base[:] = (235, 235, 240)  # the photo's light grey backdrop, around it
    left = (WIDTH + 20 - HEIGHT) // 2
    base[10:10 + HEIGHT, left:left + HEIGHT] = np.asarray(face)
    frames = []
    for k in range(n_frames):
        a = 2 * np.pi * k / n_frames
        dx, dy = int(round(10 + amplitude_px * np.cos(a))), int(round(10 + amplitude_px * np.sin(a)))
        frames.append(base[dy:dy + HEIGHT, dx:dx + WIDTH])
    return frames


def write_y4m(path: Path, n_frames: int = 30) -> Path:
    """Write the face video as YUV4MPEG2 at ``path``; returns it."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in face_frames(n_frames):
            out.write(b"FRAME\n")
            out.write(_rgb_to_yuv420(frame))
    return path


if __name__ == "__main__":  # python tests/e2e/fake_camera.py out.y4m
    import sys

    print(write_y4m(Path(sys.argv[1] if len(sys.argv) > 1 else "face.y4m")))
