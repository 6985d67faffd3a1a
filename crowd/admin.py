"""Admin pages for the crowd app (staff tools; the API is the way in for everyone else)."""

from django.contrib import admin

from .models import Assignment, Invitation, Sequence, Study, StudyMembership, WorkerHeartbeat


class MembershipInline(admin.TabularInline):
    model = StudyMembership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "kind", "frame_rate", "quorum", "repeats_per_observer", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["name", "target_structure"]
    inlines = [MembershipInline]


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "study", "modality", "n_frames", "height", "width", "created_at"]
    list_filter = ["modality"]
    search_fields = ["name", "source_name"]
    readonly_fields = ["frames_file", "masks_file", "mask_frames", "affine", "spacing"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "role", "email", "expires_at", "accepted_by", "revoked"]
    readonly_fields = ["token"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "sequence", "observer", "created_at"]
    raw_id_fields = ["observer", "sequence"]


admin.site.register(WorkerHeartbeat)
