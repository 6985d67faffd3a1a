"""The packed form of gaze samples stored in :class:`annotation.models.GazeBatch`.

A batch is a float64 little-endian (n, 4) array of ``t_ms, frame, x, y`` (x = column, y = row
in image pixels; NaN = lost sample), stored with ``tobytes()``: 32 bytes a sample, no parsing
to read back, and ``numpy.frombuffer`` turns a whole recording into one array.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from segmentation.engine import MAX_ABS_COORDINATE, MAX_ABS_T_MS

from .models import MAX_BATCH_SAMPLES

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


def _is_number(value) -> bool:
    """A JSON number: int or float, never a bool (``True`` is an int to Python) or a string."""
    return type(value) in (int, float)


def validate(rows, *, n_frames: int) -> np.ndarray:
    """Check client samples ``[[t_ms, frame, x, y], ...]`` (x, y null when lost).

    Only JSON numbers are accepted (a string such as ``"1.5"``, a boolean or an object is
    refused, not converted); ``frame`` is a whole number of the sequence; t_ms and the
    coordinates are finite and within :data:`MAX_ABS_T_MS` / :data:`MAX_ABS_COORDINATE`; a
    batch holds 1 to :data:`MAX_BATCH_SAMPLES` samples. Returns the (n, 4) float64 array.
    Raises ValueError naming the first bad sample.
    """
    if not isinstance(rows, list):
        raise ValueError("samples must be a list of [t_ms, frame, x, y] numbers (x, y null when lost)")
    if not rows:
        raise ValueError("a batch needs at least one sample")
    if len(rows) > MAX_BATCH_SAMPLES:
        raise ValueError(f"a batch holds at most {MAX_BATCH_SAMPLES} samples, got {len(rows)}; send more batches")
    for k, row in enumerate(rows):
        _check_row_types(k, row)
    try:
        arr = np.array([[v if v is not None else np.nan for v in row] for row in rows], dtype=float)
    except OverflowError as exc:  # an integer beyond any float
        raise ValueError("samples hold a number too large for a float") from exc
    bad_t = ~(np.abs(arr[:, 0]) <= MAX_ABS_T_MS)
    if bad_t.any():
        k = int(np.flatnonzero(bad_t)[0])
        raise ValueError(f"sample {k}: t_ms {arr[k, 0]:g} must be a finite number within ±{MAX_ABS_T_MS:g}")
    frame = arr[:, 1]
    bad_f = ~np.isfinite(frame) | (frame != np.floor(frame)) | (frame < 0) | (frame >= n_frames)
    if bad_f.any():
        k = int(np.flatnonzero(bad_f)[0])
        raise ValueError(f"sample {k}: frame {float(arr[k, 1])} is not a frame of this sequence (0..{n_frames - 1})")
    half = np.isnan(arr[:, 2]) != np.isnan(arr[:, 3])
    if half.any():
        raise ValueError(f"sample {int(np.flatnonzero(half)[0])}: x and y must both be given or both null")
    check_bounds(arr)
    return arr


def _check_row_types(k: int, row) -> None:
    """Sample ``k`` is ``[t_ms, frame, x, y]`` of JSON numbers (x, y may be null)."""
    if not isinstance(row, list) or len(row) != 4:
        raise ValueError(f"sample {k}: samples must be rows of 4 values [t_ms, frame, x, y], got {_short(row)}")
    t, frame, x, y = row
    if not _is_number(t):
        raise ValueError(f"sample {k}: t_ms must be a finite number (numbers only, no strings or "
                         f"booleans), got {_short(t)}")
    if not _is_number(frame):
        raise ValueError(f"sample {k}: frame must be a whole number (numbers only, no strings or "
                         f"booleans), got {_short(frame)}")
    for name, v in (("x", x), ("y", y)):
        if v is not None and not _is_number(v):
            raise ValueError(f"sample {k}: {name} must be a number or null (numbers only, no strings "
                             f"or booleans), got {_short(v)}")


def check_bounds(samples: np.ndarray) -> None:
    """Raise ValueError naming the first sample whose t_ms or x, y is not finite or out of bounds.

    NaN x, y mark a lost sample; anything else must lie within the bounds. Every batch goes
    through this before it is stored, whichever way it came (live, or a tracker file).
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != 4:
        raise ValueError(f"samples are rows of [t_ms, frame, x, y], got shape {samples.shape}")
    bad_t = ~(np.abs(samples[:, 0]) <= MAX_ABS_T_MS)
    with np.errstate(invalid="ignore"):
        xy = samples[:, 2:]
        bad_xy = (~np.isnan(xy) & ~(np.abs(xy) <= MAX_ABS_COORDINATE)).any(axis=1)
    bad = bad_t | bad_xy
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        t, _, x, y = samples[k]
        what = (f"t_ms {t:g} must be a finite number within ±{MAX_ABS_T_MS:g}" if bad_t[k] else
                f"x, y = {x:g}, {y:g} must be finite pixel coordinates within ±{MAX_ABS_COORDINATE:g} (or null)")
        raise ValueError(f"sample {k}: {what}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
