"""Kill Redis (the broker) with queued and running tasks, start it again: no task is lost.

The test runs a Redis of its own (the shared one serves everybody else), configured like the
compose file's: append-only file, ``appendfsync everysec``. A worker is busy with the first
of several queued tasks when Redis is killed with SIGKILL; Redis is started again on the same
port from the same folder after a few seconds. The worker reconnects by itself; the queued
tasks come back from the append-only file. The task that was running goes on and finishes,
but cannot be acknowledged on the lost connection: its message comes back through the
visibility timeout and runs a second time, harmlessly (idempotent: same row). Every task
must finish with its result, and its row must exist once.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest

from .harness import Proc, free_port

pytestmark = pytest.mark.faults

N_TASKS = 4
LIMITS = {"CELERY_TASK_TIME_LIMIT": "20", "CELERY_TASK_SOFT_TIME_LIMIT": "18",
          "CELERY_VISIBILITY_TIMEOUT": "25"}


def _redis(port: int, folder, log) -> Proc:
    proc = Proc("redis", [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                          "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                          "--maxmemory-policy", "noeviction", "--dir", str(folder)],
                dict(os.environ), log)
    proc.wait_for_log("Ready to accept connections", 30)
    return proc


def test_broker_killed_and_restarted_no_task_is_lost(stack, tmp_path, monkeypatch):
    if shutil.which("redis-server") is None:
        if os.environ.get("GAZECROWD_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed (GAZECROWD_REQUIRE_SERVICES=1)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    redis = _redis(port, folder, tmp_path / "redis-1.log")
    stack.procs.append(redis)
    broker, backend = f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1"
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", backend)
    worker = stack.worker("brokerA@%h", env={"CELERY_BROKER_URL": broker,
                                              "CELERY_RESULT_BACKEND": backend, **LIMITS})
    worker.wait_for_log(" ready.", 90)

    app = stack.services.celery_client()
    tokens = [uuid.uuid4().hex for _ in range(N_TASKS)]
    results = [app.send_task("crowd.worker_heartbeat_slow", args=[t, 2], queue="long")
               for t in tokens]
    deadline = time.monotonic() + 60
    while results[0].state != "STARTED":
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.05)
    time.sleep(1)  # inside the first task; the others wait in the queue
    redis.kill9()
    time.sleep(3)
    restarted = _redis(port, folder, tmp_path / "redis-2.log")
    stack.procs.append(restarted)
    started = time.monotonic()

    # What counts is the work done, in PostgreSQL (GazeCrowd never reads Celery results: run
    # status lives in the Run row): one row per task.
    deadline = time.monotonic() + 120
    while True:
        rows = stack.services.sql(
            "SELECT token, id FROM crowd_workerheartbeat WHERE token = ANY(%s)", (tokens,))
        if len(rows) == N_TASKS:
            break
        assert time.monotonic() < deadline, f"{len(rows)} of {N_TASKS} tasks done: one was lost"
        time.sleep(0.5)
    took = time.monotonic() - started
    assert sorted(r[0] for r in rows) == sorted(tokens)
    # Celery's own record may disagree for the task that was running: it finished while Redis
    # was down, so its result could not be stored and reads FAILURE (ConnectionError), though
    # its work is done. Reported, not required.
    app = stack.services.celery_client()  # this process's result subscription died with Redis
    states = [app.AsyncResult(r.id).state for r in results]
    log = worker.text()
    assert "Connection to broker lost" in log or "Cannot connect to redis" in log, (
        "the worker never noticed the broker was gone: nothing was tested")
    runs = {r.id: log.count(f"[{r.id}] received") for r in results}
    twice = sum(n > 1 for n in runs.values())
    print(f"\nbroker killed and restarted: {N_TASKS} tasks, all finished "
          f"{took:.1f} s after the restart, one row each; executed twice: {twice}; "
          f"Celery result states: {states}")
