"""Segmentation runs and what they produce.

Arrays live in media storage (``.npz`` files); rows hold what is needed to find, trust and
describe them. A cache row is keyed by the parameters and the engine's code version, so a
change of either computes afresh instead of reusing a stale result.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotation.models import Recording
from crowd.models import Sequence, Study


class _CachedStage(models.Model):
    """The stored result of one engine stage, computed at most once per ``key`` (a hash of the
    stage's parameters and the code version): its arrays in media storage, and its cost."""

    key = models.CharField(max_length=64)
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class PreparedSequence(_CachedStage):
    """Superpixels and features of a sequence, computed once and shared by every recording."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="prepared")
    parameters = models.JSONField(default=dict)
    code_version = models.CharField(max_length=64)
    file = models.FileField(upload_to="prepared/", max_length=255)
    n_superpixels = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sequence", "key"], name="prepared_unique_key")
        ]

    def __str__(self) -> str:
        return f"prepared {self.sequence} ({self.n_superpixels} superpixels)"


class ObserverEstimate(_CachedStage):
    """One recording's per-superpixel object probability (the paper's per-observer estimate)."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="estimates")
    prepared = models.ForeignKey(PreparedSequence, on_delete=models.CASCADE, related_name="estimates")
    file = models.FileField(upload_to="estimates/", max_length=255)
    n_gaze_points = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recording", "key"], name="estimate_unique_key")
        ]

    def __str__(self) -> str:
        return f"estimate of recording {self.recording_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """What every Celery-run job row has: status, progress, error, attempts, times."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.SUCCEEDED, JobStatus.FAILED}


class Run(Job):
    """Pooling + EEL on one sequence of a study, run as a Celery job."""

    class Trigger(models.TextChoices):
        REQUEST = "request", "Requested"
        QUORUM = "quorum", "Quorum reached"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="runs")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.REQUEST)
    parameters = models.JSONField(default=dict)
    code_version = models.CharField(max_length=64)
    stage = models.CharField(max_length=64, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds per stage
    metrics = models.JSONField(default=dict, blank=True)  # per method AUC/F1 when truth exists
    observers = models.JSONField(default=dict, blank=True)  # weights, flags, recordings used

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["sequence", "status"])]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.sequence} ({self.status})"


class GroundTruth(models.Model):
    """A run's result: the pixel score map and binary masks, (frames, rows, columns).

    ``file`` holds ``scores`` (uint16 levels, score = level / 65535) and ``masks`` (the map cut
    at ``threshold``, chosen by ``threshold_rule`` without the reference masks).
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="ground_truth")
    file = models.FileField(upload_to="ground_truth/", max_length=255)  # npz: scores, masks
    superpixel_file = models.FileField(upload_to="ground_truth/", max_length=255)  # npz: labels, sp_scores
    threshold = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    threshold_rule = models.CharField(max_length=32, default="fixed")
    threshold_details = models.JSONField(default=dict, blank=True)
    # A threshold a reviewer chose on the results page: exports cut the map there instead of at
    # ``threshold`` (which stays the rule's choice, marked on the page's slider). Null: none.
    reviewed_threshold = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(threshold__gte=0.0, threshold__lte=1.0),
                                   name="ground_truth_threshold_0_1"),
            models.CheckConstraint(
                condition=models.Q(reviewed_threshold__isnull=True)
                | models.Q(reviewed_threshold__gte=0.0, reviewed_threshold__lte=1.0),
                name="ground_truth_reviewed_threshold_0_1"),
        ]

    def __str__(self) -> str:
        return f"ground truth of run {self.run_id}"

    @property
    def export_threshold(self) -> float:
        """The threshold exports cut at: the reviewed one when saved, else the rule's."""
        return self.threshold if self.reviewed_threshold is None else self.reviewed_threshold


class GroundTruthVersion(models.Model):
    """A hand-corrected ground truth of a sequence: every frame's mask, numbered 1, 2... per
    sequence. Versions are never changed or deleted by the platform (earlier ones stay
    downloadable); each records where it came from.

    ``file`` holds ``masks`` (frames, rows, columns) uint8 {0, 1}. ``run``/``threshold``: the
    run whose map, cut at ``threshold``, was the starting point (or ``base`` when the editor
    started from an earlier version); ``frames_edited``: the frames whose masks differ by hand.
    """

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="ground_truth_versions")
    number = models.PositiveIntegerField()
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run_number = models.PositiveIntegerField(null=True, blank=True)  # kept if the run is deleted
    base = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    threshold = models.FloatField(null=True, blank=True,
                                  validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    editor_name = models.CharField(max_length=150)  # kept if the user is deleted
    frames_edited = models.JSONField(default=list)
    note = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to="ground_truth/", max_length=255)  # npz: masks
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence", "number"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "number"], name="gt_version_unique_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="gt_version_number_positive"),
            models.CheckConstraint(
                condition=models.Q(threshold__isnull=True) | models.Q(threshold__gte=0.0, threshold__lte=1.0),
                name="gt_version_threshold_0_1"),
            models.CheckConstraint(condition=models.Q(run_number__isnull=True) | models.Q(run_number__gte=1),
                                   name="gt_version_run_number_positive"),
        ]

    def __str__(self) -> str:
        return f"ground truth v{self.number} of {self.sequence}"


class Report(models.Model):
    """The per-annotator variance report (always) and the ROC report (with reference masks)."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="report")
    folder = models.CharField(max_length=255)  # media-relative folder holding the files
    files = models.JSONField(default=list)  # names inside the folder
    scored_frames = models.JSONField(default=list)  # frames with reference masks that were scored
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"report of run {self.run_id}"


class GazeBoxesJob(Job):
    """Gaze boxes and masks of an image collection, computed as a Celery job (about 1.4 s per
    refined image: too long for a request on a big collection). ``progress``: images done /
    images."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="gaze_boxes_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.JSONField(default=dict, blank=True)  # counts and media names when done

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"gaze boxes {self.pk} of {self.study} ({self.status})"
