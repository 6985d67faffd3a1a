"""Ground truth of a run in each export format (bytes + file name + content type).

A run stores its pixel score map (16-bit levels) and the masks at the threshold it chose
without the reference. Any export can ask for another threshold: the masks are cut again from
the stored map (no rerun), and every format records which threshold and rule produced it
(NIfTI description, ``ground_truth.json`` in the PNG zip, COCO ``info``, npz ``metadata``).
"""

from __future__ import annotations

import math
import re

import numpy as np

from crowd import storage
from segmentation.engine import LEVELS  # engine.defaults: no numerics imported

from . import dicom_seg, export_formats
from .models import GroundTruth, GroundTruthVersion, Run

CONTENT_TYPES = {
    "nifti": "application/gzip",
    "png": "application/zip",
    "coco": "application/json",
    "npz": "application/octet-stream",
    "csv": "text/csv",
    "dicom-seg": "application/dicom",
    "dicom-seg-fractional": "application/dicom",
}


def safe_name(name: str) -> str:
    """A file-system-safe version of a sequence name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "sequence"


def formats_for(sequence) -> list[str]:
    """The export formats a sequence's ground truth has, sorted: every format, but a DICOM SEG
    only for a sequence read from DICOM with its source headers kept (it references them)."""
    return sorted(fmt for fmt in export_formats.FORMATS
                  if fmt not in dicom_seg.DICOM_SEG_FORMATS or sequence.dicom_headers_file)


def parse_threshold(value) -> float | None:
    """A threshold from a query parameter or option: None (absent) or a finite float in [0, 1].

    Raises ValueError naming the problem otherwise.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in [0, 1]; got {str(value)[:40]!r}") from None
    if not math.isfinite(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1]; got {str(value)[:40]!r}")
    return t


def stored_scores(gt_arrays: dict) -> np.ndarray:
    """The stored score map as float32 in [0, 1] (16-bit levels; older runs stored float32)."""
    scores = gt_arrays["scores"]
    if scores.dtype == np.uint16:
        return scores.astype(np.float32) / np.float32(LEVELS)
    return scores.astype(np.float32)


def ground_truth_masks(*, ground_truth: GroundTruth, threshold: float | None = None):
    """Scores, masks and the threshold metadata of a run's ground truth.

    ``threshold`` None: the run's own masks (cut at the threshold it chose and recorded), or
    the map cut at the reviewed threshold when a reviewer saved one on the results page.
    Returns ``(scores, masks, metadata)``.
    """
    arrays = storage.load_npz(ground_truth.file.name)
    scores = stored_scores(arrays)
    run = ground_truth.run
    metadata = {
        "run": run.pk,
        "sequence": run.sequence.name,
        "method": run.parameters.get("method", "eel"),
        "threshold": float(ground_truth.threshold),
        "threshold_rule": ground_truth.threshold_rule,
        "run_threshold": float(ground_truth.threshold),
        "run_threshold_rule": ground_truth.threshold_rule,
        "code_version": run.code_version,
        "ground_truth": f"computed by run {run.pk}",
    }
    if threshold is None and ground_truth.reviewed_threshold is not None:
        masks = (scores >= np.float32(ground_truth.reviewed_threshold)).astype(np.uint8)
        metadata.update(threshold=float(ground_truth.reviewed_threshold), threshold_rule="reviewed",
                        reviewed_by=getattr(ground_truth.reviewed_by, "username", None),
                        reviewed_at=ground_truth.reviewed_at.isoformat() if ground_truth.reviewed_at else None)
    elif threshold is None:
        masks = arrays["masks"]
    else:
        masks = (scores >= np.float32(threshold)).astype(np.uint8)
        metadata.update(threshold=float(threshold), threshold_rule="user")
    metadata["predicted_fraction"] = float(np.count_nonzero(masks)) / max(masks.size, 1)
    return scores, masks, metadata


def run_export(*, run: Run, fmt: str, threshold: float | None = None) -> tuple[bytes, str, str]:
    """Export the ground truth of a successful ``run`` as ``fmt``.

    ``threshold``: None for the run's own masks, or a number in [0, 1] to cut the stored score
    map there instead. Returns ``(data, file_name, content_type)``; raises ValueError for an
    unknown format, a bad threshold or a run without ground truth
    (:class:`dicom_seg.NotDicomSourced`, a ValueError, for a DICOM SEG of a sequence that was
    not read from DICOM).
    """
    if fmt not in export_formats.FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(export_formats.FORMATS)}")
    threshold = parse_threshold(threshold)
    if run.status != Run.Status.SUCCEEDED or not hasattr(run, "ground_truth"):
        raise ValueError(f"run {run.pk} has no ground truth (status {run.status})")
    sequence = run.sequence
    name = safe_name(sequence.name)
    if fmt == "csv":  # per-superpixel scores: the same at every threshold
        sp = storage.load_npz(run.ground_truth.superpixel_file.name)
        data = export_formats.superpixel_csv_bytes(sp["labels"], sp["sp_scores"])
        return data, f"{name}{export_formats.FORMATS[fmt]}", CONTENT_TYPES[fmt]
    if fmt in dicom_seg.DICOM_SEG_FORMATS:
        dicom_seg.sequence_source_headers(sequence)  # a sequence not from DICOM: say so first
    scores, masks, metadata = ground_truth_masks(ground_truth=run.ground_truth, threshold=threshold)
    return encode(fmt=fmt, sequence=sequence, name=name, scores=scores, masks=masks, metadata=metadata,
                  ground_truth=run.ground_truth)


def encode(*, fmt: str, sequence, name: str, scores, masks, metadata: dict, ground_truth: GroundTruth,
           suffix: str = "") -> tuple[bytes, str, str]:
    """Masks (and scores) of ``sequence`` as ``fmt``: ``(data, file_name, content_type)``;
    ``ground_truth`` is the run's (a DICOM SEG names it); ``suffix`` ends the file name before
    its extension (a version's ``_gt-v2``)."""
    if fmt in dicom_seg.DICOM_SEG_FORMATS:
        data = dicom_seg.ground_truth_dicom_seg(ground_truth=ground_truth, fmt=fmt, scores=scores,
                                                masks=masks, metadata=metadata)
    elif fmt == "nifti":
        affine = np.asarray(sequence.affine, float) if sequence.affine else None
        # Volumes are imported with frames along the last axis (frame k = vol[:, :, k]).
        data = export_formats.nifti_bytes(masks, affine=affine, axis=-1, metadata=metadata)
    elif fmt == "png":
        data = export_formats.png_zip_bytes(masks, metadata=metadata)
    elif fmt == "coco":
        data = export_formats.coco_json_bytes(masks, name=name, metadata=metadata,
                                       category=sequence.study.target_structure or "object")
    else:
        data = export_formats.npz_bytes(scores, masks, metadata=metadata)
    return data, f"{name}{suffix}{export_formats.FORMATS[fmt]}", CONTENT_TYPES[fmt]


def version_export(*, version: GroundTruthVersion, fmt: str) -> tuple[bytes, str, str]:
    """Export hand-corrected ground-truth ``version`` as ``fmt``; the file name and metadata
    name the version and its provenance. ``csv`` (per-superpixel scores) belongs to runs: it
    is the version's run's. The npz holds the run's scores when the run still exists."""
    if fmt not in export_formats.FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(export_formats.FORMATS)}")
    sequence = version.sequence
    name = safe_name(sequence.name)
    run = version.run
    ground_truth = getattr(run, "ground_truth", None) if run is not None else None
    if fmt == "csv":
        if ground_truth is None:
            raise ValueError(f"version {version.number}'s run is gone: no superpixel scores to export")
        return run_export(run=run, fmt=fmt)
    if fmt in dicom_seg.DICOM_SEG_FORMATS:
        dicom_seg.sequence_source_headers(sequence)  # a sequence not from DICOM: say so first
        if dicom_seg.DICOM_SEG_FORMATS[fmt] == "FRACTIONAL":
            raise ValueError(f"version {version.number} is corrected masks, not a score map: "
                             "ask for dicom-seg (binary), or the run's dicom-seg-fractional")
        if ground_truth is None:
            raise ValueError(f"version {version.number}'s run is gone: a DICOM SEG names the run it came from")
        ground_truth.version = version.number  # dicom_seg records it as ground_truth_version
    masks = storage.load_npz(version.file.name)["masks"]
    scores = (stored_scores(storage.load_npz(ground_truth.file.name)) if ground_truth is not None
              else masks.astype(np.float32))
    metadata = {
        "sequence": sequence.name,
        "ground_truth": f"version {version.number} (corrected by hand)",
        "version": version.number,
        "run": version.run_number,
        "method": run.parameters.get("method", "eel") if run is not None else "",
        "threshold": (version.threshold if version.threshold is not None
                      else ground_truth.export_threshold if ground_truth is not None else None),
        "threshold_rule": "hand-corrected",
        "base_version": version.base.number if version.base else None,
        "editor": version.editor_name,
        "created_at": version.created_at.isoformat(),
        "frames_edited": list(version.frames_edited),
        "predicted_fraction": float(np.count_nonzero(masks)) / max(masks.size, 1),
    }
    return encode(fmt=fmt, sequence=sequence, name=name, scores=scores, masks=masks, metadata=metadata,
                  ground_truth=ground_truth, suffix=f"_gt-v{version.number}")
