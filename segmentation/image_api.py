"""API of image collections in the segmentation app: gaze boxes and the labelling-time report.

Coordinators compute the gaze boxes; coordinators and researchers download them and read the
timing report; observers get 403 (the results reveal the other observers' gaze and times).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from crowd.api import PlatformApiView
from crowd.permissions import COORDINATOR, READERS, study_for

from . import image_labels


class GazeBoxesResultSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    boxes = serializers.IntegerField()
    fixations = serializers.IntegerField()
    coco = serializers.CharField(help_text="media name of the COCO JSON")
    masks = serializers.CharField(help_text="media name of the zip of PNG masks")


class GazeBoxesApi(PlatformApiView):
    @extend_schema(request=None, responses={201: GazeBoxesResultSerializer,
                                            400: OpenApiResponse(description="not an image collection, no gaze")},
                   summary="Compute boxes and masks per image from the finished recordings (coordinators)")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        return Response(image_labels.gaze_boxes_store(study=study), status=201)


class GazeBoxesFileApi(PlatformApiView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              404: OpenApiResponse(description="not computed yet")},
                   summary="The gaze boxes as COCO JSON (kind=coco) or the PNG masks as a zip (kind=masks)")
    def get(self, request, study_id: int, kind: str):
        study, _ = study_for(request, study_id, READERS)
        if kind not in ("coco", "masks"):
            raise NotFound(f"no gaze-box download {kind!r}; use coco or masks")
        data = image_labels.gaze_boxes_file(study=study, kind=kind)
        if data is None:
            raise NotFound("gaze boxes not computed yet: POST to the gaze-boxes endpoint first")
        name, ctype = ("boxes.json", "application/json") if kind == "coco" else ("masks.zip", "application/zip")
        response = HttpResponse(data, content_type=ctype)
        response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-{name}"'
        return response


class LabellingTimesApi(PlatformApiView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT},
                   summary="Time per label by mode (mean, median, 95% CI) and what gaze saves")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, READERS)
        return Response(image_labels.labelling_time_report(study=study))
