"""Ground truth of a run in each export format (bytes + file name + content type)."""

from __future__ import annotations

import re

import numpy as np

from . import exports, storage
from .models import Run

CONTENT_TYPES = {
    "nifti": "application/gzip",
    "png": "application/zip",
    "coco": "application/json",
    "npz": "application/octet-stream",
    "csv": "text/csv",
}


def safe_name(name: str) -> str:
    """A file-system-safe version of a sequence name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "sequence"


def run_export(*, run: Run, fmt: str) -> tuple[bytes, str, str]:
    """Export the ground truth of a successful ``run`` as ``fmt``.

    Returns ``(data, file_name, content_type)``; raises ValueError for an unknown format or a
    run without ground truth.
    """
    if fmt not in exports.FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(exports.FORMATS)}")
    if run.status != Run.Status.SUCCEEDED or not hasattr(run, "ground_truth"):
        raise ValueError(f"run {run.pk} has no ground truth (status {run.status})")
    sequence = run.sequence
    name = safe_name(sequence.name)
    gt = storage.load_npz(run.ground_truth.file.name)
    scores, masks = gt["scores"], gt["masks"]
    if fmt == "nifti":
        affine = np.asarray(sequence.affine, float) if sequence.affine else None
        # Volumes are imported with frames along the last axis (frame k = vol[:, :, k]).
        data = exports.nifti_bytes(masks, affine=affine, axis=-1)
    elif fmt == "png":
        data = exports.png_zip_bytes(masks)
    elif fmt == "coco":
        data = exports.coco_json_bytes(masks, name=name, category=sequence.study.target_structure or "object")
    elif fmt == "npz":
        data = exports.npz_bytes(scores, masks)
    else:  # csv of per-superpixel scores
        sp = storage.load_npz(run.ground_truth.superpixel_file.name)
        data = exports.superpixel_csv_bytes(sp["labels"], sp["sp_scores"])
    return data, f"{name}{exports.FORMATS[fmt]}", CONTENT_TYPES[fmt]
