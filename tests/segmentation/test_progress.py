"""What the progress pages show: waiting, elapsed, an ETA, frames done; never going back."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from segmentation.jobs import job_progress
from segmentation.models import JobStatus, Run


def _job(status, progress=0.0, *, created=0, started=None, finished=None):
    now = timezone.now()

    def at(seconds):
        return None if seconds is None else now - timedelta(seconds=seconds)

    job = SimpleNamespace(status=status, progress=progress, created_at=at(created),
                          started_at=at(started), finished_at=at(finished))
    job.is_finished = status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
    return job, now


def test_a_queued_job_shows_how_long_it_has_waited():
    job, now = _job(JobStatus.QUEUED, created=42)
    assert job_progress(job, now=now) == {"waiting_seconds": 42.0, "elapsed_seconds": None,
                                          "eta_seconds": None}


def test_a_running_job_extrapolates_the_time_left_from_its_pace():
    job, now = _job(JobStatus.RUNNING, 0.25, created=100, started=60)
    assert job_progress(job, now=now) == {"waiting_seconds": None, "elapsed_seconds": 60.0,
                                          "eta_seconds": 180.0}


def test_no_eta_before_five_percent_nor_after_the_end():
    job, now = _job(JobStatus.RUNNING, 0.01, started=10)
    assert job_progress(job, now=now)["eta_seconds"] is None
    job, now = _job(JobStatus.SUCCEEDED, 1.0, started=70, finished=10)
    assert job_progress(job, now=now) == {"waiting_seconds": None, "elapsed_seconds": 60.0,
                                          "eta_seconds": None}


@pytest.mark.django_db
def test_the_run_progress_never_goes_back_and_counts_frames(study, sequence):
    from segmentation.services.runs import _Progress

    run = Run.objects.create(study=study, sequence=sequence, parameters={}, code_version="x",
                             status=JobStatus.RUNNING)
    progress = _Progress(run.pk, n_frames=16, methods=("eel", "el"))
    seen = []
    report = progress.engine("prepare")
    for sub in ("superpixels", "features"):
        for k in range(17):
            progress.last = 0.0  # no write throttling in the test
            report(sub, k / 16)
            run.refresh_from_db()
            seen.append(run.progress)
    assert seen == sorted(seen), "the bar went back"
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(0.35)
    assert seen[16] == pytest.approx(0.175)  # superpixels done: half of "prepare"
    run.refresh_from_db()
    assert run.stage == "prepare: features 16/16 frames"
    segment = progress.engine("segment")
    segment("eel", 1.0)
    run.refresh_from_db()
    assert run.progress == pytest.approx(0.75)  # one of two methods: half of "segment"
    segment("el", 0.0)
    run.refresh_from_db()
    assert run.progress == pytest.approx(0.75)


@pytest.mark.django_db
def test_the_run_api_gives_the_times(client, study, sequence, alice):
    Run.objects.create(study=study, sequence=sequence, parameters={}, code_version="x")
    client.force_login(alice)
    (run,) = client.get(f"/api/studies/{study.pk}/runs/").json()
    assert run["status"] == "queued" and run["waiting_seconds"] >= 0
    assert run["elapsed_seconds"] is None and run["eta_seconds"] is None
