"""Jobs sent by management commands on the embedded default: run here, or say who runs them.

A web request never computes (``manage.py serve`` runs a worker beside the web server). A
batch command is different: on the embedded default no worker may be running, and a command
that waits for its result (``demo``, ``run_study --wait``) runs the jobs it sends in its own
process instead. With a broker server configured the workers do, as in production.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings

QUEUED_NOTE = ("queued on the embedded broker: `manage.py serve` (the web server and a worker) "
               "runs it, now if it is running, or when it starts")


@contextmanager
def jobs_in_this_process():
    """Inside the block, tasks sent run at once in this process on the embedded default."""
    from crowd.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = eager or settings.GAZECROWD_EMBEDDED_BROKER
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def queued_note() -> str | None:
    """What to tell the user of a command that only queued work, or None with a broker server."""
    from crowd.celery import app

    if settings.GAZECROWD_EMBEDDED_BROKER and not app.conf.task_always_eager:
        return QUEUED_NOTE
    return None
