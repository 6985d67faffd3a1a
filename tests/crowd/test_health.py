"""GET /healthz: a true answer for probes that have no allowed host name and no TLS."""

import pytest
from django.db.utils import OperationalError

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(settings):
    """The embedded default (no broker), whatever the environment of the test run says."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BROKER_URL = ""


def test_healthy_with_any_host_and_without_tls(client, settings, eager):
    settings.ALLOWED_HOSTS = ["gazecrowd.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    r = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")  # the container's own probe
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "eager"}
    assert r["Cache-Control"] == "no-store"
    # Any other path from that host is still refused (host validation is untouched).
    assert client.get("/api/studies/", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_unhealthy_when_the_database_does_not_answer(client, monkeypatch, eager):
    from crowd import health

    class Broken:
        def __enter__(self):
            raise OperationalError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: Broken())
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "error: OperationalError",
                        "broker": "eager"}


def test_unhealthy_when_the_broker_does_not_answer(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.GAZECROWD_EMBEDDED_BROKER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["broker"].startswith("error: "), r.json()
    assert r.json()["database"] == "ok"


def test_the_embedded_broker_is_healthy_when_its_folder_is_writable(client, settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.GAZECROWD_EMBEDDED_BROKER = True
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    assert client.get("/healthz").json()["broker"] == "embedded"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["broker"] == "error: broker folder not writable"
