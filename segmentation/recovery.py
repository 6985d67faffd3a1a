"""Queue again the jobs a dead worker left unfinished (the embedded default's restart).

On the embedded default a worker takes a message file off the broker folder when it starts a
task, so a worker killed mid-task (or a laptop switched off) loses that message: its run stays
"running" for ever. ``manage.py serve`` calls :func:`jobs_requeue_unfinished` before it starts
its worker, when no worker of this installation can be alive. Every task is idempotent (a
claim skips a job that already succeeded; estimates are get-or-create), so a job whose message
did survive and is now queued twice still gives one result. Production brokers (Redis)
redeliver by themselves and never need this.
"""

from __future__ import annotations

from django.db import transaction

from annotation.models import Recording
from crowd.models import Study

from . import tasks
from .models import GazeBoxesJob, JobStatus, Run

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


def jobs_requeue_unfinished() -> dict[str, int]:
    """Queue every unfinished run, gaze-boxes job and missing estimate again; returns counts."""
    runs = list(Run.objects.filter(status__in=UNFINISHED).values_list("pk", flat=True))
    boxes = list(GazeBoxesJob.objects.filter(status__in=UNFINISHED).values_list("pk", flat=True))
    recordings = list(
        Recording.objects.filter(status=Recording.Status.FINISHED, estimates__isnull=True)
        .exclude(sequence__study__kind=Study.Kind.IMAGES)
        .values_list("pk", flat=True)
    )
    # A run that was running shows "queued" until a worker claims it again.
    Run.objects.filter(pk__in=runs, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
    GazeBoxesJob.objects.filter(pk__in=boxes, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED)

    def send():
        for pk in recordings:
            tasks.estimate_recording.delay(pk)
        for pk in runs:
            tasks.run_execute.delay(pk)
        for pk in boxes:
            tasks.gaze_boxes_execute.delay(pk)

    transaction.on_commit(send)
    return {"runs": len(runs), "gaze-boxes jobs": len(boxes), "recording estimates": len(recordings)}
