"""Sequences: import frames (and reference masks) through the engine's readers, delete.

A failed import stores nothing: files written to media storage are removed again when the
transaction does not commit.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from segmentation.engine import InputError, InputTooLarge

from .. import storage
from ..models import MAX_FRAME_RATE, Sequence, Study, without_control_characters
from .studies import check_names
from .uploads import UploadTooLarge, materialized, max_sequence_pixels, scrub_paths

__all__ = ["sequence_delete", "sequence_import", "sequence_masks_attach"]


def _clean(message: str, path: Path) -> str:
    """An engine message without the temporary folder it was read from."""
    for folder in {str(path.parent), str(path)}:
        if folder.startswith(tempfile.gettempdir()):
            message = message.replace(folder + "/", "").replace(folder, path.name)
    return scrub_paths(message)


def _read_error(exc: InputError, label: str, readable: Path) -> ValidationError:
    """The service error for an engine error: 413 for a budget exceeded, else 400."""
    message = _named(label, _clean(str(exc), readable))
    if isinstance(exc, InputTooLarge):
        return UploadTooLarge(message + " (GAZECROWD_MAX_SEQUENCE_PIXELS)")
    return ValidationError(message)


def _named(name: str, message: str) -> str:
    """``name: message``, unless the message already starts with the name."""
    return message if message.startswith(name) else f"{name}: {message}"


@contextmanager
def _stored_files():
    """Collect media files written in a block; delete them if the block or its commit fails."""
    written: list[str] = []
    try:
        with transaction.atomic():
            yield written
    except IntegrityError as exc:  # e.g. a concurrent upload took the same name
        storage.delete(written)
        raise ValidationError(f"conflicting write: {exc}") from exc
    except BaseException:
        storage.delete(written)
        raise


def _save(prefix: str, name: str, data: bytes, written: list[str]) -> str:
    stored = storage.save_unique(prefix, name, data)
    written.append(stored)
    return stored


def sequence_import(
    *,
    study: Study,
    path,
    name: str | None = None,
    source_name: str | None = None,
    truth=None,
    truth_frames: list[int] | None = None,
    axis: int = -1,
) -> Sequence:
    """Read a sequence with the engine, store its frames once as ``.npy``, create the row.

    Parameters
    ----------
    path : a folder of images or DICOM slices, a ``.zip`` of one, a NIfTI volume or a video.
    name : the sequence's name in the study (default: the file name without extensions).
    source_name : the uploaded file's name (default: ``path``'s name).
    truth, truth_frames : reference masks, see :func:`sequence_masks_attach`.

    Raises ValidationError naming the file and the problem; nothing is stored then.
    """
    from segmentation.engine import read_sequence

    path = Path(path)
    source_name = without_control_characters(source_name or path.name)
    name = (name or _stem(source_name)).strip()
    if not name:
        raise ValidationError("a sequence needs a name")
    check_names(name=name)
    if len(name) > 200:
        raise ValidationError(f"a sequence name has at most 200 characters, got {len(name)}")
    if Sequence.objects.filter(study=study, name=name).exists():
        raise ValidationError(f"this study already has a sequence named {name!r}")
    # The frames go to a local .npy file as they are decoded (never whole in memory), then to
    # the storage in blocks; the temporary file goes when the import ends, stored or not. It
    # sits where Django keeps large uploads (FILE_UPLOAD_TEMP_DIR: on disk, where /tmp may be
    # a RAM file system).
    tmp = tempfile.TemporaryDirectory(prefix="gazecrowd-import-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    with tmp, materialized(path) as readable:
        local = Path(tmp.name) / "frames.npy"
        try:
            data = read_sequence(readable, axis=axis, max_pixels=max_sequence_pixels(), out=local)
        except InputError as exc:
            if study.kind == Study.Kind.IMAGES and "has shape" in str(exc):
                raise ValidationError(_named(source_name, _clean(str(exc), readable)) + (
                    "; the images of a collection must all have one size and colour mode: "
                    "resize them, or upload each size as its own collection")) from exc
            raise _read_error(exc, source_name, readable) from exc
        frame_names = _image_names(readable) if data.kind == "images" else []
        return _create_sequence(study, name, source_name, data, local, frame_names, truth,
                                truth_frames, axis)


def _create_sequence(study, name, source_name, data, local, frame_names, truth, truth_frames,
                     axis) -> Sequence:
    """The row of a sequence read into ``local`` (a .npy file), its frames stored from there."""
    frames = data.frames
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValidationError(
            f"{source_name}: frames shaped {frames.shape}; expected (T, H, W) or (T, H, W, 3)"
        )
    with _stored_files() as written:
        stored = storage.save_unique_file(f"sequences/{study.pk}", "frames.npy", local)
        written.append(stored)
        sequence = Sequence.objects.create(
            study=study,
            name=name,
            modality=data.kind,
            source_name=source_name[:255],
            frames_file=stored,
            n_frames=frames.shape[0],
            height=frames.shape[1],
            width=frames.shape[2],
            channels=frames.shape[3] if frames.ndim == 4 else 1,
            dtype=str(frames.dtype),
            spacing=_finite_list(data.spacing),
            # A video's own rate, when it is a sensible one (the study's rate overrides it).
            fps=float(data.fps) if data.fps and math.isfinite(data.fps) and 0 < data.fps <= MAX_FRAME_RATE else None,
            affine=_finite_list(data.affine),
            frame_names=frame_names if len(frame_names) == frames.shape[0] else [],
            dicom_headers_file=_dicom_headers_file(study, data, written),
        )
        if truth is not None:
            _attach_masks(sequence, Path(truth), truth_frames, axis, written)
    return sequence


def _dicom_headers_file(study: Study, data, written: list[str]) -> str:
    """Store a DICOM series' per-frame source headers (gzipped DICOM JSON); '' otherwise."""
    headers = getattr(data, "dicom_headers", None)
    if not headers or len(headers) != data.n_frames:
        return ""
    payload = gzip.compress(json.dumps(headers).encode(), compresslevel=6)
    return _save(f"sequences/{study.pk}", "dicom_headers.json.gz", payload, written)


def _finite_list(values) -> list | None:
    """A JSON-ready list of finite floats (nested for an affine; None entries kept as null),
    or None when absent or when any value is NaN or infinite.

    NaN or infinity must never reach a JSONField: both databases refuse it, and the insert
    failed with a 500 (a NIfTI header with a NaN voxel size did that).
    """
    if values is None:
        return None
    array = np.asarray(values, dtype=object)
    known = np.asarray([v for v in array.ravel() if v is not None], dtype=float)
    if not np.isfinite(known).all():
        return None
    return np.vectorize(lambda v: None if v is None else float(v), otypes=[object])(array).tolist()


def _image_names(readable: Path) -> list[str]:
    """The image file names without extension, in frame order (the reader sorts by name)."""
    from segmentation.engine import IMAGE_SUFFIXES

    files = [readable] if readable.is_file() else readable.iterdir()
    return [p.stem for p in sorted(files) if p.suffix.lower() in IMAGE_SUFFIXES]


def _stem(name: str) -> str:
    base = Path(name).name
    for suffix in (".nii.gz", ".nii", ".zip"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return Path(base).stem


def sequence_masks_attach(
    *, sequence: Sequence, path, frames: list[int] | None = None, source_name: str | None = None, axis: int = -1
) -> Sequence:
    """Attach reference masks to all frames of ``sequence`` or to some.

    ``path`` is read by :func:`segmentation.engine.io.read_masks` (any sequence form). With as
    many masks as frames, mask k belongs to frame k. With fewer, ``frames`` lists their frame
    indices; without it, the number in each mask image's file name is its frame
    (``00012.png`` -> frame 12). Replaces masks attached before.
    """
    old = sequence.masks_file.name if sequence.masks_file else None
    with _stored_files() as written:
        _attach_masks(sequence, Path(path), frames, axis, written, source_name=source_name)
    if old:
        storage.delete([old])
    return sequence


def _attach_masks(sequence, path: Path, frames, axis, written, *, source_name=None) -> None:
    from segmentation.engine import read_masks

    label = source_name or path.name
    with materialized(path) as readable:
        try:
            masks = np.asarray(read_masks(readable, axis=axis, max_pixels=max_sequence_pixels()), dtype=bool)
        except InputError as exc:
            raise _read_error(exc, label, readable) from exc
        if frames is None and len(masks) != sequence.n_frames:
            frames = _frames_from_names(readable, len(masks), label)
    if masks.shape[1:] != (sequence.height, sequence.width):
        raise ValidationError(
            f"{label}: masks are {masks.shape[1]}x{masks.shape[2]} pixels but the frames of "
            f"{sequence.name!r} are {sequence.height}x{sequence.width}"
        )
    if frames is None:
        frames = list(range(sequence.n_frames))
    frames = [int(f) for f in frames]
    if len(frames) != len(masks):
        raise ValidationError(f"{label}: {len(masks)} masks for {len(frames)} frame numbers")
    if len(set(frames)) != len(frames):
        raise ValidationError(f"{label}: a frame number appears twice in {frames}")
    bad = [f for f in frames if not 0 <= f < sequence.n_frames]
    if bad:
        raise ValidationError(
            f"{label}: frame(s) {bad} do not exist; {sequence.name!r} has frames 0..{sequence.n_frames - 1}"
        )
    order = np.argsort(frames)
    stored = _save(f"sequences/{sequence.study_id}", "masks.npy", storage.npy_bytes(masks[order].astype(np.uint8)), written)
    sequence.masks_file = stored
    sequence.mask_frames = [frames[i] for i in order]
    sequence.save(update_fields=["masks_file", "mask_frames"])


def _frames_from_names(folder: Path, count: int, label: str) -> list[int]:
    from segmentation.engine import IMAGE_SUFFIXES

    if folder.is_dir():
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        numbers = [re.findall(r"\d+", Path(n).stem) for n in names]
        if len(names) == count and all(numbers):
            return [int(n[-1]) for n in numbers]
    raise ValidationError(
        f"{label}: {count} masks but the sequence has a different number of frames; name each "
        "mask image after its frame number (00012.png) or give the frame numbers"
    )


def sequence_delete(*, sequence: Sequence) -> None:
    """Delete a sequence, its recordings, and its files once the deletion commits."""
    files = [f.name for f in (sequence.frames_file, sequence.masks_file, sequence.dicom_headers_file) if f]
    with transaction.atomic():
        sequence.delete()
        transaction.on_commit(lambda: storage.delete(files))
