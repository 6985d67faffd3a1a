"""Shared fixtures: the real data folder, Celery mode per test, the services tier."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip when absent, except in CI where it must exist."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but the real data folder {SHARED_DATA} is missing")
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set GAZECROWD_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _embedded_broker_in_a_temporary_folder(tmp_path_factory):
    """A test that sends a task to the embedded broker leaves its message in a folder of the
    test session, never in the project's ./var/broker (which `serve` would then run)."""
    from django.conf import settings

    from crowd.celery import app

    if not settings.GAZECROWD_EMBEDDED_BROKER:
        yield
        return
    folder = tmp_path_factory.mktemp("broker")
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS}
    for key, name in (("data_folder_in", "queue"), ("data_folder_out", "queue"),
                      ("control_folder", "control"), ("processed_folder", "processed")):
        (folder / name).mkdir(exist_ok=True)
        options[key] = str(folder / name)
    old = settings.CELERY_BROKER_TRANSPORT_OPTIONS, app.conf.broker_transport_options
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    app.conf.broker_transport_options = options
    yield
    settings.CELERY_BROKER_TRANSPORT_OPTIONS, app.conf.broker_transport_options = old


@pytest.fixture(autouse=True)
def _celery_eager_unless_services(request):
    """Tests run Celery tasks eagerly, except those marked ``services`` (real broker, worker)."""
    from crowd.celery import app

    eager = request.node.get_closest_marker("services") is None
    old = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def celery_worker_live(transactional_db):
    """A real Celery worker thread consuming from the configured Redis broker.

    The worker runs in this process (``celery.contrib.testing.worker.start_worker``) so that it
    shares the test database; tasks travel through Redis. Uses committed transactions.
    """
    from celery.contrib.testing.worker import start_worker

    from crowd.celery import app
    from tests.services import require_services

    require_services()
    app.conf.task_always_eager = False
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=["celery", "quick", "long"],
        shutdown_timeout=30,
    ) as worker:
        yield worker
