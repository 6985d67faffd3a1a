"""The life of a job row (a Run, a GazeBoxesJob): claimed by a worker, then failed or done.

Tasks are delivered at least once (late acknowledgement, redelivery after a lost worker), so a
claim is idempotent: a job that already succeeded is left alone, any other state starts one
more attempt.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Job, JobStatus


def job_claim(model: type[Job], pk: int, **reset) -> Job | None:
    """Mark job ``pk`` of ``model`` running for one more attempt; None when it already succeeded.

    ``reset`` names more fields to set at the start of an attempt (``progress=0.0``).
    """
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=pk)
        if job.status == JobStatus.SUCCEEDED:
            return None
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.error = ""
        for name, value in reset.items():
            setattr(job, name, value)
        job.save(update_fields=["status", "attempts", "started_at", "error", *reset])
        return job


def job_fail(model: type[Job], pk: int, error: str) -> None:
    """Mark job ``pk`` failed with the message shown to the user (it may be retried)."""
    model.objects.filter(pk=pk).update(status=JobStatus.FAILED, finished_at=timezone.now(),
                                       error=error)


def job_progress(job: Job, *, now=None) -> dict:
    """Times the progress pages show: waiting (queued), elapsed and an estimate of what is left.

    The estimate assumes the rest goes at the average pace so far (progress is weighted by
    each stage's usual share of a run), and is given only past 5% so the first seconds'
    noise does not promise a wrong end.
    """
    now = now or timezone.now()
    waiting = elapsed = eta = None
    if job.status == JobStatus.QUEUED:
        waiting = round((now - job.created_at).total_seconds(), 1)
    elif job.started_at is not None:
        end = job.finished_at if job.is_finished and job.finished_at else now
        elapsed = round(max((end - job.started_at).total_seconds(), 0.0), 1)
        if job.status == JobStatus.RUNNING and 0.05 <= job.progress < 1.0:
            eta = round(elapsed * (1.0 - job.progress) / job.progress, 1)
    return {"waiting_seconds": waiting, "elapsed_seconds": elapsed, "eta_seconds": eta}
