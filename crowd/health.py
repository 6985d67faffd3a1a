"""``GET /healthz``: is this web process able to serve? For load balancers and container checks.

Answered by a middleware placed first, before host validation and the HTTPS redirect: a probe
from the container itself (``http://127.0.0.1:8000/healthz``) has neither an allowed host
name nor TLS, and must still get a true answer. It reveals nothing but "ok" or the failing
part's exception class.

200 ``{"status": "ok", "database": "ok", "broker": "ok" | "embedded" | "eager"}`` when the
database answers ``SELECT 1`` and (with a broker server configured) the broker accepts a
connection within 2 s; 503 with the failing part otherwise. The embedded broker is a folder
(``DATA_DIR/broker``): it is healthy when that folder can be written.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

PATH = "/healthz"


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", named below
        return f"error: {type(exc).__name__}"
    return "ok"


def _broker() -> str:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "eager"
    if settings.GAZECROWD_EMBEDDED_BROKER:
        import os

        queue = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return "embedded" if os.access(queue, os.W_OK) else "error: broker folder not writable"
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"
    return "ok"


def health() -> tuple[dict, int]:
    """The check's body and HTTP status."""
    parts = {"database": _database(), "broker": _broker()}
    ok = all(v in ("ok", "embedded", "eager") for v in parts.values())
    return {"status": "ok" if ok else "unavailable", **parts}, 200 if ok else 503


class HealthMiddleware:
    """Answers ``GET/HEAD /healthz`` itself; everything else goes on down the stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == PATH and request.method in ("GET", "HEAD"):
            body, status = health()
            response = JsonResponse(body, status=status)
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
