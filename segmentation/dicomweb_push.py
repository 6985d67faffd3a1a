"""Push a study's ground truth to its DICOMweb server as DICOM SEG (STOW-RS).

One SEG per DICOM-sourced sequence with a finished run (binary at the run's own threshold or
``threshold``; fractional on request); other sequences are skipped with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from crowd import services as crowd_services

from . import dicom_seg, selectors
from .export_service import ground_truth_masks, parse_threshold


@dataclass
class PushResult:
    """What a push stored (sequence name, SEG SOP Instance UID) and what it skipped and why."""

    stored: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def ground_truth_push(*, study, connection, threshold=None, fractional: bool = False,
                      sequence=None) -> PushResult:
    """STOW-RS the SEG of each DICOM-sourced sequence's newest ground truth (or ``sequence``'s).

    Raises ValidationError (naming the server) when the server refuses or cannot be reached;
    SEGs stored before the failure stay stored (each is its own STOW-RS request).
    """
    import pydicom

    try:
        threshold = parse_threshold(threshold)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    fmt = "dicom-seg-fractional" if fractional else "dicom-seg"
    result = PushResult()
    for seq, run in selectors.study_latest_runs(study=study):
        if sequence is not None and seq.pk != sequence.pk:
            continue
        if run is None:
            result.skipped.append({"sequence": seq.name, "reason": "no finished run yet"})
            continue
        try:
            dicom_seg.sequence_source_headers(seq)
        except dicom_seg.NotDicomSourced as exc:
            result.skipped.append({"sequence": seq.name, "reason": str(exc)})
            continue
        scores, masks, metadata = ground_truth_masks(ground_truth=run.ground_truth, threshold=threshold)
        try:
            data = dicom_seg.ground_truth_dicom_seg(ground_truth=run.ground_truth, fmt=fmt, scores=scores,
                                                    masks=masks, metadata=metadata)
        except ValueError as exc:  # the source series cannot carry a SEG (highdicom says why)
            result.skipped.append({"sequence": seq.name, "reason": str(exc)})
            continue
        seg = pydicom.dcmread(io.BytesIO(data))
        (uid,) = crowd_services.dicomweb_store(connection=connection, datasets=[seg])
        result.stored.append({"sequence": seq.name, "run": run.pk, "sop_instance_uid": uid,
                              "series_instance_uid": str(seg.SeriesInstanceUID),
                              "study_instance_uid": str(seg.StudyInstanceUID),
                              "threshold": metadata["threshold"], "kind": fmt})
    return result
