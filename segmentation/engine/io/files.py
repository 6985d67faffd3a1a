"""Small files of runs and models: JSON records, stored score maps, torch weights.

The command line writes a run folder (``metrics.json``, ``scores_<method>.npy``, one PNG mask
per frame) and ``export`` reads it back; the feature extractor reads ResNet-18 weights. Kept
here so that the algorithms and the commands never open a file themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["load_score_map", "load_torch_state", "read_json", "save_score_map", "write_json"]


def write_json(path, data, *, final_newline: bool = False) -> Path:
    """Write ``data`` as indented JSON (``indent=2``) to ``path``; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(data, indent=2) + ("\n" if final_newline else ""),
                    encoding="utf-8")
    return path


def read_json(path) -> dict:
    """A JSON file's content; a file that is not JSON is an :class:`InputError` naming the
    line."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from exc


def save_score_map(path, scores) -> Path:
    """Write a (T, H, W) score map as float32 ``.npy``; returns the path."""
    path = Path(path)
    np.save(path, np.asarray(scores).astype(np.float32))
    return path


def load_score_map(path) -> np.ndarray:
    """A score map written by :func:`save_score_map`, memory-mapped read-only (a long
    sequence is cut into masks without loading it whole)."""
    return np.load(Path(path), mmap_mode="r")


def load_torch_state(path, *, what: str = "weights") -> dict:
    """A ``state_dict`` saved with ``torch.save``, loaded on the CPU without unpickling code.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should hold, for the error message.

    Raises
    ------
    InputError
        When the file cannot be read as torch weights.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot read {what} ({exc}); pass a local state_dict file "
                         "saved with torch.save") from exc
