"""The pipeline on the production path: tasks through Redis, a real worker, PostgreSQL."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from segmentation import export_service, services, tasks
from segmentation.models import GroundTruth, ObserverEstimate, Run

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=180, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_worker_computes_estimates_runs_and_a_duplicate_delivery_gives_one_result(
        celery_worker_live, study, sequence, import_recordings):
    recordings = import_recordings(["observer-1", "observer-2"])
    # Finishing each recording enqueued its estimate on the quick queue; the worker computes it.
    wait_for(lambda: ObserverEstimate.objects.filter(recording__in=recordings).count() == 2,
             what="estimates of the finished recordings")

    (run,) = services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, what="the run")
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    npz = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz")[0]))
    assert npz["masks"].shape == (sequence.n_frames, sequence.height, sequence.width)

    # The broker delivers the same task twice (e.g. a lost acknowledgement): one result.
    first = tasks.run_execute.delay(run.pk)
    second = tasks.run_execute.delay(run.pk)
    assert first.get(timeout=120) == second.get(timeout=120) == "succeeded"
    run.refresh_from_db()
    assert run.attempts == 1
    assert GroundTruth.objects.filter(run=run).count() == 1
