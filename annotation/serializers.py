"""Input and output shapes of the annotation API."""

from __future__ import annotations

from rest_framework import serializers

from crowd.models import MAX_FRAME_RATE, MAX_ID
from segmentation.engine.trackers import FORMATS

from .models import (
    MAX_ABS_T_MS,
    MAX_BATCH_SAMPLES,
    MAX_BATCHES,
    MAX_CALIBRATION_ERROR_DEG,
    MAX_DISTANCE_CM,
    MAX_IMAGE_FRAME,
    MAX_LABEL_SECONDS,
    MAX_RECT_PX,
    MAX_REPEAT,
    MAX_SAMPLING_RATE_HZ,
    MAX_SCREEN_CM,
    MAX_SCREEN_PX,
    MAX_VALIDATION_ERROR_DEG,
    ImageLabel,
    ImageVisit,
    Recording,
)


class RecordingSerializer(serializers.ModelSerializer):
    observer = serializers.CharField(source="observer.username", read_only=True)
    study = serializers.IntegerField(source="sequence.study_id", read_only=True)
    n_batches = serializers.IntegerField(read_only=True, default=None)
    n_samples = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Recording
        fields = [
            "id", "study", "sequence", "observer", "repeat", "source", "tracker_format",
            "source_file", "screen_width_px", "screen_height_px", "screen_width_cm",
            "screen_height_cm", "viewing_distance_cm", "image_rect", "sampling_rate_hz",
            "calibration_error_deg", "validation_error_deg", "drift_error_deg", "playback_fps", "status", "started_at", "finished_at",
            "expected_batches", "n_batches", "n_samples",
        ]
        read_only_fields = fields


class _GeometryFields(serializers.Serializer):
    screen_width_px = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SCREEN_PX)
    screen_height_px = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SCREEN_PX)
    screen_width_cm = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_SCREEN_CM)
    screen_height_cm = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_SCREEN_CM)
    viewing_distance_cm = serializers.FloatField(required=False, min_value=1, max_value=MAX_DISTANCE_CM)
    image_rect = serializers.ListField(
        child=serializers.FloatField(min_value=-MAX_RECT_PX, max_value=MAX_RECT_PX), min_length=4, max_length=4,
        required=False,
        help_text="[left, top, width, height] of the image on screen, pixels (default: fitted, centred)",
    )
    sampling_rate_hz = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_SAMPLING_RATE_HZ)
    calibration_error_deg = serializers.FloatField(required=False, min_value=0, max_value=MAX_CALIBRATION_ERROR_DEG)
    validation_error_deg = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_VALIDATION_ERROR_DEG,
        help_text="mean error over the validation targets, degrees (the recording page measures it)")
    drift_error_deg = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_VALIDATION_ERROR_DEG,
        help_text="mean error of the drift check before this sequence, degrees (a reused calibration)")
    playback_fps = serializers.FloatField(required=False, min_value=0.001, max_value=MAX_FRAME_RATE)


class RecordingCreateSerializer(_GeometryFields):
    source = serializers.ChoiceField(choices=Recording.Source.choices, default=Recording.Source.EYE_TRACKER)
    repeat = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_REPEAT,
        help_text="give it to make a retried start idempotent; default: the next repeat",
    )


class RecordingImportSerializer(_GeometryFields):
    file = serializers.FileField(help_text="a gaze file: csv, tobii (.tsv), eyelink (.asc), pupil (.csv), eyetribe (.json)")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="default: from the file")
    observer = serializers.CharField(
        required=False, max_length=150,
        help_text="username of an observer (coordinators only; default: yourself)",
    )
    playback_start_ms = serializers.FloatField(
        required=False, min_value=-MAX_ABS_T_MS, max_value=MAX_ABS_T_MS,
        help_text="tracker time of frame 0 (default: sync marker, else first sample)",
    )


class BatchSerializer(serializers.Serializer):
    """Documents the batch body; the view validates it with numpy for speed."""

    batch = serializers.IntegerField(min_value=0, max_value=MAX_BATCHES - 1,
                                     help_text="client batch number, 0, 1, 2... per recording")
    samples = serializers.ListField(
        child=serializers.ListField(
            child=serializers.FloatField(allow_null=True, min_value=-MAX_ABS_T_MS, max_value=MAX_ABS_T_MS),
            min_length=4, max_length=4),
        min_length=1, max_length=MAX_BATCH_SAMPLES,
        help_text="[[t_ms, frame, x, y], ...]: ms since playback start, frame shown, image pixels "
        "(x = column, y = row); x, y null for a lost sample. Numbers only (no strings or booleans), "
        "|t_ms| <= 1e12, |x|, |y| <= 1e7",
    )


class BatchResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    stored = serializers.BooleanField(help_text="false: a retry of a batch already stored")
    samples = serializers.IntegerField()


class FinishSerializer(serializers.Serializer):
    expected_batches = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_BATCHES,
        help_text="how many batches the client sent (numbered 0..n-1); the server checks it has them all",
    )


class RecordingProgressSerializer(serializers.Serializer):
    batches = serializers.IntegerField()
    samples = serializers.IntegerField()
    lost = serializers.IntegerField()
    batches_missing = serializers.IntegerField(help_text="how many numbers below the highest are missing")
    batch_numbers_missing = serializers.ListField(
        child=serializers.IntegerField(), help_text="the first 1,000 missing numbers, ascending")


class ImageLabelSerializer(serializers.ModelSerializer):
    observer = serializers.CharField(source="observer.username", read_only=True)

    class Meta:
        model = ImageLabel
        fields = ["id", "sequence", "frame", "observer", "mode", "box", "outline", "point", "seconds",
                  "created_at"]
        read_only_fields = fields


_COORDINATE = {"min_value": -MAX_RECT_PX, "max_value": MAX_RECT_PX}


class ImageLabelCreateSerializer(serializers.Serializer):
    frame = serializers.IntegerField(min_value=0, max_value=MAX_IMAGE_FRAME,
                                     help_text="the image's index in the collection")
    mode = serializers.ChoiceField(choices=ImageLabel.Mode.choices)
    seconds = serializers.FloatField(min_value=0, max_value=MAX_LABEL_SECONDS,
                                     help_text="time the label took, seconds (client-measured)")
    box = serializers.ListField(child=serializers.FloatField(**_COORDINATE), required=False,
                                min_length=4, max_length=4,
                                help_text="[x, y, width, height], pixel edges (mode box)")
    outline = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(**_COORDINATE), min_length=2, max_length=2),
        required=False, max_length=10_000,
        help_text="[[x, y], ...] vertices at pixel centres, closed (mode freehand)")
    point = serializers.ListField(child=serializers.FloatField(**_COORDINATE), required=False,
                                  min_length=2, max_length=2,
                                  help_text="[x, y] where the gaze or pointer was (mode gaze)")


class ImageVisitSerializer(serializers.ModelSerializer):
    observer = serializers.CharField(source="observer.username", read_only=True)

    class Meta:
        model = ImageVisit
        fields = ["id", "sequence", "frame", "observer", "mode", "recording", "seconds", "created_at"]
        read_only_fields = fields


class ImageVisitCreateSerializer(serializers.Serializer):
    frame = serializers.IntegerField(min_value=0, max_value=MAX_IMAGE_FRAME)
    mode = serializers.ChoiceField(choices=ImageLabel.Mode.choices)
    seconds = serializers.FloatField(min_value=0, max_value=MAX_LABEL_SECONDS,
                                     help_text="time spent on the image, seconds")
    recording = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID,
                                         help_text="your gaze recording of this collection (gaze mode)")
