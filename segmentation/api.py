"""The segmentation API: runs, their progress, ground-truth downloads and report files.

Coordinators start and retry runs; coordinators and researchers read runs and download
results; observers see none of it (they could learn others' gaze from the results).
"""

from __future__ import annotations

import mimetypes

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from crowd import selectors as crowd_selectors
from crowd import storage
from crowd.api import PlatformApiView, validated
from crowd.models import MAX_ID, StudyMembership
from crowd.permissions import study_for
from crowd.rest import attachment
from crowd.services import UploadTooLarge

from . import export_formats, selectors, services
from .export_service import parse_threshold, run_export, version_export
from .models import Run
from .parameters import ParameterError
from .serializers import (
    GroundTruthVersionCreateSerializer,
    GroundTruthVersionSerializer,
    RunCreateSerializer,
    RunSerializer,
    ThresholdReviewSerializer,
    ThresholdStateSerializer,
)
from .services import review

Role = StudyMembership.Role
READERS = (Role.COORDINATOR, Role.RESEARCHER)


def _study(request, study_id: int, roles):
    return study_for(request, study_id, roles)[0]


def _run(request, study_id: int, run_id: int, roles=READERS) -> Run:
    return selectors.run_get_for_user(user=request.user, study_id=study_id, run_id=run_id, roles=roles)


class RunListCreateApi(APIView):
    @extend_schema(responses=RunSerializer(many=True), summary="Runs of a study, newest first")
    def get(self, request, study_id: int):
        study = _study(request, study_id, READERS)
        runs = selectors.runs_for_study(study=study).select_related("report")
        return Response(RunSerializer(runs, many=True).data)

    @extend_schema(request=RunCreateSerializer, responses={202: RunSerializer(many=True)},
                   summary="Start runs (pooling + EEL) on every sequence or one")
    def post(self, request, study_id: int):
        study = _study(request, study_id, (Role.COORDINATOR,))
        data = validated(RunCreateSerializer, request.data)
        sequence = None
        if "sequence" in data:
            sequence = crowd_selectors.sequence_of_study(study=study, sequence_id=data["sequence"])
            if sequence is None:
                raise ValidationError({"sequence": f"study {study_id} has no such sequence"})
        try:
            runs = services.study_run_create(study=study, sequence=sequence, requested_by=request.user,
                                             parameters=dict(data.get("parameters", {})))
        except (ParameterError, ValueError) as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(RunSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(APIView):
    @extend_schema(responses=RunSerializer, summary="A run: status, progress, timings, metrics")
    def get(self, request, study_id: int, run_id: int):
        return Response(RunSerializer(_run(request, study_id, run_id)).data)


class RunRetryApi(APIView):
    @extend_schema(request=None, responses={202: RunSerializer}, summary="Queue a failed run again")
    def post(self, request, study_id: int, run_id: int):
        run = _run(request, study_id, run_id, roles=(Role.COORDINATOR,))
        try:
            run = services.run_retry(run=run)
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _download(data: bytes, file_name: str, content_type: str) -> HttpResponse:
    return attachment(HttpResponse(data, content_type=content_type), file_name)


THRESHOLD_PARAMETER = OpenApiParameter(
    # Bounds declared as export_service.parse_threshold enforces them (tests/test_numeric_bounds.py).
    "threshold", {"type": "number", "format": "double", "minimum": 0, "maximum": 1}, OpenApiParameter.QUERY,
    required=False,
    description="Cut the stored score map at this value in [0, 1] instead of the run's own "
                "threshold (chosen without the reference; see the run's metrics). The export "
                "records the threshold and rule it used.")


def _threshold(request) -> float | None:
    try:
        return parse_threshold(request.query_params.get("threshold"))
    except ValueError as exc:
        raise ValidationError({"threshold": str(exc)}) from exc


class RunExportApi(APIView):
    @extend_schema(parameters=[THRESHOLD_PARAMETER],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="bad threshold"),
                              404: OpenApiResponse(description="no such run or format")},
                   summary="Download a run's ground truth: nifti, png, coco, npz, csv, dicom-seg or "
                           "dicom-seg-fractional")
    def get(self, request, study_id: int, run_id: int, fmt: str):
        run = _run(request, study_id, run_id)
        if fmt not in export_formats.FORMATS:
            raise NotFound(f"unknown format {fmt!r}; choose one of {', '.join(export_formats.FORMATS)}")
        threshold = _threshold(request)
        try:
            return _download(*run_export(run=run, fmt=fmt, threshold=threshold))
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc


class RunReportFileApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   summary="A file of a run's report (report.html, observers.csv, roc.png...)")
    def get(self, request, study_id: int, run_id: int, name: str):
        run = _run(request, study_id, run_id)
        report = getattr(run, "report", None)
        if report is None or name not in report.files:
            raise NotFound(f"run {run_id} has no report file {name!r}")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = HttpResponse(storage.read_bytes(f"{report.folder}/{name}"), content_type=content_type)
        if not name.endswith((".html", ".png", ".svg")):
            attachment(response, name)
        return response


VERSION_PARAMETER = OpenApiParameter(
    "version", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.QUERY, required=False,
    description="A hand-corrected version (1, 2...; see .../ground-truth/versions/). Without it: "
                "the current ground truth, the newest of the newest successful run and the newest "
                "version. The file name and metadata name the version.")


def _sequence(request, study_id: int, sequence_id: int, roles=READERS):
    study = _study(request, study_id, roles)
    sequence = crowd_selectors.sequence_of_study(study=study, sequence_id=sequence_id)
    if sequence is None:
        raise NotFound(f"no sequence {sequence_id} in study {study_id}")
    return sequence


def _positive_int(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise ValidationError({name: f"{name} must be a whole number from 1; got {value[:40]!r}"})
    return int(value)


class SequenceGroundTruthApi(APIView):
    @extend_schema(parameters=[THRESHOLD_PARAMETER, VERSION_PARAMETER],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="bad threshold or version")},
                   summary="The sequence's current ground truth, or a hand-corrected version")
    def get(self, request, study_id: int, sequence_id: int, fmt: str):
        sequence = _sequence(request, study_id, sequence_id)
        if fmt not in export_formats.FORMATS:
            raise NotFound(f"unknown format {fmt!r}; choose one of {', '.join(export_formats.FORMATS)}")
        threshold, number = _threshold(request), _positive_int(request, "version")
        if number is not None and threshold is not None:
            raise ValidationError({"threshold": "a corrected version has no score map to cut: "
                                                "ask for a threshold or a version, not both"})
        if number is not None:
            version = selectors.ground_truth_version(sequence=sequence, number=number)
        else:
            run, version = selectors.ground_truth_current(sequence=sequence)
            if version is not None and threshold is not None:
                run, version = selectors.run_latest_succeeded(sequence=sequence), None
            if run is None and version is None:
                raise NotFound(f"sequence {sequence.name!r} has no ground truth yet")
        try:
            if version is not None:
                return _download(*version_export(version=version, fmt=fmt))
            return _download(*run_export(run=run, fmt=fmt, threshold=threshold))
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc


# --- review: the reviewed threshold, versions, comparisons --------------------------------------


class RunThresholdApi(PlatformApiView):
    @extend_schema(request=ThresholdReviewSerializer, responses=ThresholdStateSerializer,
                   summary="Save the threshold every export of the run cuts at (coordinators)")
    def put(self, request, study_id: int, run_id: int):
        run = _run(request, study_id, run_id, roles=(Role.COORDINATOR,))
        data = validated(ThresholdReviewSerializer, request.data)
        ground_truth = getattr(run, "ground_truth", None)
        if ground_truth is None:
            raise NotFound(f"run {run_id} has no ground truth ({run.status})")
        ground_truth = services.threshold_review(ground_truth=ground_truth, threshold=data["threshold"],
                                                 user=request.user)
        return Response(_threshold_state(ground_truth))

    @extend_schema(responses=ThresholdStateSerializer, summary="The run's thresholds: rule's, reviewed")
    def get(self, request, study_id: int, run_id: int):
        run = _run(request, study_id, run_id)
        ground_truth = getattr(run, "ground_truth", None)
        if ground_truth is None:
            raise NotFound(f"run {run_id} has no ground truth ({run.status})")
        return Response(_threshold_state(ground_truth))


def _threshold_state(ground_truth) -> dict:
    return {"threshold": ground_truth.export_threshold,
            "rule_threshold": ground_truth.threshold, "rule": ground_truth.threshold_rule,
            "reviewed_threshold": ground_truth.reviewed_threshold,
            "reviewed_by": getattr(ground_truth.reviewed_by, "username", None),
            "reviewed_at": ground_truth.reviewed_at}


class GroundTruthVersionListApi(PlatformApiView):
    @extend_schema(responses=GroundTruthVersionSerializer(many=True),
                   summary="Hand-corrected ground-truth versions of a sequence, oldest first")
    def get(self, request, study_id: int, sequence_id: int):
        sequence = _sequence(request, study_id, sequence_id)
        return Response(GroundTruthVersionSerializer(
            selectors.ground_truth_versions(sequence=sequence), many=True).data)

    @extend_schema(request=GroundTruthVersionCreateSerializer, responses={201: GroundTruthVersionSerializer},
                   summary="Save corrected masks as the sequence's next version (coordinators)")
    def post(self, request, study_id: int, sequence_id: int):
        sequence = _sequence(request, study_id, sequence_id, roles=(Role.COORDINATOR,))
        # Budget from the header, before the body is read or any mask decoded.
        declared = str(request.META.get("CONTENT_LENGTH") or "0")
        size = int(declared) if declared.isascii() and declared.isdigit() else 0
        budget = review.request_budget(sequence, sequence.n_frames)
        if size > budget:
            raise UploadTooLarge(f"the correction is {size / 2**20:.1f} MB; masks of this sequence's "
                                 f"{sequence.n_frames} frames take at most {budget / 2**20:.1f} MB")
        data = validated(GroundTruthVersionCreateSerializer, request.data)
        run = base = None
        if data.get("run"):
            run = selectors.run_of_study(study=sequence.study, run_id=data["run"])
            if run is None:
                raise ValidationError({"run": f"no run {data['run']} in study {study_id}"})
        if data.get("base_version"):
            base = selectors.ground_truth_version(sequence=sequence, number=data["base_version"])
        elif run is None:  # neither: the sequence's newest successful run
            run = selectors.run_latest_succeeded(sequence=sequence)
        version = services.ground_truth_version_create(
            sequence=sequence, editor=request.user, frames=data["frames"], run=run,
            threshold=data.get("threshold"), base=base, note=data.get("note", ""))
        return Response(GroundTruthVersionSerializer(version).data, status=status.HTTP_201_CREATED)


def _version_number(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.QUERY,
                            required=False, description=description)


class RunCompareApi(APIView):
    @extend_schema(parameters=[
        THRESHOLD_PARAMETER,
        _version_number("version", "compare this corrected version instead of the run's masks"),
        _version_number("against", "compare with this version instead of the reference masks")],
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="no reference masks or version")},
        summary="Per-frame TP/FP/FN and Dice of the run's masks (or a version) against the reference")
    def get(self, request, study_id: int, run_id: int):
        run = _run(request, study_id, run_id)
        return Response(selectors.masks_compare(
            run=run, threshold=_threshold(request), version=_positive_int(request, "version"),
            against=_positive_int(request, "against")))
