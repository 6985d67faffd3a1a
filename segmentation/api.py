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
from crowd.api import validated
from crowd.models import StudyMembership
from crowd.permissions import study_for
from crowd.rest import attachment

from . import export_formats, selectors, services
from .export_service import parse_threshold, run_export
from .models import Run
from .parameters import ParameterError
from .serializers import RunCreateSerializer, RunSerializer

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


class SequenceGroundTruthApi(APIView):
    @extend_schema(parameters=[THRESHOLD_PARAMETER],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="bad threshold")},
                   summary="The sequence's current ground truth (its newest successful run)")
    def get(self, request, study_id: int, sequence_id: int, fmt: str):
        study = _study(request, study_id, READERS)
        sequence = crowd_selectors.sequence_of_study(study=study, sequence_id=sequence_id)
        if sequence is None:
            raise NotFound(f"no sequence {sequence_id} in study {study_id}")
        if fmt not in export_formats.FORMATS:
            raise NotFound(f"unknown format {fmt!r}; choose one of {', '.join(export_formats.FORMATS)}")
        threshold = _threshold(request)
        run = selectors.run_latest_succeeded(sequence=sequence)
        if run is None:
            raise NotFound(f"sequence {sequence.name!r} has no ground truth yet")
        try:
            return _download(*run_export(run=run, fmt=fmt, threshold=threshold))
        except ValueError as exc:  # e.g. a DICOM SEG of a sequence not read from DICOM
            raise ValidationError({"detail": str(exc)}) from exc
