"""DICOM Segmentation (SEG) export of a run's ground truth, with highdicom.

A sequence imported from a DICOM series keeps its source instances' headers (no pixels;
``Sequence.dicom_headers_file``). From them a SEG references the series frame by frame (one
source SOP Instance per frame, in the order the frames were read), so 3D Slicer, OHIF and
MONAI put the mask back on the images it came from. Two kinds:

- ``dicom-seg``: BINARY, the delivered mask (or the stored score map cut at ``threshold``);
- ``dicom-seg-fractional``: FRACTIONAL (PROBABILITY, 8 bits), the stored score map itself.

Both carry the algorithm identification (GazeCrowd, its version, the method, the threshold
and its rule, the run and the ground-truth version when there is one) and a segment labelled
with the study's target structure. highdicom writes the IOD (PS3.3 A.51) so we do not hand-
assemble functional groups; dciodvfy checks its output in the tests.
"""

from __future__ import annotations

import gzip
import io
import json
from importlib import metadata as package_metadata

import numpy as np

from crowd import storage

from .models import GroundTruth, Run

__all__ = ["DICOM_SEG_FORMATS", "NotDicomSourced", "dicom_seg_bytes", "ground_truth_dicom_seg",
           "sequence_source_headers"]

#: Export format name -> segmentation type.
DICOM_SEG_FORMATS = {"dicom-seg": "BINARY", "dicom-seg-fractional": "FRACTIONAL"}
CONTENT_TYPE = "application/dicom"
#: Series number given to SEG series (a fixed, recognisable number; DICOM only asks for one).
SEG_SERIES_NUMBER = 9901


class NotDicomSourced(ValueError):
    """The sequence has no stored DICOM source headers: no SEG can reference it."""


def _software_version() -> str:
    try:
        return package_metadata.version("gazecrowd")
    except package_metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


def sequence_source_headers(sequence) -> list:
    """The sequence's source instances as pydicom datasets (headers only), frame order.

    Raises :class:`NotDicomSourced` saying why when the sequence was not read from DICOM or
    was imported before its headers were kept.
    """
    import pydicom

    if sequence.modality != "dicom":
        raise NotDicomSourced(
            f"sequence {sequence.name!r} was imported from {sequence.modality}, not from a DICOM "
            "series: a DICOM SEG needs source instances to reference (export NIfTI or PNG instead)")
    if not sequence.dicom_headers_file:
        raise NotDicomSourced(
            f"sequence {sequence.name!r} was imported from DICOM before GazeCrowd kept the source "
            "headers: import the series again to export a DICOM SEG")
    headers = json.loads(gzip.decompress(storage.read_bytes(sequence.dicom_headers_file.name)))
    if len(headers) != sequence.n_frames:
        raise NotDicomSourced(
            f"sequence {sequence.name!r}: {len(headers)} stored DICOM headers for {sequence.n_frames} frames")
    return [pydicom.Dataset.from_json(h) for h in headers]


def _segment(*, target: str, algorithm_parameters: dict):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    label = (target or "object").strip()[:64] or "object"
    algorithm = hd.AlgorithmIdentificationSequence(
        name="GazeCrowd",
        family=codes.cid7162.ArtificialIntelligence,
        version=_software_version()[:64],
        source="GazeCrowd (gaze-based crowdsourced ground truth)",
        parameters={k: str(v)[:64] for k, v in algorithm_parameters.items() if v is not None},
    )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        # The target structure is free text in a study, not a coded concept: a local (99-)
        # coding scheme carries its name; SegmentLabel and SegmentDescription carry it too.
        segmented_property_type=hd.sr.CodedConcept(
            value="GC-TARGET", scheme_designator="99GAZECROWD", meaning=label),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    description.SegmentDescription = label
    return description


def dicom_seg_bytes(
    source_images: list, array: np.ndarray, *, kind: str, target: str, algorithm_parameters: dict,
    series_description: str = "GazeCrowd ground truth",
) -> bytes:
    """A DICOM SEG file of ``array`` on ``source_images``.

    Parameters
    ----------
    source_images : list of pydicom.Dataset, length T
        Frame k's source instance (headers are enough).
    array : (T, H, W) ndarray
        ``kind="BINARY"``: masks (nonzero = inside); ``kind="FRACTIONAL"``: scores in [0, 1].
    kind : {"BINARY", "FRACTIONAL"}
    target : str
        The segmented structure (segment label and description).
    algorithm_parameters : dict
        Recorded in the segment's algorithm identification (method, threshold...).
    """
    import highdicom as hd

    array = np.asarray(array)
    if array.ndim != 3 or array.shape[0] != len(source_images):
        raise ValueError(f"{array.shape[0] if array.ndim else 0} frames of ground truth for "
                         f"{len(source_images)} source instances")
    rows, cols = int(source_images[0].Rows), int(source_images[0].Columns)
    if array.shape[1:] != (rows, cols):
        raise ValueError(f"ground truth is {array.shape[1]}x{array.shape[2]} but the source "
                         f"instances are {rows}x{cols}")
    if kind == "BINARY":
        pixels = (array > 0).astype(np.uint8)
    elif kind == "FRACTIONAL":
        pixels = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    else:
        raise ValueError(f"kind must be BINARY or FRACTIONAL, got {kind!r}")
    segment = _segment(target=target, algorithm_parameters=algorithm_parameters)
    try:
        seg = hd.seg.Segmentation(
            source_images=source_images,
            pixel_array=pixels,
            segmentation_type=kind,
            segment_descriptions=[segment],
            series_instance_uid=hd.UID(),
            series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="GazeCrowd",
            manufacturer_model_name="GazeCrowd",
            software_versions=_software_version()[:64],
            device_serial_number="0",
            series_description=series_description[:64],
            content_label="GAZECROWD",
            content_description=f"{kind.lower()} ground truth: {target}"[:64] if target else None,
            max_fractional_value=255,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"the source series cannot carry a DICOM SEG: {exc}") from exc
    # UTF-8: a target structure or a patient name may hold any character (the values are
    # Python strings by now, whatever the source's character set was).
    seg.SpecificCharacterSet = "ISO_IR 192"
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ground_truth_dicom_seg(
    *, ground_truth: GroundTruth, fmt: str, scores: np.ndarray, masks: np.ndarray, metadata: dict,
) -> bytes:
    """The SEG of a run's ground truth, ``fmt`` from :data:`DICOM_SEG_FORMATS`: ``masks`` (BINARY)
    or ``scores`` (FRACTIONAL) as :func:`export_service.ground_truth_masks` returns them.

    Raises :class:`NotDicomSourced` for a sequence that was not read from DICOM and ValueError
    when the series cannot carry a SEG.
    """
    kind = DICOM_SEG_FORMATS[fmt]
    run: Run = ground_truth.run
    sequence = run.sequence
    sources = sequence_source_headers(sequence)
    parameters = {
        "method": metadata["method"],
        "threshold": f"{metadata['threshold']:.6g}",
        "threshold_rule": metadata["threshold_rule"],
        "run": run.pk,
        "code_version": run.code_version,
        # Ground-truth versions, where the model has them.
        "ground_truth_version": getattr(ground_truth, "version", None),
    }
    if kind == "FRACTIONAL":
        parameters.pop("threshold_rule")
        parameters["threshold"] = "none (fractional: the score map)"
    return dicom_seg_bytes(
        sources, masks if kind == "BINARY" else scores, kind=kind,
        target=sequence.study.target_structure or "object", algorithm_parameters=parameters,
        series_description=f"GazeCrowd {sequence.name}",
    )
