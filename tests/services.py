"""The services tier: PostgreSQL, Redis and a real Celery worker.

Tests marked ``services`` use :func:`require_services`: they skip with the reason when the
services are not configured or not reachable, unless ``GAZECROWD_REQUIRE_SERVICES=1``, which turns
the skip into a failure (CI sets it).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


def services_problem() -> str | None:
    """Why the services tier cannot run here, or None when it can."""
    if connection.vendor != "postgresql":
        return "DATABASE_URL does not point to PostgreSQL"
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return "CELERY_BROKER_URL does not point to Redis"
    if not _reachable(broker, 6379):
        return f"Redis at {broker} is not reachable"
    return None


def require_services() -> None:
    problem = services_problem()
    if problem is None:
        return
    message = f"services tier unavailable: {problem}"
    if os.environ.get("GAZECROWD_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (GAZECROWD_REQUIRE_SERVICES=1)")
    pytest.skip(message)
