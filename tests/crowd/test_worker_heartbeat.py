"""A task travels through the real broker, a real worker runs it, the row lands in the DB."""

import uuid

import pytest

from crowd.models import WorkerHeartbeat
from crowd.tasks import worker_heartbeat


@pytest.mark.services
def test_heartbeat_through_redis_and_real_worker_writes_postgres_row(celery_worker_live):
    from django.db import connection

    token = uuid.uuid4().hex
    result = worker_heartbeat.delay(token)
    assert not result.__class__.__name__.startswith("Eager"), "task ran eagerly, not on a worker"
    pk = result.get(timeout=60)
    row = WorkerHeartbeat.objects.get(pk=pk)
    assert row.token == token
    assert connection.vendor == "postgresql"


@pytest.mark.services
def test_task_delivered_twice_writes_one_row(celery_worker_live):
    token = uuid.uuid4().hex
    first = worker_heartbeat.delay(token).get(timeout=60)
    second = worker_heartbeat.delay(token).get(timeout=60)
    assert first == second
    assert WorkerHeartbeat.objects.filter(token=token).count() == 1


@pytest.mark.django_db
def test_heartbeat_runs_eagerly_on_the_embedded_default():
    pk = worker_heartbeat.delay("eager-token").get()
    assert WorkerHeartbeat.objects.get(pk=pk).token == "eager-token"
