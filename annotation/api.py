"""The annotation API: recordings, live gaze batches, tracker-file imports, gaze downloads.

Recordings are created under their sequence and then addressed on their own
(``/api/recordings/<id>/``): a live client posts many batches and should not have to repeat
the study and sequence in every URL (shallow nesting).
"""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from crowd import services as crowd_services
from crowd.api import Conflict, PlatformApiView, PlatformListView, validated
from crowd.models import StudyMembership
from crowd.permissions import ANY, READERS, sequence_for, study_for
from crowd.rest import JSONParser, attachment
from crowd.serializers import StudyStatusSerializer

from . import bids, selectors, services
from . import samples as packed
from .models import MAX_BATCHES
from .serializers import (
    BatchResultSerializer,
    BatchSerializer,
    FinishSerializer,
    ImageLabelCreateSerializer,
    ImageLabelSerializer,
    ImageVisitCreateSerializer,
    ImageVisitSerializer,
    RecordingCreateSerializer,
    RecordingImportSerializer,
    RecordingProgressSerializer,
    RecordingSerializer,
)

Role = StudyMembership.Role


def _recording(request, recording_id: int, roles=ANY):
    """(recording, role) for the request's user, or 404 / 403 (the selector's own errors)."""
    return selectors.recording_get_for_user(user=request.user, recording_id=recording_id, roles=roles)


class AnnotationApiView(PlatformApiView):
    """Adds 409 for batch conflicts and incomplete recordings."""

    def handle_exception(self, exc):
        if isinstance(exc, services.RecordingIncomplete):
            return Response({"detail": "; ".join(exc.messages), "missing": exc.missing,
                             "n_missing": exc.n_missing}, status=409)
        if isinstance(exc, services.BatchConflict):
            exc = Conflict("; ".join(exc.messages))
        elif isinstance(exc, services.NotObserver):
            # Removed from the study: as for any non-member, the recording does not exist.
            # Still a member in another role: the role does not allow this.
            exc = (exceptions.PermissionDenied if exc.role else exceptions.NotFound)("; ".join(exc.messages))
        return super().handle_exception(exc)


class StudyStatusApi(AnnotationApiView):
    @extend_schema(responses=StudyStatusSerializer, summary="Sequences, recordings, samples, members")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, READERS)
        return Response(selectors.study_status(study=study))


class RecordingListApi(PlatformListView, AnnotationApiView):
    """GET: recordings of a sequence (observers: their own). POST: start a live recording."""

    serializer_class = RecordingSerializer

    def get_queryset(self):
        sequence, role = sequence_for(self.request, self.kwargs["study_id"], self.kwargs["sequence_id"])
        return selectors.recordings_for_user(user=self.request.user, sequence=sequence, role=role)

    @extend_schema(request=RecordingCreateSerializer, responses={201: RecordingSerializer, 200: RecordingSerializer},
                   summary="Start a recording of an assigned sequence (observers)")
    def post(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
        data = validated(RecordingCreateSerializer, request.data)
        recording, created = services.recording_start(observer=request.user, sequence=sequence, **data)
        return Response(
            RecordingSerializer(selectors.recording_with_counts(recording=recording)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RecordingImportApi(AnnotationApiView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": RecordingImportSerializer},
        responses={201: RecordingSerializer, 400: OpenApiResponse(description="bad file"),
                   413: OpenApiResponse(description="file too large")},
        summary="Import a tracker file as one finished recording",
    )
    def post(self, request, study_id: int, sequence_id: int):
        sequence, role = sequence_for(request, study_id, sequence_id, (Role.COORDINATOR, Role.OBSERVER))
        data = validated(RecordingImportSerializer, request.data)
        upload = data.pop("file")
        with crowd_services.uploaded_path(upload) as path:
            fmt = data.pop("format", None) or services.tracker_format_detect(path, source_name=upload.name)
            observer = selectors.import_observer_for(
                user=request.user, sequence=sequence, role=role, username=data.pop("observer", None),
                file_username=services.tracker_file_observer(path, fmt=fmt, source_name=upload.name))
            recording = services.recording_import_file(
                sequence=sequence, observer=observer, path=path, fmt=fmt, source_name=upload.name,
                playback_start_ms=data.pop("playback_start_ms", None),
                ensure_member=role == Role.COORDINATOR, **data,
            )
        return Response(RecordingSerializer(selectors.recording_with_counts(recording=recording)).data, status=status.HTTP_201_CREATED)


class RecordingDetailApi(AnnotationApiView):
    @extend_schema(responses=RecordingSerializer, summary="A recording")
    def get(self, request, recording_id: int):
        recording, _ = _recording(request, recording_id)
        return Response(RecordingSerializer(selectors.recording_with_counts(recording=recording)).data)


class RecordingProgressApi(AnnotationApiView):
    @extend_schema(responses=RecordingProgressSerializer, summary="Batches and samples stored, numbers missing")
    def get(self, request, recording_id: int):
        recording, _ = _recording(request, recording_id)
        return Response(selectors.recording_counts(recording))


class GazeBatchApi(AnnotationApiView):
    """The live ingestion hot path: the token lookup and one INSERT that checks the rest."""

    parser_classes = [JSONParser]
    # A machine endpoint: JSON only (no browsable-API rendering), token first (the usual caller).
    renderer_classes = [JSONRenderer]
    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema(
        request=BatchSerializer,
        responses={201: BatchResultSerializer, 200: BatchResultSerializer,
                   409: OpenApiResponse(description="same number, other samples; or recording closed")},
        summary="Send a batch of gaze samples (a retried batch is stored once)",
    )
    def post(self, request, recording_id: int):
        n_frames = selectors.recording_frames_for_observer(user=request.user, recording_id=recording_id)
        body = request.data
        number = body.get("batch") if isinstance(body, dict) else None
        if type(number) is not int or not 0 <= number < MAX_BATCHES:
            raise exceptions.ValidationError(
                {"batch": f"a whole batch number 0..{MAX_BATCHES - 1} is required, got {str(number)[:40]}"})
        try:
            samples = packed.validate(body.get("samples"), n_frames=n_frames)
        except ValueError as exc:
            raise exceptions.ValidationError({"samples": str(exc)}) from exc
        result = services.gaze_batch_store(
            recording_id=recording_id, number=number, samples=samples, observer_id=request.user.pk
        )
        return Response(
            {"batch": result.number, "stored": result.created, "samples": result.n_samples},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class RecordingFinishApi(AnnotationApiView):
    parser_classes = [JSONParser]

    @extend_schema(request=FinishSerializer, responses={200: RecordingSerializer,
                   409: OpenApiResponse(description="batches missing: {detail, missing: [numbers]}")},
                   summary="Finish a recording (checks every batch arrived); starts its estimate")
    def post(self, request, recording_id: int):
        recording, _ = _recording(request, recording_id, (Role.OBSERVER,))
        data = validated(FinishSerializer, request.data or {})
        recording = services.recording_finish(recording=recording, **data)
        return Response(RecordingSerializer(selectors.recording_with_counts(recording=recording)).data)


class RecordingAbortApi(AnnotationApiView):
    @extend_schema(request=None, responses=RecordingSerializer, summary="Abort an open recording")
    def post(self, request, recording_id: int):
        recording, _ = _recording(request, recording_id, (Role.OBSERVER,))
        recording = services.recording_abort(recording=recording)
        return Response(RecordingSerializer(selectors.recording_with_counts(recording=recording)).data)


class RecordingGazeApi(AnnotationApiView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR},
                   summary="The recording's gaze as CSV observer,t_ms,frame,x,y (image pixels)")
    def get(self, request, recording_id: int):
        recording, _ = _recording(request, recording_id, (*READERS, Role.OBSERVER))
        gaze = selectors.recording_gaze(recording)
        response = HttpResponse(gaze.to_csv(index=False, na_rep=""), content_type="text/csv")
        return attachment(response, f"recording-{recording.pk}.csv")


class StudyBidsApi(AnnotationApiView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="nothing to export, or too much")},
                   summary="The study's finished recordings as a BIDS eye-tracking dataset (zip)")
    def get(self, request, study_id: int):
        study, _ = study_for(request, study_id, READERS)
        archive, name = bids.study_bids_zip(study=study)
        return FileResponse(archive, content_type="application/zip", as_attachment=True, filename=name)



class ImageLabelListApi(PlatformListView, AnnotationApiView):
    """GET: hand labels of an image collection (observers: their own). POST: store one label."""

    serializer_class = ImageLabelSerializer

    def get_queryset(self):
        sequence, role = sequence_for(self.request, self.kwargs["study_id"], self.kwargs["sequence_id"])
        return selectors.image_labels_for_user(user=self.request.user, sequence=sequence, role=role)

    @extend_schema(request=ImageLabelCreateSerializer, responses={201: ImageLabelSerializer},
                   summary="Store a hand label (box, freehand outline or gaze mark) with its time")
    def post(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
        data = validated(ImageLabelCreateSerializer, request.data)
        label = services.image_label_create(observer=request.user, sequence=sequence, **data)
        return Response(ImageLabelSerializer(label).data, status=status.HTTP_201_CREATED)


class ImageVisitListApi(PlatformListView, AnnotationApiView):
    """GET: time per image (observers: their own). POST: store the time of one image visit."""

    serializer_class = ImageVisitSerializer

    def get_queryset(self):
        sequence, role = sequence_for(self.request, self.kwargs["study_id"], self.kwargs["sequence_id"])
        return selectors.image_visits_for_user(user=self.request.user, sequence=sequence, role=role)

    @extend_schema(request=ImageVisitCreateSerializer, responses={201: ImageVisitSerializer},
                   summary="Store the time spent on one image in one labelling mode")
    def post(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
        data = validated(ImageVisitCreateSerializer, request.data)
        recording_id = data.pop("recording", None)
        recording = None
        if recording_id is not None:
            recording, _ = _recording(request, recording_id, (Role.OBSERVER,))
        visit = services.image_visit_record(observer=request.user, sequence=sequence, recording=recording, **data)
        return Response(ImageVisitSerializer(visit).data, status=status.HTTP_201_CREATED)
