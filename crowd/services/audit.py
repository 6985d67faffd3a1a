"""The members audit trail: one :class:`~crowd.models.MemberEvent` per change of who is in a study.

Only the member and invitation services call :func:`member_event_record`, inside the same
transaction as the change it records: a change that rolls back leaves no line, and a line
never describes a change that did not happen.
"""

from __future__ import annotations

from ..models import Invitation, MemberEvent, Study

__all__ = ["member_event_record"]

Action = MemberEvent.Action


def _name(user) -> str:
    return getattr(user, "username", "") or ""


def member_event_record(
    *, study: Study, action: str, actor=None, subject=None, subject_name: str = "",
    role: str = "", previous_role: str = "", invitation: Invitation | None = None,
) -> MemberEvent:
    """Append one line to ``study``'s audit trail (``actor`` None: the system or a command)."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return MemberEvent.objects.create(
        study=study, action=action, actor=actor, actor_name=_name(actor),
        subject=subject, subject_name=(subject_name or _name(subject))[:254],
        role=role, previous_role=previous_role, invitation=invitation,
    )
