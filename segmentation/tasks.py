"""Celery tasks of the segmentation app: ids in, one service call, retries on transient errors.

Routing (settings ``CELERY_TASK_ROUTES``): ``segmentation.estimate_*`` to the ``quick`` queue,
``segmentation.run_*`` and ``segmentation.gaze_boxes_*`` to ``long``. All tasks are idempotent, so late acknowledgement and
redelivery after a lost worker give one result, never two.
"""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError, InterfaceError

from . import services

TRANSIENT = (DatabaseError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(
    name="segmentation.estimate_recording",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
    time_limit=900,
    soft_time_limit=840,
    acks_late=True,
)
def estimate_recording(recording_id: int) -> int | None:
    """Per-observer estimate of a finished recording (then a run if the quorum is reached)."""
    row = services.recording_estimate(recording_id=recording_id)
    return row.pk if row else None


@shared_task(
    name="segmentation.run_execute",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    acks_late=True,
)
def run_execute(run_id: int) -> str:
    """Execute a run; returns its final status."""
    return services.run_execute(run_id=run_id).status


@shared_task(
    name="segmentation.gaze_boxes_execute",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    acks_late=True,
)
def gaze_boxes_execute(job_id: int) -> str:
    """Compute the gaze boxes of an image collection; returns the job's final status."""
    return services.gaze_boxes_execute(job_id=job_id).status


@shared_task(
    name="segmentation.run_chunk",
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    acks_late=True,
)
def run_chunk(self, run_id: int, step: str, index: int) -> bool:
    """One task of a chunked run's parallel step: a chunk (prepare, estimate, paint) or a booster (fit)."""
    return services.run_chunk(run_id=run_id, step=step, index=index, worker=self.request.hostname)


@shared_task(
    name="segmentation.run_gather",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    acks_late=True,
)
def run_gather(run_id: int, step: str) -> bool:
    """A chunked run's gather step (plan, train, finalize)."""
    return services.run_gather(run_id=run_id, step=step)
