"""Recordings and their gaze samples."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crowd.models import MAX_FRAME_RATE, Sequence
from segmentation.engine import MAX_ABS_T_MS
from segmentation.engine.trackers import MAX_SAMPLING_RATE_HZ, MAX_SCREEN_PX

# What a client may send, checked by the serializers, the forms and the services, and kept by
# the constraints below (docs/reliability.md, "Security"). Generous for any real recording,
# small enough that no number from outside can overflow a column or a computation.
MAX_REPEAT = 1_000  # viewings of one sequence by one observer, aborted ones included
MAX_BATCHES = 100_000  # batches of one recording: numbers 0..99,999 (27 h at one a second)
MAX_BATCH_SAMPLES = 10_000  # samples of one batch (a live client sends about 60)
# MAX_SCREEN_PX: screen width or height, pixels (the tracker readers' bound, also here)
MAX_SCREEN_CM = 10_000.0  # screen width or height, centimetres (a 100 m video wall)
MAX_DISTANCE_CM = 10_000.0  # viewing distance, centimetres
# MAX_SAMPLING_RATE_HZ: the tracker readers' bound (the fastest trackers sample at 2 kHz)
MAX_CALIBRATION_ERROR_DEG = 180.0
# Accuracy measured by the recording page (webcam and mouse): the mean error over the validation
# targets, and the drift found before a later sequence; 90 degrees is beyond any screen.
MAX_VALIDATION_ERROR_DEG = 90.0
MAX_RECT_PX = 1_000_000.0  # any value of image_rect (left, top, width, height), screen pixels
# MAX_ABS_T_MS, MAX_ABS_COORDINATE: |t_ms| and |x|, |y| of a gaze sample, the canonical gaze
# table's bounds (segmentation.engine.io)
MAX_LABEL_SECONDS = 3600.0  # one label or one image visit
MAX_IMAGE_FRAME = 10_000_000  # an image's index in a collection


def _between(field: str, low, high, *, low_open: bool = False) -> Q:
    """``low <= field <= high`` (``low < field`` when ``low_open``); NULL passes.

    Both bounds also keep NaN and infinities out: every comparison with NaN is false on
    SQLite, PostgreSQL sorts NaN above every number, and an infinity is beyond any bound.
    """
    lower = Q(**{f"{field}__gt" if low_open else f"{field}__gte": low})
    return Q(**{f"{field}__isnull": True}) | (lower & Q(**{f"{field}__lte": high}))


class Recording(models.Model):
    """One observer watching one sequence once, with the display it was watched on.

    Gaze samples live in :class:`GazeBatch` rows (one per client batch). Screen size in pixels
    and centimetres and the viewing distance give the pixels per degree of visual angle;
    ``image_rect`` says where the image was drawn on the screen (screen pixels).
    """

    class Source(models.TextChoices):
        EYE_TRACKER = "eye_tracker", "Eye tracker"
        WEBCAM = "webcam", "Webcam"
        MOUSE = "mouse", "Mouse"

    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        FINISHED = "finished", "Finished"
        ABORTED = "aborted", "Aborted"

    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recordings"
    )
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="recordings")
    # 1 for the first viewing, 2 for the next...
    repeat = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_REPEAT)])
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EYE_TRACKER)
    tracker_format = models.CharField(max_length=16, blank=True)  # file format when imported
    source_file = models.CharField(max_length=255, blank=True)
    screen_width_px = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_SCREEN_PX)])
    screen_height_px = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_SCREEN_PX)])
    screen_width_cm = models.FloatField(null=True, blank=True, validators=[MaxValueValidator(MAX_SCREEN_CM)])
    screen_height_cm = models.FloatField(null=True, blank=True, validators=[MaxValueValidator(MAX_SCREEN_CM)])
    viewing_distance_cm = models.FloatField(null=True, blank=True, validators=[MaxValueValidator(MAX_DISTANCE_CM)])
    # [left, top, width, height] of the displayed image in screen pixels; null: fitted, centred.
    image_rect = models.JSONField(null=True, blank=True)
    sampling_rate_hz = models.FloatField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_SAMPLING_RATE_HZ)])
    calibration_error_deg = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(MAX_CALIBRATION_ERROR_DEG)])
    # The browser recorder's measured accuracy (docs/web.md, "Webcam gaze"): mean error over the
    # 9 validation targets after calibration, and the drift check's mean error when a calibration
    # was reused for this sequence (null: not measured). Degrees of visual angle.
    validation_error_deg = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(MAX_VALIDATION_ERROR_DEG)])
    drift_error_deg = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(MAX_VALIDATION_ERROR_DEG)])
    playback_fps = models.FloatField(validators=[MaxValueValidator(MAX_FRAME_RATE)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Batches the client said it sent (given when finishing), to prove nothing was lost.
    expected_batches = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_BATCHES)])

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "observer", "repeat"], name="recording_repeat_unique"
            ),
            models.CheckConstraint(condition=models.Q(repeat__gte=1), name="recording_repeat_positive"),
            models.CheckConstraint(condition=models.Q(playback_fps__gt=0), name="recording_fps_positive"),
            models.CheckConstraint(condition=_between("repeat", 1, MAX_REPEAT), name="recording_repeat_bounded"),
            models.CheckConstraint(
                condition=_between("playback_fps", 0, MAX_FRAME_RATE, low_open=True), name="recording_fps_bounded"
            ),
            models.CheckConstraint(
                condition=_between("screen_width_px", 1, MAX_SCREEN_PX), name="recording_screen_width_px_bounded"
            ),
            models.CheckConstraint(
                condition=_between("screen_height_px", 1, MAX_SCREEN_PX), name="recording_screen_height_px_bounded"
            ),
            models.CheckConstraint(
                condition=_between("screen_width_cm", 0, MAX_SCREEN_CM, low_open=True),
                name="recording_screen_width_cm_bounded",
            ),
            models.CheckConstraint(
                condition=_between("screen_height_cm", 0, MAX_SCREEN_CM, low_open=True),
                name="recording_screen_height_cm_bounded",
            ),
            models.CheckConstraint(
                condition=_between("viewing_distance_cm", 0, MAX_DISTANCE_CM, low_open=True),
                name="recording_distance_bounded",
            ),
            models.CheckConstraint(
                condition=_between("sampling_rate_hz", 0, MAX_SAMPLING_RATE_HZ, low_open=True),
                name="recording_sampling_rate_bounded",
            ),
            models.CheckConstraint(
                condition=_between("calibration_error_deg", 0, MAX_CALIBRATION_ERROR_DEG),
                name="recording_calibration_error_bounded",
            ),
            models.CheckConstraint(
                condition=_between("validation_error_deg", 0, MAX_VALIDATION_ERROR_DEG),
                name="recording_validation_error_bounded",
            ),
            models.CheckConstraint(
                condition=_between("drift_error_deg", 0, MAX_VALIDATION_ERROR_DEG),
                name="recording_drift_error_bounded",
            ),
            models.CheckConstraint(
                condition=_between("expected_batches", 1, MAX_BATCHES), name="recording_expected_batches_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.observer} on {self.sequence} #{self.repeat}"


class GazeBatch(models.Model):
    """The samples of one client batch, stored as one compact array.

    ``samples`` is a little-endian float64 array (n, 4) of ``t_ms, frame, x, y`` (image pixels,
    x = column, y = row; NaN = lost sample) in ``tobytes()`` form. One row per batch makes a
    live POST one INSERT, and the unique (recording, number) makes a retried batch a no-op.
    """

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_BATCHES - 1)])
    # Derived from ``samples``, whose count the services cap at MAX_BATCH_SAMPLES (older live
    # batches had no cap, so the database keeps only the lower bound).
    n_samples = models.PositiveIntegerField()
    n_lost = models.PositiveIntegerField()
    t_first_ms = models.FloatField(null=True)
    t_last_ms = models.FloatField(null=True)
    digest = models.CharField(max_length=32)  # blake2b of the samples: is a retry identical?
    samples = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recording", "number"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "number"], name="gaze_batch_unique_number"),
            models.CheckConstraint(condition=_between("number", 0, MAX_BATCHES - 1), name="gaze_batch_number_bounded"),
            models.CheckConstraint(condition=Q(n_samples__gte=1), name="gaze_batch_n_samples_positive"),
            models.CheckConstraint(
                condition=Q(n_lost__gte=0, n_lost__lte=models.F("n_samples")), name="gaze_batch_n_lost_bounded"
            ),
            models.CheckConstraint(
                condition=_between("t_first_ms", -MAX_ABS_T_MS, MAX_ABS_T_MS), name="gaze_batch_t_first_bounded"
            ),
            models.CheckConstraint(
                condition=_between("t_last_ms", -MAX_ABS_T_MS, MAX_ABS_T_MS), name="gaze_batch_t_last_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of recording {self.recording_id}"


def _timed_image_constraints(prefix: str) -> list[models.CheckConstraint]:
    """The bounds of a timed row about one image (a label, a visit): positive, bounded seconds
    and an image index in range; constraint names start with ``prefix``."""
    return [
        models.CheckConstraint(condition=models.Q(seconds__gt=0), name=f"{prefix}_seconds_positive"),
        models.CheckConstraint(
            condition=_between("seconds", 0, MAX_LABEL_SECONDS, low_open=True), name=f"{prefix}_seconds_bounded"
        ),
        models.CheckConstraint(condition=_between("frame", 0, MAX_IMAGE_FRAME), name=f"{prefix}_frame_bounded"),
    ]


class ImageLabel(models.Model):
    """One label drawn or fixated by hand on one image of an image collection, with its time.

    ``mode`` says how: a bounding ``box`` (``[x, y, width, height]``, COCO, pixel edges), a
    ``freehand`` outline (``outline``: ``[[x, y], ...]`` vertices at pixel centres, closed), or
    ``gaze`` (the observer marked that they were fixating an instance; ``point`` is ``[x, y]``
    where the pointer or gaze was). x = column, y = row, image pixels. ``seconds`` is the time the
    label took, measured by the client from starting the label to finishing it.
    """

    class Mode(models.TextChoices):
        BOX = "box", "Bounding box"
        FREEHAND = "freehand", "Freehand outline"
        GAZE = "gaze", "Gaze"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="image_labels")
    # the image's index in the collection
    frame = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_IMAGE_FRAME)])
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_labels"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    box = models.JSONField(null=True, blank=True)
    outline = models.JSONField(null=True, blank=True)
    point = models.JSONField(null=True, blank=True)
    seconds = models.FloatField(validators=[MaxValueValidator(MAX_LABEL_SECONDS)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = _timed_image_constraints("image_label")

    def __str__(self) -> str:
        return f"{self.mode} label by {self.observer} on {self.sequence} image {self.frame}"


class ImageVisit(models.Model):
    """The time an observer spent on one image in one labelling mode (one row per visit).

    In gaze mode this is the time per image of the study (Mariam et al.); ``recording`` is the
    gaze recording the visit belongs to, when there is one.
    """

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="image_visits")
    frame = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_IMAGE_FRAME)])
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_visits"
    )
    mode = models.CharField(max_length=16, choices=ImageLabel.Mode.choices)
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="image_visits"
    )
    seconds = models.FloatField(validators=[MaxValueValidator(MAX_LABEL_SECONDS)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = _timed_image_constraints("image_visit")

    def __str__(self) -> str:
        return f"{self.observer} on {self.sequence} image {self.frame} ({self.mode})"
