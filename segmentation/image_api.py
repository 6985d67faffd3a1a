"""API of image collections in the segmentation app: gaze boxes and the labelling-time report.

Coordinators start the gaze boxes (a Celery job: POST, then GET its progress); coordinators
and researchers download them and read the timing report; observers get 403 (the results
reveal the other observers' gaze and times).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from crowd.api import PlatformApiView
from crowd.permissions import COORDINATOR, READERS, study_for
from crowd.rest import attachment

from . import selectors, services
from .models import GazeBoxesJob


class GazeBoxesResultSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    boxes = serializers.IntegerField()
    fixations = serializers.IntegerField()
    coco = serializers.CharField(help_text="media name of the COCO JSON")
    masks = serializers.CharField(help_text="media name of the zip of PNG masks")


class GazeBoxesJobSerializer(serializers.ModelSerializer):
    result = serializers.SerializerMethodField(help_text="counts and media names, once succeeded")

    class Meta:
        model = GazeBoxesJob
        fields = ["id", "study", "status", "progress", "result", "error", "attempts",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    @extend_schema_field(GazeBoxesResultSerializer(allow_null=True))
    def get_result(self, job) -> dict | None:
        return job.result or None


class GazeBoxesApi(PlatformApiView):
    @extend_schema(request=None, responses={202: GazeBoxesJobSerializer,
                                            400: OpenApiResponse(description="not an image collection, no gaze")},
                   summary="Start computing boxes and masks per image from the finished recordings "
                           "(coordinators); a job already queued or running is returned instead")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        job, _created = services.gaze_boxes_request(study=study, requested_by=request.user)
        return Response(GazeBoxesJobSerializer(job).data, status=202)

    @extend_schema(operation_id="studies_gaze_boxes_job",
                   responses={200: GazeBoxesJobSerializer, 404: OpenApiResponse(description="never started")},
                   summary="The latest gaze-boxes job of the study: status, progress, counts or error")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, READERS)
        job = selectors.gaze_boxes_latest(study=study)
        if job is None:
            raise NotFound("gaze boxes never computed for this study: POST here to start")
        return Response(GazeBoxesJobSerializer(job).data)


class GazeBoxesFileApi(PlatformApiView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              404: OpenApiResponse(description="not computed yet")},
                   summary="The gaze boxes as COCO JSON (kind=coco) or the PNG masks as a zip (kind=masks)")
    def get(self, request, study_id: int, kind: str):
        study, _ = study_for(request, study_id, READERS)
        if kind not in ("coco", "masks"):
            raise NotFound(f"no gaze-box download {kind!r}; use coco or masks")
        data = selectors.gaze_boxes_file(study=study, kind=kind)
        if data is None:
            raise NotFound("gaze boxes not computed yet: POST to the gaze-boxes endpoint first")
        name, ctype = ("boxes.json", "application/json") if kind == "coco" else ("masks.zip", "application/zip")
        return attachment(HttpResponse(data, content_type=ctype), f"study-{study.pk}-{name}")


class LabellingTimesApi(PlatformApiView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT},
                   summary="Time per label by mode (mean, median, 95% CI) and what gaze saves")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, READERS)
        return Response(selectors.labelling_time_report(study=study))
