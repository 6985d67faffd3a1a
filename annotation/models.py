"""Recordings and their gaze samples."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from crowd.models import Sequence


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
    repeat = models.PositiveIntegerField(default=1)  # 1 for the first viewing, 2 for the next...
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EYE_TRACKER)
    tracker_format = models.CharField(max_length=16, blank=True)  # file format when imported
    source_file = models.CharField(max_length=255, blank=True)
    screen_width_px = models.PositiveIntegerField(null=True, blank=True)
    screen_height_px = models.PositiveIntegerField(null=True, blank=True)
    screen_width_cm = models.FloatField(null=True, blank=True)
    screen_height_cm = models.FloatField(null=True, blank=True)
    viewing_distance_cm = models.FloatField(null=True, blank=True)
    # [left, top, width, height] of the displayed image in screen pixels; null: fitted, centred.
    image_rect = models.JSONField(null=True, blank=True)
    sampling_rate_hz = models.FloatField(null=True, blank=True)
    calibration_error_deg = models.FloatField(null=True, blank=True)
    playback_fps = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Batches the client said it sent (given when finishing), to prove nothing was lost.
    expected_batches = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "observer", "repeat"], name="recording_repeat_unique"
            ),
            models.CheckConstraint(condition=models.Q(repeat__gte=1), name="recording_repeat_positive"),
            models.CheckConstraint(condition=models.Q(playback_fps__gt=0), name="recording_fps_positive"),
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
    number = models.PositiveIntegerField()
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
            models.UniqueConstraint(fields=["recording", "number"], name="gaze_batch_unique_number")
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of recording {self.recording_id}"


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
    frame = models.PositiveIntegerField()  # the image's index in the collection
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_labels"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    box = models.JSONField(null=True, blank=True)
    outline = models.JSONField(null=True, blank=True)
    point = models.JSONField(null=True, blank=True)
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seconds__gt=0), name="image_label_seconds_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} label by {self.observer} on {self.sequence} image {self.frame}"


class ImageVisit(models.Model):
    """The time an observer spent on one image in one labelling mode (one row per visit).

    In gaze mode this is the time per image of the study (Mariam et al.); ``recording`` is the
    gaze recording the visit belongs to, when there is one.
    """

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="image_visits")
    frame = models.PositiveIntegerField()
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_visits"
    )
    mode = models.CharField(max_length=16, choices=ImageLabel.Mode.choices)
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="image_visits"
    )
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seconds__gt=0), name="image_visit_seconds_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.observer} on {self.sequence} image {self.frame} ({self.mode})"
