"""The packed form of gaze samples stored in :class:`annotation.models.GazeBatch`.

A batch is a float64 little-endian (n, 4) array of ``t_ms, frame, x, y`` (x = column, y = row
in image pixels; NaN = lost sample), stored with ``tobytes()``: 32 bytes a sample, no parsing
to read back, and ``numpy.frombuffer`` turns a whole recording into one array.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

COLUMNS = ("t_ms", "frame", "x", "y")
DTYPE = np.dtype("<f8")


def pack(samples: np.ndarray) -> tuple[bytes, str]:
    """(bytes, digest) of an (n, 4) sample array."""
    data = np.ascontiguousarray(samples, dtype=DTYPE).tobytes()
    return data, hashlib.blake2b(data, digest_size=16).hexdigest()


def unpack(data: bytes) -> np.ndarray:
    """(n, 4) float64 array of a stored batch."""
    return np.frombuffer(bytes(data), dtype=DTYPE).reshape(-1, 4)


def from_frame(gaze: pd.DataFrame) -> np.ndarray:
    """(n, 4) array from a canonical gaze table (observer column dropped)."""
    return gaze[list(COLUMNS)].to_numpy(dtype=float)


def to_frame(samples: np.ndarray, observer: str) -> pd.DataFrame:
    """The canonical gaze table (observer, t_ms, frame, x, y) of an (n, 4) array."""
    return pd.DataFrame(
        {
            "observer": pd.Series([observer] * len(samples), dtype=object),
            "t_ms": samples[:, 0],
            "frame": samples[:, 1].astype(np.int64),
            "x": samples[:, 2],
            "y": samples[:, 3],
        }
    )


def validate(rows, *, n_frames: int) -> np.ndarray:
    """Check client samples ``[[t_ms, frame, x, y], ...]`` (x, y null when lost).

    Returns the (n, 4) float64 array. Raises ValueError naming the first bad sample.
    """
    try:
        arr = np.asarray(rows, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "samples must be a list of [t_ms, frame, x, y] numbers (x, y null when lost)"
        ) from exc
    if arr.size == 0:
        raise ValueError("a batch needs at least one sample")
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"samples must be rows of 4 values [t_ms, frame, x, y]; got shape {arr.shape}")
    bad_t = ~np.isfinite(arr[:, 0])
    if bad_t.any():
        raise ValueError(f"sample {int(np.flatnonzero(bad_t)[0])}: t_ms must be a finite number")
    frame = arr[:, 1]
    bad_f = ~np.isfinite(frame) | (frame != np.floor(frame)) | (frame < 0) | (frame >= n_frames)
    if bad_f.any():
        k = int(np.flatnonzero(bad_f)[0])
        raise ValueError(f"sample {k}: frame {arr[k, 1]} is not a frame of this sequence (0..{n_frames - 1})")
    half = np.isnan(arr[:, 2]) != np.isnan(arr[:, 3])
    if half.any():
        raise ValueError(f"sample {int(np.flatnonzero(half)[0])}: x and y must both be given or both null")
    inf = np.isinf(arr[:, 2:]).any(axis=1)
    if inf.any():
        raise ValueError(f"sample {int(np.flatnonzero(inf)[0])}: x, y must be finite or null")
    return arr
