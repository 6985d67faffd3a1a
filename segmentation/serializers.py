"""Serializers of the segmentation API."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from crowd.models import MAX_ID

from .export_service import formats_for
from .jobs import job_progress
from .models import GroundTruthVersion, Run
from .parameters import DEFAULTS, MAX_CHUNK_FRAMES, MAX_SEED, METHODS, MIN_CHUNK_FRAMES

#: Frames a correction may name at most (a sequence's own count is checked by the service).
MAX_FRAMES = 100_000


class RunSerializer(serializers.ModelSerializer):
    sequence_name = serializers.CharField(source="sequence.name", read_only=True)
    exports = serializers.SerializerMethodField()
    report_files = serializers.SerializerMethodField()
    delivered = serializers.SerializerMethodField()
    waiting_seconds = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "study", "sequence", "sequence_name", "trigger", "status", "stage", "progress",
            "waiting_seconds", "elapsed_seconds", "eta_seconds",
            "parameters", "code_version", "timings", "metrics", "observers", "error", "attempts",
            "created_at", "started_at", "finished_at", "exports", "report_files", "delivered",
        ]
        read_only_fields = fields

    def get_waiting_seconds(self, run: Run) -> float | None:
        """Seconds a queued run has waited for a worker; null once one has taken it."""
        return job_progress(run)["waiting_seconds"]

    def get_elapsed_seconds(self, run: Run) -> float | None:
        """Seconds since a worker started the run (its whole duration once finished)."""
        return job_progress(run)["elapsed_seconds"]

    def get_eta_seconds(self, run: Run) -> float | None:
        """Estimated seconds left of a running run (elapsed x remaining / done); null when
        unknown (queued, finished, or under 5% done)."""
        return job_progress(run)["eta_seconds"]

    def get_delivered(self, run: Run) -> dict | None:
        """The masks' cut: ``threshold``, ``threshold_rule`` (chosen without reference masks)
        and what the rule measured; null until the run has ground truth."""
        gt = getattr(run, "ground_truth", None)
        if gt is None:
            return None
        return {"threshold": gt.threshold, "threshold_rule": gt.threshold_rule,
                "threshold_details": gt.threshold_details}

    def get_exports(self, run: Run) -> list[str]:
        """Export formats available for this run once it has succeeded (a DICOM SEG only for a
        sequence read from DICOM)."""
        return formats_for(run.sequence) if run.status == Run.Status.SUCCEEDED else []

    def get_report_files(self, run: Run) -> list[str]:
        report = getattr(run, "report", None)
        return list(report.files) if report else []


class RunParametersSerializer(serializers.Serializer):
    px_per_degree = serializers.FloatField(
        required=False, min_value=1, max_value=500,
        help_text="image pixels per degree of visual angle; default: from the recordings")
    features = serializers.CharField(required=False, max_length=100)
    temporal = serializers.BooleanField(required=False)
    estimate = serializers.CharField(required=False, max_length=100)
    pool = serializers.CharField(required=False, max_length=100)
    method = serializers.ChoiceField(choices=list(METHODS), required=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=MAX_SEED)
    compare = serializers.BooleanField(required=False, help_text="also score the baselines")
    chunk_frames = serializers.IntegerField(
        required=False, min_value=MIN_CHUNK_FRAMES, max_value=MAX_CHUNK_FRAMES,
        help_text="frames per chunk; sequences of two chunks or more run chunk by chunk")

    def to_internal_value(self, data):
        unknown = set(data) - set(DEFAULTS) if isinstance(data, dict) else set()
        if unknown:
            raise serializers.ValidationError(
                f"unknown parameters: {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}")
        return super().to_internal_value(data)


class RunCreateSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                        help_text="one sequence; default: all")
    parameters = RunParametersSerializer(required=False)


# --- review: reviewed threshold, hand-corrected versions ---------------------------------------


class ThresholdReviewSerializer(serializers.Serializer):
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0, allow_null=True,
                                       help_text="cut the score map here for every export; null: "
                                                 "back to the rule's choice")


class ThresholdStateSerializer(serializers.Serializer):
    """A run's thresholds as the API answers them (read only)."""

    threshold = serializers.FloatField(help_text="where exports cut the map now")
    rule_threshold = serializers.FloatField(help_text="the rule's choice (made without the reference)")
    rule = serializers.CharField()
    reviewed_threshold = serializers.FloatField(allow_null=True, help_text="a reviewer's, when saved")
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)


class EditedFrameSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=MAX_FRAMES - 1,
                                     help_text="frame index (0-based)")
    png = serializers.CharField(help_text="the frame's whole mask as base64 PNG (a data: URL is "
                                          "accepted); white is the object", trim_whitespace=False)


class GroundTruthVersionCreateSerializer(serializers.Serializer):
    run = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                   help_text="the run whose map the correction starts from (default: "
                                             "the sequence's newest successful run)")
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True,
                                       help_text="where that map was cut (default: its export threshold)")
    base_version = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                            help_text="or: the earlier version it starts from")
    frames = EditedFrameSerializer(many=True, allow_empty=False, max_length=MAX_FRAMES)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class GroundTruthVersionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number", read_only=True)
    editor = serializers.CharField(source="editor_name", read_only=True)
    run = serializers.IntegerField(source="run_number", read_only=True)
    base_version = serializers.SerializerMethodField()
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = GroundTruthVersion
        fields = ["version", "run", "threshold", "base_version", "editor", "created_at",
                  "frames_edited", "note", "downloads"]
        read_only_fields = fields

    def get_base_version(self, version) -> int | None:
        return version.base.number if version.base else None

    def get_downloads(self, version) -> dict[str, str]:
        s = version.sequence
        # A corrected version has no score map: no fractional SEG.
        return {fmt: reverse("sequence-ground-truth", args=[s.study_id, s.pk, fmt]) + f"?version={version.number}"
                for fmt in formats_for(s) if fmt != "dicom-seg-fractional"}
