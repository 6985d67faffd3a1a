"""Bring stored rows within the bounds that 0005_bounds adds as constraints.

Before these bounds a client could store a study's frame rate of 1e308 (or, on SQLite, an
infinity), a quorum of 2**31 - 1, a video's absurd frame rate. Such values are brought back
within bounds here (an optional value is cleared, a count is capped), so that adding the
constraints never fails on an existing database. The bounds are written out: a migration
keeps the values of its day.
"""

from django.db import migrations
from django.db.models import Q

MAX_FRAME_RATE = 1000.0
MAX_QUORUM = 10_000
MAX_REPEATS = 100


def out_of(field, low, high):
    """Rows whose value lies outside (low, high]: NaN too (PostgreSQL sorts it above all)."""
    return Q(**{f"{field}__lte": low}) | Q(**{f"{field}__gt": high})


def clean(apps, schema_editor):
    Study = apps.get_model("crowd", "Study")
    Sequence = apps.get_model("crowd", "Sequence")
    Study.objects.filter(out_of("frame_rate", 0, MAX_FRAME_RATE)).update(frame_rate=None)
    Study.objects.filter(quorum__gt=MAX_QUORUM).update(quorum=MAX_QUORUM)
    Study.objects.filter(repeats_per_observer__gt=MAX_REPEATS).update(repeats_per_observer=MAX_REPEATS)
    Sequence.objects.filter(out_of("fps", 0, MAX_FRAME_RATE)).update(fps=None)


class Migration(migrations.Migration):

    dependencies = [
        ('crowd', '0003_image_collections'),
    ]

    operations = [
        migrations.RunPython(clean, migrations.RunPython.noop),
    ]
