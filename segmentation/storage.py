"""Arrays in media storage: write and read ``.npy`` / ``.npz`` through Django's storage API.

Going through ``default_storage`` (never ``.path``) keeps results on S3-compatible storage
working the same as on a local disk.
"""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def save_bytes(name: str, data: bytes) -> str:
    """Store ``data`` under exactly ``name``, replacing an older file (idempotent re-runs)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def save_npz(name: str, **arrays: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return save_bytes(name, buffer.getvalue())


def load_npz(name: str) -> dict[str, np.ndarray]:
    with default_storage.open(name, "rb") as handle:
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def load_npy(name: str) -> np.ndarray:
    with default_storage.open(name, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()
