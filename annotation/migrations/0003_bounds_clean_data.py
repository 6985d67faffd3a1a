"""Bring stored rows within the bounds that 0004_bounds adds as constraints.

Before these bounds a client could store, among others, an infinite sampling rate read from a
tracker file (every page showing the recording then failed), a screen 2**31 - 1 pixels wide,
a repeat or batch number of 2**31 - 1. Optional values outside their bounds are cleared (they
were never measurements), a playback rate is capped, an out-of-range repeat number is moved to
the first free one, and batches numbered beyond the protocol's last number (never part of a
complete recording: their numbers alone would have needed billions of batches before them)
are deleted. The bounds are written out: a migration keeps the values of its day.
"""

from django.db import migrations
from django.db.models import Q

MAX_REPEAT = 1_000
MAX_BATCHES = 100_000
MAX_SCREEN_PX = 100_000
MAX_SCREEN_CM = 10_000.0
MAX_DISTANCE_CM = 10_000.0
MAX_SAMPLING_RATE_HZ = 10_000.0
MAX_CALIBRATION_ERROR_DEG = 180.0
MAX_FRAME_RATE = 1000.0
MAX_ABS_T_MS = 1e12
MAX_LABEL_SECONDS = 3600.0


def out_of(field, low, high, *, low_open=True):
    """Rows whose value lies outside the bounds: NaN too (PostgreSQL sorts it above all)."""
    below = Q(**{f"{field}__lte" if low_open else f"{field}__lt": low})
    return below | Q(**{f"{field}__gt": high})


def clean(apps, schema_editor):
    Recording = apps.get_model("annotation", "Recording")
    GazeBatch = apps.get_model("annotation", "GazeBatch")
    ImageLabel = apps.get_model("annotation", "ImageLabel")
    ImageVisit = apps.get_model("annotation", "ImageVisit")
    for field, low, high, low_open in (
        ("screen_width_px", 1, MAX_SCREEN_PX, False),
        ("screen_height_px", 1, MAX_SCREEN_PX, False),
        ("screen_width_cm", 0, MAX_SCREEN_CM, True),
        ("screen_height_cm", 0, MAX_SCREEN_CM, True),
        ("viewing_distance_cm", 0, MAX_DISTANCE_CM, True),
        ("sampling_rate_hz", 0, MAX_SAMPLING_RATE_HZ, True),
        ("calibration_error_deg", 0, MAX_CALIBRATION_ERROR_DEG, False),
        ("expected_batches", 1, MAX_BATCHES, False),
    ):
        Recording.objects.filter(out_of(field, low, high, low_open=low_open)).update(**{field: None})
    Recording.objects.filter(playback_fps__gt=MAX_FRAME_RATE).update(playback_fps=MAX_FRAME_RATE)
    for recording in Recording.objects.filter(repeat__gt=MAX_REPEAT):
        taken = set(Recording.objects.filter(sequence_id=recording.sequence_id, observer_id=recording.observer_id)
                    .values_list("repeat", flat=True))
        free = next((n for n in range(1, MAX_REPEAT + 1) if n not in taken), None)
        if free is None:
            recording.delete()
        else:
            recording.repeat = free
            recording.save(update_fields=["repeat"])
    GazeBatch.objects.filter(number__gte=MAX_BATCHES).delete()
    for field in ("t_first_ms", "t_last_ms"):
        GazeBatch.objects.filter(out_of(field, -MAX_ABS_T_MS, MAX_ABS_T_MS, low_open=False)).update(**{field: None})
    ImageLabel.objects.filter(seconds__gt=MAX_LABEL_SECONDS).update(seconds=MAX_LABEL_SECONDS)
    ImageVisit.objects.filter(seconds__gt=MAX_LABEL_SECONDS).update(seconds=MAX_LABEL_SECONDS)


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0002_image_labels'),
    ]

    operations = [
        migrations.RunPython(clean, migrations.RunPython.noop),
    ]
