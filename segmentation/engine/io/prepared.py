"""Save and load a :class:`~segmentation.engine.prepared.PreparedFrames` as one ``.npz``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError

_ARRAYS = ["labels", "features", "frame_of", "centroids", "sizes", "colour_mean", "colour_cov",
           "theta_gradient", "theta_flow"]
FORMAT_VERSION = 1


def save_prepared(prepared, path) -> Path:
    """Write ``prepared`` to ``path`` (a compressed ``.npz``; the suffix is added if absent)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz")
    arrays = {k: getattr(prepared, k) for k in _ARRAYS if getattr(prepared, k) is not None}
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_names": list(prepared.feature_names),
        "px_per_degree": float(prepared.px_per_degree),
        "params": prepared.params,
        "timings": prepared.timings,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, _meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                        **arrays)
    return path


def load_prepared(path):
    """Read a sequence written by :func:`save_prepared`.

    Raises
    ------
    InputError
        The file is missing, not such an archive, or from an incompatible version.
    """
    from ..prepared import PreparedFrames

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such prepared-sequence file") from None
    except Exception as exc:
        raise InputError(f"{path}: not a prepared-sequence .npz ({exc})") from exc
    if "_meta" not in data:
        raise InputError(f"{path}: not a prepared-sequence file (no metadata)")
    meta = json.loads(bytes(data.pop("_meta")).decode())
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: prepared format {meta.get('format_version')}, expected "
                         f"{FORMAT_VERSION}; prepare the sequence again")
    missing = [k for k in _ARRAYS if k != "theta_flow" and k not in data]
    if missing:
        raise InputError(f"{path}: prepared file lacks {', '.join(missing)}")
    return PreparedFrames(
        feature_names=meta["feature_names"], px_per_degree=meta["px_per_degree"],
        params=meta["params"], timings=meta["timings"], theta_flow=data.pop("theta_flow", None),
        **data,
    )
