"""GazeCrowd project package and the ``crowd`` app (studies, sequences, members)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
