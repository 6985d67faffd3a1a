"""Admin pages for recordings (gaze arrays are not shown: download them through the API)."""

from django.contrib import admin

from .models import ImageLabel, ImageVisit, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["id", "observer", "sequence", "repeat", "source", "tracker_format", "status",
                    "validation_error_deg", "drift_error_deg", "started_at"]
    list_filter = ["status", "source", "tracker_format"]
    raw_id_fields = ["observer", "sequence"]


@admin.register(ImageLabel)
class ImageLabelAdmin(admin.ModelAdmin):
    list_display = ["id", "observer", "sequence", "frame", "mode", "seconds", "created_at"]
    list_filter = ["mode"]
    raw_id_fields = ["observer", "sequence"]


@admin.register(ImageVisit)
class ImageVisitAdmin(admin.ModelAdmin):
    list_display = ["id", "observer", "sequence", "frame", "mode", "seconds", "recording", "created_at"]
    list_filter = ["mode"]
    raw_id_fields = ["observer", "sequence", "recording"]
