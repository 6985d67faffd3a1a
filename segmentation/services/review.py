"""Review of a run's ground truth in the browser: a reviewed threshold, hand-corrected versions.

A reviewer may move the run's threshold (exports then cut the stored map there, recorded with
who and when) and correct masks by hand; a correction is saved as a new
:class:`~segmentation.models.GroundTruthVersion` of the sequence (1, 2...), never overwriting an
earlier one. Masks arrive as one PNG per edited frame (what a canvas gives with
``toDataURL``); each is budgeted and checked before its pixels are decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct

import numpy as np
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image  # Pillow: the project's image library (crowd.images)

from crowd import storage
from crowd.models import Sequence

from ..export_service import ground_truth_masks
from ..models import GroundTruth, GroundTruthVersion, Run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Bytes a mask PNG of ``h * w`` pixels may take: an RGBA image stored without compression
#: plus its chunks; anything larger is not a mask of this sequence.
PNG_OVERHEAD = 64 * 1024


def png_budget(height: int, width: int) -> int:
    return height * (width * 4 + 1) + PNG_OVERHEAD


def request_budget(sequence: Sequence, n_frames: int) -> int:
    """Most bytes a correction of ``n_frames`` frames may send (base64 PNGs plus JSON)."""
    return (png_budget(sequence.height, sequence.width) * 4 // 3 + 256) * n_frames + 64 * 1024


def threshold_review(*, ground_truth: GroundTruth, threshold: float | None, user) -> GroundTruth:
    """Save ``threshold`` as the run's reviewed threshold (None: back to the rule's choice).

    Exports then cut the stored score map there; who and when are recorded.
    """
    if threshold is not None:
        threshold = float(threshold)
        if not np.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
            raise ValidationError({"threshold": f"the threshold must be a number in [0, 1]; got {threshold!r}"})
    ground_truth.reviewed_threshold = threshold
    ground_truth.reviewed_by = user if threshold is not None else None
    ground_truth.reviewed_at = timezone.now() if threshold is not None else None
    ground_truth.full_clean()
    ground_truth.save(update_fields=["reviewed_threshold", "reviewed_by", "reviewed_at"])
    return ground_truth


def decode_mask_png(data: str | bytes, *, height: int, width: int, where: str) -> np.ndarray:
    """A (height, width) bool mask from a PNG (base64 text or bytes, a ``data:`` URL allowed).

    White (or any grey above 127) is the object. The size and header are checked before any
    pixel is decoded; ValidationError names ``where`` and what is wrong.
    """
    if isinstance(data, str):
        text = data.split(",", 1)[1] if data.startswith("data:") else data
        if len(text) > png_budget(height, width) * 4 // 3 + 8:
            raise ValidationError(f"{where}: the mask image is larger than a {width}x{height} mask can be")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"{where}: the mask is not base64-encoded PNG data") from None
    if len(data) > png_budget(height, width):
        raise ValidationError(f"{where}: the mask image is larger than a {width}x{height} mask can be")
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValidationError(f"{where}: the mask is not a PNG image")
    w, h = struct.unpack(">II", data[16:24])  # from the header, before decoding any pixel
    if (h, w) != (height, width):
        raise ValidationError(f"{where}: the mask is {w}x{h} pixels; the sequence's frames are {width}x{height}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            grey = np.asarray(image.convert("L"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValidationError(f"{where}: the mask PNG could not be read ({exc})") from None
    return grey > 127


def _base_masks(*, sequence: Sequence, run: Run | None, threshold: float | None,
                base: GroundTruthVersion | None) -> np.ndarray:
    if base is not None:
        return version_masks(base).astype(bool)
    ground_truth = getattr(run, "ground_truth", None) if run is not None else None
    if ground_truth is None or run.status != Run.Status.SUCCEEDED:
        raise ValidationError({"run": f"run {getattr(run, 'pk', None)} has no ground truth to correct"})
    return ground_truth_masks(ground_truth=ground_truth, threshold=threshold)[1].astype(bool)


def version_masks(version: GroundTruthVersion) -> np.ndarray:
    """The (frames, rows, columns) uint8 masks of ``version``."""
    return storage.load_npz(version.file.name)["masks"]


def _check_origin(*, sequence: Sequence, run: Run | None, base: GroundTruthVersion | None) -> None:
    if base is not None and base.sequence_id != sequence.pk:
        raise ValidationError({"base_version": "that version belongs to another sequence"})
    if run is not None and run.sequence_id != sequence.pk:
        raise ValidationError({"run": f"run {run.pk} is not a run of sequence {sequence.name!r}"})
    if base is None and run is None:
        raise ValidationError({"run": "say which run (or earlier version) the correction starts from"})


def _edited_masks(*, sequence: Sequence, frames: list[dict]) -> dict[int, np.ndarray]:
    """Frame index -> decoded mask, every index and image checked (ValidationError)."""
    if not frames:
        raise ValidationError({"frames": "no edited frame: nothing to save"})
    indices = [int(f["index"]) for f in frames]
    if len(set(indices)) != len(indices):
        raise ValidationError({"frames": "a frame is sent twice"})
    for k in indices:
        if not 0 <= k < sequence.n_frames:
            raise ValidationError({"frames": f"frame {k + 1} does not exist: the sequence has "
                                             f"{sequence.n_frames} frames"})
    return {k: decode_mask_png(f["png"], height=sequence.height, width=sequence.width,
                               where=f"frame {k + 1}") for k, f in zip(indices, frames)}


def _save_next_version(*, sequence: Sequence, masks: np.ndarray, **fields) -> GroundTruthVersion:
    """Store ``masks`` and the row numbered after the sequence's newest version."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, masks=masks.astype(np.uint8))
    npz = buffer.getvalue()
    for attempt in range(3):  # two editors saving at once: the loser takes the next number
        number = (GroundTruthVersion.objects.filter(sequence=sequence).order_by("-number")
                  .values_list("number", flat=True).first() or 0) + 1
        # A unique name: a losing attempt never overwrites the winner's file.
        name = storage.save_unique("ground_truth", f"sequence{sequence.pk}-v{number}.npz", npz)
        version = GroundTruthVersion(sequence=sequence, number=number, file=name, **fields)
        version.full_clean(exclude=["file"])
        try:
            with transaction.atomic():
                version.save()
            return version
        except IntegrityError:
            storage.delete([name])
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def ground_truth_version_create(*, sequence: Sequence, editor, frames: list[dict], run: Run | None = None,
                                threshold: float | None = None, base: GroundTruthVersion | None = None,
                                note: str = "") -> GroundTruthVersion:
    """Save a corrected ground truth of ``sequence`` as its next version.

    The starting point is ``base`` (an earlier version) or ``run``'s map cut at ``threshold``
    (None: the run's export threshold); ``frames`` are ``{"index": k, "png": <base64 PNG>}``
    replacing frame k's mask. Raises ValidationError naming the frame and the problem; nothing
    is stored then.
    """
    _check_origin(sequence=sequence, run=run, base=base)
    edited = _edited_masks(sequence=sequence, frames=frames)
    if run is not None and threshold is None and hasattr(run, "ground_truth"):
        threshold = run.ground_truth.export_threshold
    masks = _base_masks(sequence=sequence, run=run, threshold=threshold, base=base).copy()
    if masks.shape != (sequence.n_frames, sequence.height, sequence.width):
        raise ValidationError({"run": f"the starting masks are {masks.shape}, not the sequence's shape"})
    for k, mask in edited.items():
        masks[k] = mask
    if base is not None:  # the chain started from the base's run, cut at its threshold
        run, threshold = run or base.run, base.threshold
    return _save_next_version(
        sequence=sequence, masks=masks, run=run, base=base,
        run_number=run.pk if run else (base.run_number if base else None),
        threshold=threshold, editor=editor, editor_name=getattr(editor, "username", "") or "",
        frames_edited=sorted(edited), note=note[:500])
