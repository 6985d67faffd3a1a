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

import ast
import json
import logging
from pathlib import Path

from django.conf import settings

from annotation.models import Recording
from crowd.celery import enqueue_on_commit
from crowd.models import Study

from .models import GazeBoxesJob, JobStatus, Run

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
log = logging.getLogger(__name__)


def pending_in_broker() -> set[tuple[str, int]]:
    """(task name, id) of every message still waiting in the embedded broker's folder.

    Those jobs will run anyway; queueing them again would only do the work twice. Each file
    is one Celery message (protocol 2: the task name and its arguments' repr in the headers).
    """
    if not settings.GAZECROWD_EMBEDDED_BROKER:
        return set()  # a broker server keeps its own messages; nothing to read here
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    pending = set()
    for path in folder.glob("*.msg"):
        try:
            headers = json.loads(path.read_bytes())["headers"]
            args = ast.literal_eval(headers["argsrepr"])
            pending.add((headers["task"], int(args[0])))
        except (OSError, ValueError, KeyError, IndexError, TypeError, SyntaxError) as exc:
            log.warning("unreadable broker message %s (%s): left as it is", path.name, exc)
    return pending


RUN, BOXES, ESTIMATE = ("segmentation.run_execute", "segmentation.gaze_boxes_execute",
                        "segmentation.estimate_recording")


def jobs_requeue_unfinished() -> dict[str, int]:
    """Queue every unfinished run, gaze-boxes job and missing estimate again; returns counts.

    Jobs whose message still waits in the broker folder are left to it.
    """
    pending = pending_in_broker()

    def lost(name, pks):
        return [pk for pk in pks if (name, pk) not in pending]

    runs = lost(RUN, Run.objects.filter(status__in=UNFINISHED).values_list("pk", flat=True))
    boxes = lost(BOXES,
                 GazeBoxesJob.objects.filter(status__in=UNFINISHED).values_list("pk", flat=True))
    recordings = lost(ESTIMATE, (
        Recording.objects.filter(status=Recording.Status.FINISHED, estimates__isnull=True)
        .exclude(sequence__study__kind=Study.Kind.IMAGES)
        .values_list("pk", flat=True)
    ))
    # A run that was running shows "queued" until a worker claims it again.
    Run.objects.filter(pk__in=runs, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
    GazeBoxesJob.objects.filter(pk__in=boxes, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED)
    for name, pks in ((ESTIMATE, recordings), (RUN, runs), (BOXES, boxes)):
        for pk in pks:
            enqueue_on_commit(name, pk)
    return {"runs": len(runs), "gaze-boxes jobs": len(boxes), "recording estimates": len(recordings)}
