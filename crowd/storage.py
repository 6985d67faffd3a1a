"""Media storage: the one place that reads and writes files of the platform.

Everything goes through Django's storage API (``default_storage.open`` / ``save`` /
``delete``), never through ``.path``: on S3-compatible storage there is no local path, and
code that asked for one worked on a laptop and failed in production. Every app imports this
module (crowd is the lowest layer), so sequences, estimates, ground truth, reports and gaze
boxes are stored the same way.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def save_bytes(name: str, data: bytes) -> str:
    """Store ``data`` under exactly ``name``, replacing an older file (idempotent re-runs)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def save_file(name: str, path) -> str:
    """Store the local file ``path`` under exactly ``name`` (replacing an older one), streamed
    in chunks: a run's ground truth of a long sequence is never whole in memory."""
    from django.core.files import File

    if default_storage.exists(name):
        default_storage.delete(name)
    with open(path, "rb") as handle:
        return default_storage.save(name, File(handle, name=str(name).rsplit("/", 1)[-1]))


def save_unique(prefix: str, name: str, data: bytes) -> str:
    """Store ``data`` as ``<prefix>/<random>/<name>``: a new file that never replaces another
    (uploads: two sequences of a study may both be ``frames.npy``). Returns the stored name."""
    return default_storage.save(f"{prefix}/{secrets.token_hex(8)}/{name}", ContentFile(data))


def save_unique_file(prefix: str, name: str, path) -> str:
    """:func:`save_unique` for the local file ``path``, streamed: a sequence's frames are
    never whole in memory on their way to the storage."""
    from django.core.files import File

    with open(path, "rb") as handle:
        return default_storage.save(f"{prefix}/{secrets.token_hex(8)}/{name}", File(handle, name=name))


def exists(name: str) -> bool:
    return default_storage.exists(name)


def delete(names: Iterable[str]) -> None:
    """Delete the named files (empty names are skipped)."""
    for name in names:
        if name:
            default_storage.delete(name)


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def save_npz(name: str, **arrays: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return save_bytes(name, buffer.getvalue())


def load_npz(name: str) -> dict[str, np.ndarray]:
    with default_storage.open(name, "rb") as handle:
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def load_npy(name: str, *, mmap: bool = False) -> np.ndarray:
    """The array stored in ``.npy`` file ``name``.

    With ``mmap``, memory-mapped read-only when the storage hands out a real file (a local
    folder): a sequence of a gigabyte is then read page by page as frames are asked for.
    Object storage has no file descriptor to map, so the bytes are read into memory there.
    """
    with default_storage.open(name, "rb") as handle:
        if mmap:
            mapped = _memmap(handle)
            if mapped is not None:
                return mapped
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


def _memmap(handle) -> np.memmap | None:
    """A read-only memory map of the open ``.npy`` file ``handle``; None when it is not a
    local file (the map duplicates the descriptor, so it outlives the handle)."""
    try:
        handle.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    raw = getattr(handle, "file", handle)
    raw.seek(0)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(raw))
    if read_header is None:
        return None
    shape, fortran_order, dtype = read_header(raw)
    if dtype.hasobject or 0 in shape:  # nothing to map
        return None
    return np.memmap(raw, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                     order="F" if fortran_order else "C")


def load_npz_row(name: str, key: str, index: int) -> np.ndarray | None:
    """``array[index]`` of array ``key`` in npz file ``name``, reading and decompressing the
    member only up to that row (a zip member is one deflate stream: row 0 costs a header,
    the last row the whole member). None when the member is not a C-ordered array or has no
    such row. For one frame of a large stored map before (or instead of) decoding all of it."""
    import zipfile

    with default_storage.open(name, "rb") as handle, zipfile.ZipFile(handle) as archive:
        try:
            member = archive.open(f"{key}.npy")
        except KeyError:
            return None
        with member:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(member))
            if read_header is None:
                return None
            shape, fortran_order, dtype = read_header(member)
            if fortran_order or dtype.hasobject or not shape or not 0 <= index < shape[0]:
                return None
            row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            member.seek(index * row, 1)  # forward: decompressed and dropped, never held
            data = member.read(row)
    if len(data) != row:
        return None
    return np.frombuffer(data, dtype=dtype).reshape(shape[1:])
