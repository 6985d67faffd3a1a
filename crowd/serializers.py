"""Input and output shapes of the crowd API (validation only; writes go through services)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import (
    MAX_FRAME_RATE,
    MAX_ID,
    MAX_QUORUM,
    MAX_REPEATS,
    Assignment,
    Invitation,
    MemberEvent,
    Sequence,
    Study,
    StudyMembership,
    validate_name,
)

Role = StudyMembership.Role


class StudySerializer(serializers.ModelSerializer):
    my_role = serializers.CharField(read_only=True, allow_null=True, default=None)
    n_sequences = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Study
        fields = [
            "id", "name", "target_structure", "instructions", "status", "kind", "frame_rate",
            "quorum", "repeats_per_observer", "created_at", "my_role", "n_sequences",
        ]
        read_only_fields = fields


@extend_schema_field({"type": "string", "enum": list(Study.Status.values)})
class _StudyStatusField(serializers.ChoiceField):
    """Inline enum in the schema: the read serializer names the one ``StudyStatusEnum``."""


class StudyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, validators=[validate_name])
    target_structure = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                             validators=[validate_name])
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    frame_rate = serializers.FloatField(required=False, allow_null=True, min_value=0.001, max_value=MAX_FRAME_RATE)
    # Bounded so that a huge number is a 400, not a database error (PostgreSQL integer).
    quorum = serializers.IntegerField(required=False, min_value=1, max_value=MAX_QUORUM)
    repeats_per_observer = serializers.IntegerField(required=False, min_value=1, max_value=MAX_REPEATS)
    status = _StudyStatusField(choices=Study.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Study.Kind.choices, required=False,
                                   help_text="sequence (default) or images; set at creation only")


class StudyStatusSequenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    frames = serializers.IntegerField()
    recordings = serializers.IntegerField()
    samples = serializers.IntegerField(help_text="every stored gaze sample, lost ones included")


class StudyStatusMembersSerializer(serializers.Serializer):
    coordinator = serializers.ListField(child=serializers.CharField())
    observer = serializers.ListField(child=serializers.CharField())
    researcher = serializers.ListField(child=serializers.CharField())


class StudyStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sequences = StudyStatusSequenceSerializer(many=True)
    members = StudyStatusMembersSerializer()


class SequenceSerializer(serializers.ModelSerializer):
    shape = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    has_masks = serializers.BooleanField(read_only=True)
    playback_fps = serializers.FloatField(read_only=True)

    class Meta:
        model = Sequence
        fields = [
            "id", "study", "name", "modality", "source_name", "n_frames", "height", "width",
            "channels", "dtype", "shape", "spacing", "fps", "playback_fps", "affine", "has_masks",
            "mask_frames", "created_at",
        ]
        read_only_fields = fields


MAX_FRAME_LIST = 100_000  # frame numbers in one list (masks of every frame of a long sequence)


def _frame_list(text: str) -> list[int]:
    try:
        frames = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise serializers.ValidationError("comma-separated frame numbers, e.g. 0,5,10") from exc
    if len(frames) > MAX_FRAME_LIST or any(not 0 <= f <= MAX_ID for f in frames):
        raise serializers.ValidationError(
            f"at most {MAX_FRAME_LIST} frame numbers, each a frame of the sequence (0, 1, 2...)"
        )
    return frames


# Frames are taken along this axis of a volume: -3..2 name the three axes of (rows, cols, slices).
_AXIS = {"required": False, "default": -1, "min_value": -3, "max_value": 2,
         "help_text": "for volumes: the axis frames are taken along (-1: the last, slices)"}


class SequenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="a .zip of images or DICOM slices, a .nii/.nii.gz volume, or a video"
    )
    name = serializers.CharField(max_length=200, required=False, help_text="default: the file name",
                                 validators=[validate_name])
    truth = serializers.FileField(required=False, help_text="reference masks (all frames or some)")
    truth_frames = serializers.CharField(
        required=False, help_text="frame numbers of the masks, comma-separated (default: file names)"
    )
    axis = serializers.IntegerField(**_AXIS)

    def validate_truth_frames(self, value):
        return _frame_list(value)


class MasksUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="masks in any form a sequence can take")
    frames = serializers.CharField(required=False, help_text="frame numbers, comma-separated")
    axis = serializers.IntegerField(**_AXIS)

    def validate_frames(self, value):
        return _frame_list(value)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = StudyMembership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = fields


class MemberEventSerializer(serializers.ModelSerializer):
    """One line of the members audit trail (coordinators only)."""

    # Plain strings: two fields over the same role choices would give the schema two enum
    # names for one set ("" when the line has no role).
    role = serializers.CharField(read_only=True, help_text="the role given (empty: none)")
    previous_role = serializers.CharField(read_only=True, help_text="the role before (empty: none)")

    class Meta:
        model = MemberEvent
        fields = ["id", "created_at", "action", "actor", "actor_name", "subject", "subject_name",
                  "role", "previous_role", "invitation"]
        read_only_fields = fields


class MembershipCreateSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="an existing user", max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    accepted_by = serializers.CharField(source="accepted_by.username", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id", "study", "role", "email", "token", "created_at", "expires_at", "accepted_by",
            "accepted_at", "revoked",
        ]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(required=False, allow_blank=True)
    valid_days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=14)


class AssignmentSerializer(serializers.ModelSerializer):
    observer = serializers.CharField(source="observer.username", read_only=True)
    sequence_name = serializers.CharField(source="sequence.name", read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "sequence", "sequence_name", "observer", "created_at"]
        read_only_fields = fields


class AssignmentCreateSerializer(serializers.Serializer):
    observer = serializers.CharField(help_text="username of an observer of the study", max_length=150)
    sequence = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text="a sequence id; omitted: every sequence of the study",
    )
