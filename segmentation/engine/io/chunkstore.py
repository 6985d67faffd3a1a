"""A folder of per-chunk arrays: how a chunked run keeps a long sequence on disk.

Every per-frame or per-superpixel array of a chunked run (:mod:`segmentation.engine.chunks`)
is one ``.npy`` file per chunk, ``<name>-<chunk>.npy``, read back memory-mapped so that a
step holds only the pages it touches. Writes go to a temporary file in the same folder and
are renamed into place (:func:`os.replace` is atomic on POSIX): a worker that dies mid-write
leaves no half file, and a retried step writes the same name again, so there is never more
than one result per chunk.

:func:`write_npz_blocks` writes a ``.npz`` (what :func:`numpy.savez_compressed` writes) from
arrays given block by block along their first axis, so that a sequence-sized array is stored
without ever being whole in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = [
    "chunk_file",
    "has_chunk_array",
    "remove_chunk_arrays",
    "read_chunk_array",
    "read_chunk_json",
    "write_chunk_array",
    "write_chunk_json",
    "write_npz_blocks",
]


def chunk_file(folder, name: str, index: int) -> Path:
    """Path of array ``name`` of chunk ``index`` in ``folder``."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"chunk array name {name!r}: letters, digits, '-' and '_' only")
    return Path(folder) / f"{name}-{int(index):05d}.npy"


def _replace_atomically(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_chunk_array(folder, name: str, index: int, array) -> Path:
    """Store ``array`` as ``name`` of chunk ``index``, replacing an older one atomically."""
    array = np.ascontiguousarray(array)
    return _replace_atomically(chunk_file(folder, name, index),
                               lambda h: np.save(h, array, allow_pickle=False))


def has_chunk_array(folder, name: str, index: int) -> bool:
    return chunk_file(folder, name, index).is_file()


def remove_chunk_arrays(folder, names) -> int:
    """Delete every chunk's arrays named ``names`` (and JSON documents of those names);
    returns how many files went."""
    gone = 0
    for name in names:
        paths = list(Path(folder).glob(f"{name}-[0-9][0-9][0-9][0-9][0-9].npy"))
        paths.append(Path(folder) / f"{name}.json")
        for path in paths:
            if path.is_file():
                path.unlink()
                gone += 1
    return gone


def read_chunk_array(folder, name: str, index: int, *, mmap: bool = True) -> np.ndarray:
    """Array ``name`` of chunk ``index`` (memory-mapped read-only unless ``mmap`` is False)."""
    path = chunk_file(folder, name, index)
    if not path.is_file():
        raise FileNotFoundError(f"chunk {index} has no {name!r} in {folder}: its step has not run")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def write_chunk_json(folder, name: str, value) -> Path:
    """Store a small JSON document ``<name>.json`` atomically."""
    data = json.dumps(value, sort_keys=True).encode()
    return _replace_atomically(Path(folder) / f"{name}.json", lambda h: h.write(data))


def read_chunk_json(folder, name: str):
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: its step has not run")
    return json.loads(path.read_text())


def write_npz_blocks(path, arrays: dict[str, tuple[tuple, np.dtype, Iterable[np.ndarray]]]) -> Path:
    """Write a compressed ``.npz`` whose arrays arrive in blocks along their first axis.

    Parameters
    ----------
    path : path-like
        The file to write (atomically: a temporary file renamed into place).
    arrays : dict
        ``name -> (shape, dtype, blocks)``; the blocks, stacked along axis 0, make the array
        of ``shape`` (checked).

    Returns
    -------
    Path
    """
    path = Path(path)

    def write(handle):
        with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_DEFLATED,
                             allowZip64=True) as zf:
            for name, (shape, dtype, blocks) in arrays.items():
                dtype = np.dtype(dtype)
                shape = tuple(int(s) for s in shape)
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                          "shape": shape}
                rows = 0
                with zf.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array_header_2_0(member, header)
                    for block in blocks:
                        block = np.ascontiguousarray(block, dtype=dtype)
                        if block.shape[1:] != shape[1:]:
                            raise ValueError(f"{name}: block {block.shape} does not fit {shape}")
                        rows += block.shape[0]
                        member.write(block.tobytes())
                if rows != (shape[0] if shape else 1):
                    raise ValueError(f"{name}: blocks gave {rows} rows, the shape says {shape}")

    return _replace_atomically(path, write)
