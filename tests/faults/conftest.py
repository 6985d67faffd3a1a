"""Fixtures of the fault tests: a dedicated PostgreSQL database and Redis databases, and a
stack of real processes (gunicorn, celery workers) started per test.

The services come from the environment exactly as for the ``services`` tier (``DATABASE_URL``
pointing to PostgreSQL, ``CELERY_BROKER_URL`` to Redis, as ``.ci/run`` sets them). Without
them the tests skip with the reason; ``GAZECROWD_REQUIRE_SERVICES=1`` turns that skip into a
failure. Nothing here uses the test process's own database: the processes under test get a
database of their own, created for the session and dropped afterwards, and Redis databases
``GAZECROWD_FAULTS_REDIS_DB`` and the next one (default 12 and 13), flushed before and after.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from .harness import Services, Stack


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 2):
            return True
    except OSError:
        return False


def _problem() -> str | None:
    db = urlparse(os.environ.get("DATABASE_URL", ""))
    broker = urlparse(os.environ.get("CELERY_BROKER_URL", ""))
    if db.scheme not in ("postgres", "postgresql", "pgsql"):
        return "DATABASE_URL does not point to PostgreSQL"
    if broker.scheme not in ("redis", "rediss"):
        return "CELERY_BROKER_URL does not point to Redis"
    if not _reachable(db.hostname or "127.0.0.1", db.port or 5432):
        return f"PostgreSQL at {db.hostname}:{db.port or 5432} is not reachable"
    if not _reachable(broker.hostname or "127.0.0.1", broker.port or 6379):
        return f"Redis at {broker.hostname}:{broker.port or 6379} is not reachable"
    for tool in ("gunicorn", "celery"):
        if not (Path(sys.executable).parent / tool).exists():
            return f"{tool} is not installed next to {sys.executable}"
    return None


def require_faults_stack() -> None:
    problem = _problem()
    if problem is None:
        return
    message = f"faults tier unavailable: {problem}"
    if os.environ.get("GAZECROWD_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (GAZECROWD_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _with_db(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def faults_services(tmp_path_factory) -> Services:
    require_faults_stack()
    import psycopg
    import redis

    db_url = os.environ["DATABASE_URL"]
    name = f"gazecrowd_faults_{os.getpid()}"
    admin_url = _with_db(db_url, "postgres").replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_db = int(os.environ.get("GAZECROWD_FAULTS_REDIS_DB", "12"))
    broker_url = _with_db(os.environ["CELERY_BROKER_URL"], str(redis_db))
    backend_url = _with_db(os.environ["CELERY_BROKER_URL"], str(redis_db + 1))
    for url in (broker_url, backend_url):
        redis.Redis.from_url(url).flushdb()
    tmp = tmp_path_factory.mktemp("faults")
    env = {
        **os.environ,
        "DATABASE_URL": _with_db(db_url, name),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": backend_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Production mode, minus the HTTPS redirect (TLS would end at a proxy).
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "GAZECROWD_DATA_DIR": str(tmp / "data"),
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        # Short limits, so that a task of a killed worker comes back within a minute:
        # redelivery waits for the visibility timeout, which must exceed the time limit,
        # which must exceed a run of the test study (about 15 s here).
        "CELERY_TASK_TIME_LIMIT": "45",
        "CELERY_TASK_SOFT_TIME_LIMIT": "40",
        "CELERY_VISIBILITY_TIMEOUT": "50",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    services = Services(env, _with_db(db_url, name).replace("postgres://", "postgresql://", 1),
                        broker_url, backend_url, tmp)
    services.manage("migrate", "--noinput")
    services.manage("collectstatic", "--noinput")
    yield services
    for url in (broker_url, backend_url):
        redis.Redis.from_url(url).flushdb()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def stack(faults_services, tmp_path, request, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", faults_services.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", faults_services.backend_url)
    started = Stack(faults_services, tmp_path)
    yield started
    started.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for proc in started.procs:
            print(f"\n===== {proc.name} ({proc.log}) =====\n{proc.tail(80)}")
