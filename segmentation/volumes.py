"""A volume sequence, its reference masks and a run's computed mask as NIfTI, for the volume viewer.

The platform stores a volume as frames (T, H, W): frame ``k`` was ``vol.take(k, axis)`` when it
was read. The viewer (Niivue, in the browser) reads NIfTI, so the frames are put back along the
slice axis with the source's affine, the same way :func:`segmentation.export_formats.nifti_bytes`
writes the delivered masks; the masks go through that very function, so what the viewer
overlays is voxel for voxel what a download holds.

Which axis the frames were taken along is not stored with a sequence (the upload API takes
``axis``, default -1). :func:`slice_axis` recovers it from the stored spacing (in-plane first,
then the slice spacing) and the affine's voxel sizes; when they cannot tell (an isotropic
volume, no affine), the import's default (-1, the third axis) is assumed, and said.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict

import nibabel as nib
import numpy as np

from crowd import selectors as crowd_selectors
from crowd import storage
from crowd.models import Sequence

from . import export_formats, export_service
from .models import Run

__all__ = ["VOLUME_MODALITIES", "AXIS_NAMES", "is_volume", "slice_axis", "sequence_affine",
           "volume_nifti_bytes", "reference_nifti_bytes", "run_mask_nifti_bytes"]

#: Sequences the volume viewer shows: read from a NIfTI file or a DICOM series.
VOLUME_MODALITIES = (Sequence.Modality.NIFTI, Sequence.Modality.DICOM)
#: The volume's axes in the file's voxel order (i, j, k), as the preview names them.
AXIS_NAMES = ("first (i)", "second (j)", "third (k)")


def is_volume(sequence: Sequence) -> bool:
    return sequence.modality in VOLUME_MODALITIES and sequence.channels == 1


def slice_axis(sequence: Sequence) -> tuple[int, bool]:
    """(axis 0..2 of the source volume the frames were taken along, whether it was inferred).

    The stored spacing is the in-plane voxel sizes then the slice's (what the reader wrote);
    the affine's column norms are the voxel sizes in file order. The one axis whose removal
    leaves the in-plane sizes, in order, is the slice axis. ``(2, False)`` (the import's
    default) when the sizes cannot single one out.
    """
    spacing, affine = sequence.spacing, sequence.affine
    if not spacing or not affine or len(spacing) != 3 or any(s is None for s in spacing):
        return 2, False
    zooms = np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0)
    fits = [a for a in range(3)
            if np.allclose([z for i, z in enumerate(zooms) if i != a], spacing[:2], rtol=1e-4)
            and np.isclose(zooms[a], spacing[2], rtol=1e-4)]
    return (fits[0], True) if len(fits) == 1 else (2, False)


def sequence_affine(sequence: Sequence) -> np.ndarray:
    """The source's 4x4 affine; for a DICOM series (no affine stored) the voxel sizes
    (row, column, slice spacing) on the diagonal, else the identity."""
    if sequence.affine:
        return np.asarray(sequence.affine, float)
    affine = np.eye(4)
    if sequence.spacing and len(sequence.spacing) == 3:
        for i, s in enumerate(sequence.spacing):
            if s:
                affine[i, i] = float(s)
    return affine


def _nifti(volume: np.ndarray, affine: np.ndarray, *, dtype=None) -> bytes:
    img = nib.Nifti1Image(volume, affine)
    if dtype is not None:
        img.header.set_data_dtype(dtype)
    # Level 1, as the exports: a volume compresses nearly as well and three times faster.
    return gzip.compress(img.to_bytes(), compresslevel=1)


def volume_nifti_bytes(sequence: Sequence) -> bytes:
    """The sequence's frames as a gzipped NIfTI volume in the source's voxel order and affine.

    Raises ValueError for a sequence that is not a single-channel volume.
    """
    if not is_volume(sequence):
        raise ValueError(f"{sequence.name} is a {sequence.get_modality_display().lower()}, not a "
                         "volume: the volume viewer shows NIfTI volumes and DICOM series")
    key = (sequence.frames_file.name, slice_axis(sequence)[0], tuple(sequence_affine(sequence).ravel()))
    with _KEPT_LOCK:
        if key in _KEPT:
            _KEPT.move_to_end(key)
            return _KEPT[key]
    data = _volume_bytes(*key)
    with _KEPT_LOCK:
        _KEPT[key] = data
        while sum(len(v) for v in _KEPT.values()) > KEPT_BYTES and len(_KEPT) > 1:
            _KEPT.popitem(last=False)
        if len(data) > KEPT_BYTES:
            _KEPT.pop(key)
    return data


#: Built volumes kept per process for the next request, up to this many bytes in all. Building
#: one (read, reorder, gzip) took 1.0 s of the viewer's first open of a 240x240x155 volume
#: (bench/volume_viewer.py); a sequence's frames file never changes and its name is new for
#: every upload, so a kept answer is never stale.
KEPT_BYTES = 128 * 1024 * 1024
_KEPT: OrderedDict = OrderedDict()
_KEPT_LOCK = threading.Lock()


def _volume_bytes(frames_name: str, axis: int, affine: tuple) -> bytes:
    frames = np.asarray(storage.load_npy(frames_name, mmap=True))
    volume = np.ascontiguousarray(np.moveaxis(frames, 0, axis))
    if volume.dtype == np.float64:
        volume = volume.astype(np.float32)
    elif volume.dtype == np.bool_:
        volume = volume.astype(np.uint8)
    return _nifti(volume, np.asarray(affine, float).reshape(4, 4))


def reference_nifti_bytes(sequence: Sequence) -> bytes | None:
    """The reference masks as a mask volume (frames without a mask are empty), or None."""
    stored = crowd_selectors.sequence_masks(sequence)
    if stored is None:
        return None
    frames, masks = stored
    full = np.zeros((sequence.n_frames, sequence.height, sequence.width), np.uint8)
    inside = (frames >= 0) & (frames < sequence.n_frames)
    full[frames[inside]] = masks[inside]
    volume = np.ascontiguousarray(np.moveaxis(full, 0, slice_axis(sequence)[0]))
    return _nifti(volume, sequence_affine(sequence), dtype=np.uint8)


def run_mask_nifti_bytes(run: Run) -> bytes:
    """The run's computed mask (at the threshold it chose) as a mask volume.

    Raises ValueError when the run has no ground truth.
    """
    if run.status != Run.Status.SUCCEEDED or not hasattr(run, "ground_truth"):
        raise ValueError(f"run {run.pk} has no computed mask (status {run.status})")
    _, masks, metadata = export_service.ground_truth_masks(ground_truth=run.ground_truth)
    sequence = run.sequence
    return export_formats.nifti_bytes(masks, affine=sequence_affine(sequence),
                                      axis=slice_axis(sequence)[0], metadata=metadata)
