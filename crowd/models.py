"""Studies, sequences and the people in them."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# What a client may set, checked by the serializers, the forms and the services, and kept by
# the constraints below (docs/reliability.md, "Security").
MAX_FRAME_RATE = 1000.0  # frames per second at which a sequence is played (study or video)
MAX_QUORUM = 10_000  # finished recordings per sequence before a run starts by itself
MAX_REPEATS = 100  # times each observer records each sequence
MAX_ID = 2**63 - 1  # the largest primary key (BigAutoField); a larger id names nothing
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def without_control_characters(text: str) -> str:
    """``text`` with control characters removed (for names the platform keeps but did not choose,
    such as an uploaded file's name)."""
    return _CONTROL.sub("", text)


def validate_name(value: str) -> None:
    """A name shown in pages and sent in download headers: no control characters (CR, LF...)."""
    if _CONTROL.search(value or ""):
        raise ValidationError(
            f"{value!r} holds a control character (line break, tab...); use printable characters only"
        )


class Study(models.Model):
    """A campaign: a target structure observers look for in a set of sequences."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    class Kind(models.TextChoices):
        SEQUENCE = "sequence", "Sequences (videos or volumes)"
        # Still images (tiles, endoscopy frames): each uploaded collection is stored as one
        # Sequence, one frame per image, all of one size (docs/image_labelling.md).
        IMAGES = "images", "Image collection (still images)"

    name = models.CharField(max_length=200, validators=[validate_name])
    target_structure = models.CharField(max_length=200, blank=True, validators=[validate_name])
    instructions = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SEQUENCE)
    # Frames per second at which observers are shown the sequences (null: the sequence's own).
    frame_rate = models.FloatField(null=True, blank=True, validators=[MaxValueValidator(MAX_FRAME_RATE)])
    # Finished recordings per sequence after which a run may start automatically.
    quorum = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_QUORUM)])
    # How many times each observer is asked to record each sequence.
    repeats_per_observer = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_REPEATS)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(frame_rate__isnull=True) | models.Q(frame_rate__gt=0),
                name="study_frame_rate_positive",
            ),
            models.CheckConstraint(condition=models.Q(quorum__gte=1), name="study_quorum_positive"),
            models.CheckConstraint(
                condition=models.Q(repeats_per_observer__gte=1), name="study_repeats_positive"
            ),
            models.CheckConstraint(
                condition=Q(frame_rate__isnull=True) | Q(frame_rate__gt=0, frame_rate__lte=MAX_FRAME_RATE),
                name="study_frame_rate_bounded",
            ),
            models.CheckConstraint(condition=Q(quorum__lte=MAX_QUORUM), name="study_quorum_bounded"),
            models.CheckConstraint(
                condition=Q(repeats_per_observer__lte=MAX_REPEATS), name="study_repeats_bounded"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Sequence(models.Model):
    """A video, a volume or an image series, converted once to the engine's array form.

    ``frames_file`` holds a ``.npy`` array shaped (T, H, W) or (T, H, W, 3), exactly what
    :func:`segmentation.engine.io.read_sequence` returned; ``masks_file`` the reference masks
    (K, H, W) uint8 of the frames listed in ``mask_frames`` (all frames or some).
    """

    class Modality(models.TextChoices):
        IMAGES = "images", "Images"
        VIDEO = "video", "Video"
        NIFTI = "nifti", "NIfTI volume"
        DICOM = "dicom", "DICOM series"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sequences")
    name = models.CharField(max_length=200, validators=[validate_name])
    modality = models.CharField(max_length=16, choices=Modality.choices)
    source_name = models.CharField(max_length=255, blank=True)
    frames_file = models.FileField(upload_to="sequences/", max_length=255)
    n_frames = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField(default=1)
    dtype = models.CharField(max_length=16)
    spacing = models.JSONField(null=True, blank=True)  # voxel spacing, as read
    # the video's own frame rate
    fps = models.FloatField(null=True, blank=True, validators=[MaxValueValidator(MAX_FRAME_RATE)])
    affine = models.JSONField(null=True, blank=True)  # 4x4 list of lists (volumes)
    masks_file = models.FileField(upload_to="sequences/", max_length=255, blank=True)
    mask_frames = models.JSONField(default=list, blank=True)  # frame indices with a mask
    # Frame k's image file name without extension, for sequences read from a folder of images
    # (the images of an image collection keep their names); empty for volumes and videos.
    frame_names = models.JSONField(default=list, blank=True)
    # For a DICOM series: the headers of frame k's source instance (DICOM JSON, no pixel data;
    # a gzipped JSON list), so a DICOM SEG can reference the series (segmentation.dicom_seg).
    # Empty for other sequences and for DICOM series imported before it was kept.
    dicom_headers_file = models.FileField(upload_to="sequences/", max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="sequence_name_unique_in_study"),
            # Sizes are read from the file and budgeted (GAZECROWD_MAX_SEQUENCE_PIXELS) before
            # anything is decoded; these keep the row consistent with that.
            models.CheckConstraint(
                condition=Q(n_frames__gte=1, height__gte=1, width__gte=1), name="sequence_shape_positive"
            ),
            models.CheckConstraint(condition=Q(channels__in=[1, 3]), name="sequence_channels_1_or_3"),
            models.CheckConstraint(
                condition=Q(fps__isnull=True) | Q(fps__gt=0, fps__lte=MAX_FRAME_RATE), name="sequence_fps_bounded"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def shape(self) -> list[int]:
        """The frames array's shape: [T, H, W] or [T, H, W, 3]."""
        base = [self.n_frames, self.height, self.width]
        return base + ([self.channels] if self.channels > 1 else [])

    @property
    def has_masks(self) -> bool:
        return bool(self.masks_file)

    def image_names(self) -> list[str]:
        """One name per frame: the image file names when known, else ``<name>_<k>``."""
        if len(self.frame_names) == self.n_frames:
            return list(self.frame_names)
        return [f"{self.name}_{k:04d}" for k in range(self.n_frames)]

    def playback_fps(self) -> float:
        """Frames per second observers see: the study's rate, else the video's, else 10."""
        return self.study.frame_rate or self.fps or 10.0


class StudyMembership(models.Model):
    """A user's role in a study; a user has at most one role per study."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        OBSERVER = "observer", "Observer"
        RESEARCHER = "researcher", "Researcher"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.study}"


class Invitation(models.Model):
    """A single-use, expiring token; accepting it makes the accepting user a member."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=StudyMembership.Role.choices)
    email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation to {self.study} as {self.role}"

    def state(self, *, now=None) -> str:
        """``"revoked"``, ``"used"``, ``"expired"`` or ``"open"`` (only an open one can be used).

        The one statement of an invitation's validity: accepting it, the members page and the
        invitation link page all ask this.
        """
        now = now or timezone.now()
        if self.revoked:
            return "revoked"
        if self.accepted_at is not None:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "open"


class MemberEvent(models.Model):
    """One line of a study's audit trail: who did what to whose membership, and when.

    Written by the member and invitation services (never by views), so the API, the pages and
    the commands leave the same trail. Names are copied as text as well as linked: the trail
    still says who it was after an account is deleted.
    """

    class Action(models.TextChoices):
        MEMBER_ADDED = "member_added", "added as member"
        ROLE_CHANGED = "role_changed", "role changed"
        MEMBER_REMOVED = "member_removed", "removed"
        INVITATION_CREATED = "invitation_created", "invitation created"
        INVITATION_ACCEPTED = "invitation_accepted", "invitation accepted"
        INVITATION_REVOKED = "invitation_revoked", "invitation revoked"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="member_events")
    action = models.CharField(max_length=24, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The member's username, or the invitation's e-mail address ("" for a link for anyone).
    subject_name = models.CharField(max_length=254, blank=True)
    role = models.CharField(max_length=16, choices=StudyMembership.Role.choices, blank=True)
    previous_role = models.CharField(max_length=16, choices=StudyMembership.Role.choices, blank=True)
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "-created_at"], name="member_event_study_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=[
                    "member_added", "role_changed", "member_removed",
                    "invitation_created", "invitation_accepted", "invitation_revoked",
                ]),
                name="member_event_action_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'}: {self.get_action_display()} {self.subject_name}"


class Assignment(models.Model):
    """An observer is asked to record a sequence (``study.repeats_per_observer`` times)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="assignments")
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "observer"], name="assignment_unique_per_observer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.observer} -> {self.sequence}"


class WorkerHeartbeat(models.Model):
    """A row written by a Celery worker: proof that the queue, the worker and the DB connect."""

    token = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.hostname} ({self.token})"


MAX_DICOMWEB_URL = 500


class DicomWebServer(models.Model):
    """A study's DICOMweb server (QIDO-RS, WADO-RS, STOW-RS): where its series come from and
    its DICOM SEGs go. The password is stored encrypted (crowd.services.dicomweb, Fernet) and
    never shown again."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="dicomweb")
    url = models.CharField(max_length=MAX_DICOMWEB_URL)  # http(s) only: checked by the service
    username = models.CharField(max_length=150, blank=True, validators=[validate_name])
    password_encrypted = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="http://") | Q(url__startswith="https://"),
                name="dicomweb_url_http",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.study})"
