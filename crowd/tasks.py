"""Celery tasks of the crowd app: thin, ids in, one service call."""

import socket
import time

from celery import shared_task

from . import services


@shared_task(name="crowd.worker_heartbeat", time_limit=60, soft_time_limit=50)
def worker_heartbeat(token: str) -> int:
    """Write a heartbeat row from whichever worker runs this; returns its id."""
    return services.worker_heartbeat_record(token=token, hostname=socket.gethostname()).pk


@shared_task(name="crowd.worker_heartbeat_slow", bind=True)
def worker_heartbeat_slow(self, token: str, seconds: float) -> int:
    """Diagnostic long task: sleep ``seconds``, then record a heartbeat naming this worker node.

    Deployment checks and the fault tests use it as a stand-in for a run: kill the worker
    in the middle, and the heartbeat is written once, by the worker node that finished it
    (``self.request.hostname``, e.g. ``long1@host``). Idempotent on ``token``; bounded by the
    global task time limits.
    """
    time.sleep(seconds)
    return services.worker_heartbeat_record(token=token, hostname=self.request.hostname).pk
