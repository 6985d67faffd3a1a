"""``manage.py serve`` and the embedded broker: work queued is never lost to a worker restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from segmentation.management.commands.serve import browse_url, parse_addrport

ROOT = Path(__file__).resolve().parents[2]

SEND = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "crowd.settings"
import django; django.setup()
from crowd.tasks import worker_heartbeat
for token in sys.argv[1:]:
    worker_heartbeat.delay(token)
"""
COUNT = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "crowd.settings"
import django; django.setup()
from crowd.models import WorkerHeartbeat
print(WorkerHeartbeat.objects.count())
"""


@pytest.mark.parametrize(("given", "expected"), [
    ("8000", ("127.0.0.1", 8000)), ("0.0.0.0:8080", ("0.0.0.0", 8080)),
    ("[::1]:9000", ("::1", 9000)), (":8001", ("127.0.0.1", 8001)),
])
def test_addrport_is_parsed_like_runserver(given, expected):
    assert parse_addrport(given) == expected


@pytest.mark.parametrize("given", ["http", "host:99999", "host:0"])
def test_a_bad_addrport_is_named(given):
    with pytest.raises(CommandError, match="--addrport"):
        parse_addrport(given)


def test_the_printed_address_is_one_a_browser_can_open():
    assert browse_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/"
    assert browse_url("::", 8000) == "http://[::1]:8000/"
    assert browse_url("192.168.1.5", 80) == "http://192.168.1.5:80/"


@pytest.mark.django_db
def test_recovery_queues_again_a_run_left_running_and_a_lost_estimate(
        study, sequence, import_recordings, django_capture_on_commit_callbacks):
    """What a worker killed mid-run leaves behind, done again once, with one result each."""
    from segmentation import recovery
    from segmentation import services as seg_services
    from segmentation.models import ObserverEstimate, Run

    recordings = import_recordings()
    with django_capture_on_commit_callbacks(execute=True):
        (run,) = seg_services.study_run_create(study=study, sequence=sequence,
                                               parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    # The worker died: this run's message is gone while its row says "running", and one
    # recording's estimate was never written.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    ObserverEstimate.objects.filter(recording=recordings[0]).delete()
    other = Run.objects.create(study=study, sequence=sequence, parameters=run.parameters,
                               code_version=run.code_version, status=Run.Status.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=True):
        counts = recovery.jobs_requeue_unfinished()
    assert counts == {"runs": 1, "gaze-boxes jobs": 0, "recording estimates": 1}
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 2
    assert ObserverEstimate.objects.filter(recording=recordings[0]).count() == 1
    other.refresh_from_db()
    assert other.attempts == 0  # finished jobs are left alone
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.jobs_requeue_unfinished() == {
            "runs": 0, "gaze-boxes jobs": 0, "recording estimates": 0}


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                        "CELERY_TASK_ALWAYS_EAGER"}}
    env["GAZECROWD_DATA_DIR"] = str(tmp_path / "var")
    return env


def _python(env, code, *args) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def _worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crowd", "worker", "-c", "1", "-P", "prefork",
         "-Q", "celery,quick,long", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until(env, count: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = int(_python(env, COUNT))
        if seen >= count:
            return seen
        time.sleep(0.5)
    return seen


@pytest.mark.slow
def test_the_embedded_broker_keeps_work_queued_while_the_worker_is_down(tmp_path):
    """A real worker process on the filesystem broker (no eager mode, no server)."""
    env = _env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    _python(env, SEND, "before-1", "before-2", "before-3")  # no worker yet
    worker = _worker(env)
    try:
        assert _until(env, 3) == 3
    finally:
        worker.send_signal(signal.SIGTERM)  # what serve does on Ctrl-C: a warm shutdown
        worker.wait(60)
    _python(env, SEND, "down-1", "down-2")  # while it is stopped
    assert int(_python(env, COUNT)) == 3
    worker = _worker(env)
    try:
        assert _until(env, 5) == 5
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


@pytest.fixture
def not_eager(settings):
    """The embedded default as a user has it: tasks go to the broker (no eager mode), whatever
    broker the test run itself is configured with (CI sets Redis)."""
    from crowd.celery import app

    settings.GAZECROWD_EMBEDDED_BROKER = True

    old = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = old


@pytest.mark.django_db(transaction=True)  # on_commit fires as in production
def test_run_study_queues_without_wait_and_runs_here_with_it(
        study, sequence, import_recordings, not_eager, monkeypatch, capsys):
    """On the embedded default a command never blocks on a worker that may not be running."""
    from django.core.management import call_command

    from crowd.celery import app
    from segmentation import tasks
    from segmentation.models import Run

    app.conf.task_always_eager = True
    import_recordings()
    app.conf.task_always_eager = False
    sent = []
    # The broker itself is tested above with a real worker; here only what the command sends.
    # (The task object itself: services queue it by name, from the Celery app's registry.)
    monkeypatch.setattr(tasks.run_execute, "delay", sent.append)
    call_command("run_study", study.pk, "--compare", "False")
    (queued,) = Run.objects.all()
    assert sent == [queued.pk] and queued.status == Run.Status.QUEUED
    assert "manage.py serve" in capsys.readouterr().err

    monkeypatch.undo()
    call_command("run_study", study.pk, "--compare", "False", "--wait", "--timeout", "300")
    done = Run.objects.exclude(pk=queued.pk).get()
    assert done.status == Run.Status.SUCCEEDED, done.error
    assert app.conf.task_always_eager is False  # restored after the command


def test_messages_still_in_the_broker_folder_are_not_queued_twice(settings, tmp_path):
    """What recovery leaves alone: a message file of the filesystem transport names its task."""
    import json

    from segmentation.recovery import pending_in_broker

    settings.GAZECROWD_EMBEDDED_BROKER = True
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    (tmp_path / "1_a.long.msg").write_text(json.dumps(
        {"body": "...", "headers": {"task": "segmentation.run_execute", "argsrepr": "(7,)"}}))
    (tmp_path / "2_b.quick.msg").write_text("not json")  # left as it is, with a warning
    assert pending_in_broker() == {("segmentation.run_execute", 7)}
    settings.GAZECROWD_EMBEDDED_BROKER = False
    assert pending_in_broker() == set()
