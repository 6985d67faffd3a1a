"""The Celery application, configured from Django settings (``CELERY_`` namespace)."""

import os

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowd.settings")

app = Celery("gazecrowd")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(name: str, *args) -> None:
    """Queue the task registered as ``name`` with ``args`` once the transaction commits.

    Services queue jobs by the task's name, from the app's registry, rather than importing
    their app's ``tasks`` module: a task module imports the services it calls, so an import
    the other way would be a cycle. The registry holds the same task object as the module
    (eager mode, retries and routing apply as for ``task.delay``). The app that defines the task
    registers it when Django starts (its ``AppConfig.ready``); an unknown name raises KeyError
    here, inside the transaction, rather than after the commit.
    """
    task = app.tasks[name]
    transaction.on_commit(lambda: task.delay(*args))
