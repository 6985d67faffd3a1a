"""Push ground truth to the study's DICOMweb server as DICOM SEG (STOW-RS); coordinators only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from crowd import selectors as crowd_selectors
from crowd import services as crowd_services
from crowd.api import PlatformApiView, validated
from crowd.permissions import COORDINATOR, study_for

from .dicomweb_push import ground_truth_push


class PushSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    fractional = serializers.BooleanField(required=False, default=False)


class DicomWebPushApi(PlatformApiView):
    @extend_schema(
        request=PushSerializer,
        responses={200: inline_serializer("DicomWebPushResult", {
            "stored": serializers.ListField(child=serializers.DictField()),
            "skipped": serializers.ListField(child=serializers.DictField())}),
            400: OpenApiResponse(description="no server, or the server refused")},
        summary="STOW-RS each DICOM-sourced sequence's ground truth as a DICOM SEG")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(PushSerializer, request.data)
        sequence = None
        if "sequence" in data:
            sequence = crowd_selectors.sequence_of_study(study=study, sequence_id=data["sequence"])
            if sequence is None:
                raise serializers.ValidationError({"sequence": f"study {study_id} has no such sequence"})
        connection = crowd_services.dicomweb_connection(study=study)
        result = ground_truth_push(study=study, connection=connection, threshold=data.get("threshold"),
                                   fractional=data["fractional"], sequence=sequence)
        return Response({"stored": result.stored, "skipped": result.skipped})
