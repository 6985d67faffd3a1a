"""Accounts and worker heartbeats."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from ..models import WorkerHeartbeat

__all__ = ["user_get_or_create", "worker_heartbeat_record"]


def worker_heartbeat_record(*, token: str, hostname: str) -> WorkerHeartbeat:
    """Record that a worker ran a task; idempotent on ``token``."""
    heartbeat, _ = WorkerHeartbeat.objects.get_or_create(token=token, defaults={"hostname": hostname})
    return heartbeat


def user_get_or_create(*, username: str, password: str | None = None, email: str = ""):
    """Return the user ``username``, creating it (with ``password``, if given) when missing."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError("a username must not be empty")
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created or password:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user
