"""The crowd API: studies, sequences, members, invitations, assignments.

Thin views: validate, call one service or selector, serialize. :class:`PlatformApiView` turns
service errors into HTTP answers: ValidationError 400, UploadTooLarge 413.
"""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import selectors, services
from .images import display_uint8, png_bytes
from .login import lockout_message
from .models import StudyMembership
from .permissions import COORDINATOR, READERS, sequence_for, study_for
from .rest import JSONParser, PayloadTooLarge, attachment
from .serializers import (
    AssignmentCreateSerializer,
    AssignmentSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MasksUploadSerializer,
    MemberEventSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    SequenceSerializer,
    SequenceUploadSerializer,
    StudySerializer,
    StudyWriteSerializer,
)

Role = StudyMembership.Role


class AuthTokenApi(ObtainAuthToken):
    """``POST /api/auth/token/`` (username, password): the user's API token.

    Failed logins count towards django-axes' lockout (per account and per address, like the
    web login); a locked-out client gets 429 with the time to wait. A request rate per
    address (``GAZECROWD_LOGIN_RATE``) comes on top.
    """

    parser_classes = [JSONParser, FormParser, MultiPartParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
                message, retry_after = lockout_message()
                response = Response({"detail": message}, status=status.HTTP_429_TOO_MANY_REQUESTS)
                response["Retry-After"] = str(retry_after)
                return response
            raise exceptions.ValidationError(serializer.errors)
        return super().post(request, *args, **kwargs)


class ApiRootApi(APIView):
    """``GET /api/``: where the API's documentation, schema and entry points are."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        def link(name):
            return request.build_absolute_uri(reverse(name))

        return Response({
            "docs": link("api-docs"), "redoc": link("api-redoc"), "schema": link("schema"),
            "token": link("auth-token"), "studies": link("study-list"),
        })


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "conflict"
    default_code = "conflict"


class PlatformApiView(APIView):
    """An APIView that answers service errors: ValidationError 400, UploadTooLarge 413."""

    # The docstring above is the API docs' description of every view without its own: keep it.

    def handle_exception(self, exc):
        if isinstance(exc, services.UploadTooLarge):
            exc = PayloadTooLarge("; ".join(exc.messages))
        elif isinstance(exc, DjangoValidationError) and hasattr(exc, "error_dict"):
            # Per field, one message each: {"observer": "..."}, as the API has always answered.
            exc = exceptions.ValidationError({k: "; ".join(v) for k, v in exc.message_dict.items()})
        elif isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError({"detail": "; ".join(exc.messages)})
        return super().handle_exception(exc)


class PlatformListView(generics.ListAPIView):
    def handle_exception(self, exc):
        return PlatformApiView.handle_exception(self, exc)


def validated(serializer_class, data, **kwargs) -> dict:
    """The validated data of ``serializer_class(data=data)``; DRF answers 400 otherwise.

    The one copy of the serializer boilerplate for every app's API classes.
    """
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)




# --- studies --------------------------------------------------------------------------------


class StudyListApi(PlatformListView, PlatformApiView):
    """GET: the studies the user is a member of. POST: create one (the creator coordinates)."""

    serializer_class = StudySerializer

    def get_queryset(self):
        return selectors.studies_for_user(user=self.request.user)

    @extend_schema(request=StudyWriteSerializer, responses={201: StudySerializer}, summary="Create a study")
    def post(self, request):
        data = validated(StudyWriteSerializer, request.data)
        study = services.study_create(created_by=request.user, **data)
        study.my_role = Role.COORDINATOR
        return Response(StudySerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(PlatformApiView):
    @extend_schema(responses=StudySerializer, summary="A study")
    def get(self, request, study_id: int):
        study, role = study_for(request, study_id)
        study.my_role = role
        return Response(StudySerializer(study).data)

    @extend_schema(request=StudyWriteSerializer(partial=True), responses=StudySerializer, summary="Change a study")
    def patch(self, request, study_id: int):
        study, role = study_for(request, study_id, COORDINATOR)
        data = validated(StudyWriteSerializer, request.data, partial=True)
        study = services.study_update(study=study, **data)
        study.my_role = role
        return Response(StudySerializer(study).data)

    @extend_schema(responses={204: None}, summary="Delete a study and everything in it")
    def delete(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        services.study_delete(study=study)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- sequences ------------------------------------------------------------------------------


class SequenceListApi(PlatformListView, PlatformApiView):
    """GET: sequences (observers: their assigned ones). POST: upload one (coordinators)."""

    serializer_class = SequenceSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        study, role = study_for(self.request, self.kwargs["study_id"])
        return selectors.sequences_for_user(user=self.request.user, study=study, role=role).select_related("study")

    @extend_schema(
        request={"multipart/form-data": SequenceUploadSerializer},
        responses={201: SequenceSerializer, 400: OpenApiResponse(description="bad file"),
                   413: OpenApiResponse(description="file too large")},
        summary="Upload a sequence (zip of images or DICOM, NIfTI, video), optionally with masks",
    )
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(SequenceUploadSerializer, request.data)
        with services.uploaded_path(data["file"]) as path:
            if data.get("truth") is not None:
                with services.uploaded_path(data["truth"]) as truth:
                    sequence = _import(study, path, data, truth)
            else:
                sequence = _import(study, path, data, None)
        return Response(SequenceSerializer(sequence).data, status=status.HTTP_201_CREATED)


def _import(study, path, data, truth):
    return services.sequence_import(
        study=study,
        path=path,
        name=data.get("name"),
        source_name=data["file"].name,
        truth=truth,
        truth_frames=data.get("truth_frames"),
        axis=data.get("axis", -1),
    )


class SequenceDetailApi(PlatformApiView):
    @extend_schema(responses=SequenceSerializer, summary="A sequence")
    def get(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id)
        return Response(SequenceSerializer(sequence).data)

    @extend_schema(responses={204: None}, summary="Delete a sequence with its recordings")
    def delete(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, COORDINATOR)
        services.sequence_delete(sequence=sequence)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SequenceFramesApi(PlatformApiView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   summary="All frames as a .npy array (T, H, W[, 3])")
    def get(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id)
        return FileResponse(sequence.frames_file.open("rb"), content_type="application/octet-stream",
                            as_attachment=True, filename=f"{sequence.name}.npy")


class SequenceFrameImageApi(PlatformApiView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY},
                   summary="One frame as a PNG (what the recording page shows)")
    def get(self, request, study_id: int, sequence_id: int, index: int):
        sequence, _ = sequence_for(request, study_id, sequence_id)
        if not 0 <= index < sequence.n_frames:
            raise exceptions.NotFound(f"frame {index} does not exist (0..{sequence.n_frames - 1})")
        frames = selectors.sequence_frames(sequence)
        value_range = selectors.sequence_value_range(sequence) if frames.dtype != np.uint8 else None
        response = HttpResponse(png_bytes(display_uint8(frames, index, value_range)),
                                content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class SequenceMasksApi(PlatformApiView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   summary="Reference masks as .npz: frames (K,), masks (K, H, W) uint8")
    def get(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
        masks = selectors.sequence_masks(sequence)
        if masks is None:
            raise exceptions.NotFound("this sequence has no reference masks")
        buf = io.BytesIO()
        np.savez_compressed(buf, frames=masks[0], masks=masks[1].astype(np.uint8))
        response = HttpResponse(buf.getvalue(), content_type="application/octet-stream")
        return attachment(response, f"{sequence.name}-masks.npz")

    @extend_schema(request={"multipart/form-data": MasksUploadSerializer}, responses=SequenceSerializer,
                   summary="Attach reference masks (replaces earlier ones)")
    def put(self, request, study_id: int, sequence_id: int):
        sequence, _ = sequence_for(request, study_id, sequence_id, COORDINATOR)
        data = validated(MasksUploadSerializer, request.data)
        with services.uploaded_path(data["file"]) as path:
            services.sequence_masks_attach(
                sequence=sequence, path=path, frames=data.get("frames"),
                source_name=data["file"].name, axis=data.get("axis", -1),
            )
        return Response(SequenceSerializer(sequence).data)


# --- members, invitations, assignments ------------------------------------------------------


class MemberListApi(PlatformListView, PlatformApiView):
    """GET: members (observers: themselves). POST: add an existing user with a role."""

    serializer_class = MembershipSerializer

    def get_queryset(self):
        study, role = study_for(self.request, self.kwargs["study_id"])
        return selectors.members_for_user(user=self.request.user, study=study, role=role)

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer},
                   summary="Add a member (or change an existing member's role)")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(MembershipCreateSerializer, request.data)
        membership = services.membership_set(
            study=study, user=selectors.user_get_by_username(username=data["username"]),
            role=data["role"], actor=request.user)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(PlatformApiView):
    def _membership(self, request, study_id, member_id):
        study, _ = study_for(request, study_id, COORDINATOR)
        return selectors.membership_of_study(study=study, member_id=member_id)

    @extend_schema(request=MembershipUpdateSerializer, responses=MembershipSerializer, summary="Change a role")
    def patch(self, request, study_id: int, member_id: int):
        membership = self._membership(request, study_id, member_id)
        data = validated(MembershipUpdateSerializer, request.data)
        membership = services.membership_set(study=membership.study, user=membership.user,
                                             role=data["role"], actor=request.user)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None}, summary="Remove a member (their recordings stay)")
    def delete(self, request, study_id: int, member_id: int):
        services.membership_remove(membership=self._membership(request, study_id, member_id),
                                   actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberEventListApi(PlatformListView, PlatformApiView):
    """GET: the study's members audit trail, newest first (coordinators only)."""

    serializer_class = MemberEventSerializer

    def get_queryset(self):
        study, _ = study_for(self.request, self.kwargs["study_id"], COORDINATOR)
        return selectors.member_events_for_study(study=study)


class InvitationListApi(PlatformListView, PlatformApiView):
    serializer_class = InvitationSerializer

    def get_queryset(self):
        study, _ = study_for(self.request, self.kwargs["study_id"], COORDINATOR)
        return selectors.invitations_for_study(study=study)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer},
                   summary="Invite someone: a single-use token that expires")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(InvitationCreateSerializer, request.data)
        invitation = services.invitation_create(
            study=study, role=data["role"], email=data.get("email", ""), created_by=request.user,
            valid_for=timedelta(days=data["valid_days"]),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(PlatformApiView):
    @extend_schema(responses={204: None}, summary="Revoke an invitation")
    def delete(self, request, study_id: int, invitation_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        invitation = selectors.invitation_of_study(study=study, invitation_id=invitation_id)
        services.invitation_revoke(invitation=invitation, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptApi(PlatformApiView):
    @extend_schema(request=None, responses={201: MembershipSerializer},
                   summary="Accept an invitation: join its study with its role")
    def post(self, request, token: str):
        membership = services.invitation_accept(token=token, user=request.user)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class AssignmentListApi(PlatformListView, PlatformApiView):
    """GET: assignments (observers: their own). POST: assign an observer (coordinators)."""

    serializer_class = AssignmentSerializer

    def get_queryset(self):
        study, role = study_for(self.request, self.kwargs["study_id"])
        return selectors.assignments_for_user(user=self.request.user, study=study, role=role)

    @extend_schema(request=AssignmentCreateSerializer, responses={201: AssignmentSerializer(many=True)},
                   summary="Assign an observer one sequence, or every sequence when none is named")
    def post(self, request, study_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        data = validated(AssignmentCreateSerializer, request.data)
        observer = selectors.user_get_by_username(username=data["observer"])
        sequences = selectors.sequences_of_study(study=study, sequence_id=data.get("sequence"))
        made = [services.assignment_create(sequence=s, observer=observer) for s in sequences]
        return Response(AssignmentSerializer(made, many=True).data, status=status.HTTP_201_CREATED)


class AssignmentDetailApi(PlatformApiView):
    @extend_schema(responses={204: None}, summary="Withdraw an assignment")
    def delete(self, request, study_id: int, assignment_id: int):
        study, _ = study_for(request, study_id, COORDINATOR)
        assignment = selectors.assignment_of_study(study=study, assignment_id=assignment_id)
        services.assignment_delete(assignment=assignment)
        return Response(status=status.HTTP_204_NO_CONTENT)

