"""The study's DICOMweb server in the API (coordinators only): its settings (the password is
write-only), QIDO-RS browsing of studies and series, and importing a series (WADO-RS).
Pushing ground truth back (STOW-RS) is the segmentation app's (segmentation.dicomweb_api).
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from . import services
from .api import PlatformApiView, validated
from .models import MAX_DICOMWEB_URL, DicomWebServer
from .permissions import COORDINATOR, study_for
from .serializers import SequenceSerializer


class DicomWebServerSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_DICOMWEB_URL, help_text="http(s) base URL of the DICOMweb service")
    username = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    password = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, write_only=True, trim_whitespace=False,
        help_text="write-only, stored encrypted; omit to keep the stored one, empty to remove it")


class DicomWebServerOutSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="empty when the study has no server")
    username = serializers.CharField()
    has_password = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)


def _out(server: DicomWebServer | None) -> dict:
    if server is None:
        return {"url": "", "username": "", "has_password": False, "updated_at": None}
    return {"url": server.url, "username": server.username, "has_password": bool(server.password_encrypted),
            "updated_at": server.updated_at}


class DicomWebServerApi(PlatformApiView):
    @extend_schema(responses={200: DicomWebServerOutSerializer},
                   summary="The study's DICOMweb server (never its password; url empty when none)")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        server = DicomWebServer.objects.filter(study=study).first()
        return Response(DicomWebServerOutSerializer(_out(server)).data)

    @extend_schema(request=DicomWebServerSerializer, responses={200: DicomWebServerOutSerializer},
                   summary="Set the study's DICOMweb server and credentials")
    def put(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(DicomWebServerSerializer, request.data)
        server = services.dicomweb_server_set(study=study, url=data["url"], username=data.get("username", ""),
                                              password=data.get("password"))
        return Response(DicomWebServerOutSerializer(_out(server)).data)

    @extend_schema(responses={204: None}, summary="Forget the study's DICOMweb server")
    def delete(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        services.dicomweb_server_delete(study=study)
        return Response(status=status.HTTP_204_NO_CONTENT)


_STUDY = inline_serializer("DicomWebStudy", {f: serializers.CharField(allow_null=True) for f in (
    "StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "StudyDescription", "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries")})
_SERIES = inline_serializer("DicomWebSeries", {f: serializers.CharField(allow_null=True) for f in (
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances")})


class DicomWebStudiesApi(PlatformApiView):
    @extend_schema(parameters=[OpenApiParameter("PatientID", str, required=False)],
                   responses={200: _STUDY}, summary="QIDO-RS: the studies on the study's DICOMweb server")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        connection = services.dicomweb_connection(study=study)
        patient = (request.query_params.get("PatientID") or "")[:64] or None
        return Response(services.dicomweb_studies(connection=connection, patient_id=patient))


class DicomWebSeriesApi(PlatformApiView):
    @extend_schema(responses={200: _SERIES}, summary="QIDO-RS: the series of one study on the DICOMweb server")
    def get(self, request, study_id: int, study_uid: str):
        study, _ = study_for(request, study_id, COORDINATOR)
        connection = services.dicomweb_connection(study=study)
        return Response(services.dicomweb_series(connection=connection, study_uid=study_uid))


class DicomWebImportSerializer(serializers.Serializer):
    series_uid = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DicomWebImportApi(PlatformApiView):
    @extend_schema(request=DicomWebImportSerializer,
                   responses={201: SequenceSerializer, 400: OpenApiResponse(description="server or series error"),
                              413: OpenApiResponse(description="series over the size budget")},
                   summary="Import a series from the study's DICOMweb server as a sequence (WADO-RS)")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(DicomWebImportSerializer, request.data)
        connection = services.dicomweb_connection(study=study)
        sequence = services.sequence_import_dicomweb(study=study, connection=connection,
                                                     series_uid=data["series_uid"], name=data.get("name") or None)
        return Response(SequenceSerializer(sequence).data, status=status.HTTP_201_CREATED)
