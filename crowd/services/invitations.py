"""Invitations: single-use, expiring tokens to join a study with a role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from ..models import Invitation, MemberEvent, StudyMembership
from .audit import member_event_record
from .members import lock_study, membership_ensure

__all__ = [
    "INVITATION_VALID_FOR",
    "MAX_BULK_INVITATIONS",
    "BulkInvitations",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "invitations_create_bulk",
]

Role = StudyMembership.Role
Action = MemberEvent.Action
INVITATION_VALID_FOR = timedelta(days=14)
#: Addresses one bulk request may hold: a pasted class list, not a mailing list (each one is a
#: row and an audit line; more is a sign of a wrong paste).
MAX_BULK_INVITATIONS = 200
#: Characters one pasted list may hold (MAX_BULK_INVITATIONS addresses of at most 254, plus
#: line ends), checked before the text is split.
MAX_BULK_TEXT = MAX_BULK_INVITATIONS * 256

#: Why an invitation that is not open cannot be used (:meth:`Invitation.state`).
_REFUSALS = {
    "revoked": "this invitation was revoked",
    "used": "this invitation has already been used",
    "expired": "this invitation has expired; ask the coordinator for a new one",
}


def invitation_create(
    *, study, role: str, created_by=None, email: str = "", valid_for: timedelta = INVITATION_VALID_FOR
) -> Invitation:
    """A single-use invitation token to join ``study`` as ``role``, valid for ``valid_for``."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    with transaction.atomic():
        lock_study(study.pk)
        invitation = Invitation.objects.create(
            study=study,
            role=role,
            email=email,
            created_by=created_by,
            token=secrets.token_urlsafe(32),
            expires_at=timezone.now() + valid_for,
        )
        member_event_record(study=study, action=Action.INVITATION_CREATED, actor=created_by,
                            subject_name=email, role=role, invitation=invitation)
        return invitation


@transaction.atomic
def invitation_accept(*, token: str, user) -> StudyMembership:
    """Use an invitation: ``user`` joins its study with its role (or keeps a role it has).

    Raises ValidationError when the token is unknown, expired, revoked or already used.
    """
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None:
        raise ValidationError("unknown invitation")
    state = invitation.state()
    if state != "open":
        raise ValidationError(_REFUSALS[state])
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return membership_ensure(study=invitation.study, user=user, role=invitation.role,
                             actor=user, invitation=invitation)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor=None) -> Invitation:
    """Revoke an invitation (idempotent: revoking a revoked one records nothing)."""
    already = Invitation.objects.select_for_update().get(pk=invitation.pk).revoked  # one line for two clicks
    invitation.revoked = True
    if already:
        return invitation
    invitation.save(update_fields=["revoked"])
    member_event_record(study=invitation.study, action=Action.INVITATION_REVOKED, actor=actor,
                        subject_name=invitation.email, role=invitation.role, invitation=invitation)
    return invitation


@dataclass
class BulkInvitations:
    """What :func:`invitations_create_bulk` did with each line of the pasted list.

    Line numbers count from 1 over the text as pasted (blank lines included), so that the
    user finds the line in their own list.
    """

    created: list[Invitation] = field(default_factory=list)
    #: ``(line, text, why)`` for lines that are not an e-mail address.
    invalid: list[tuple[int, str, str]] = field(default_factory=list)
    #: ``(line, email, first_line)``: the address appeared earlier in the same list.
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)
    #: ``(line, email, username)``: an account with this address is already a member.
    members: list[tuple[int, str, str]] = field(default_factory=list)
    #: ``(line, email)``: an open invitation for this address exists already.
    already_invited: list[tuple[int, str]] = field(default_factory=list)


def _bulk_lines(text: str) -> list[tuple[int, str]]:
    if len(text) > MAX_BULK_TEXT:
        raise ValidationError(f"the list is too long ({len(text)} characters); paste at most "
                              f"{MAX_BULK_INVITATIONS} addresses at a time")
    lines = [(number, line.strip().strip(",;").strip())
             for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise ValidationError("the list is empty: paste one e-mail address per line")
    if len(lines) > MAX_BULK_INVITATIONS:
        raise ValidationError(f"the list has {len(lines)} addresses; invite at most "
                              f"{MAX_BULK_INVITATIONS} at a time (nothing was created)")
    return lines


@transaction.atomic
def invitations_create_bulk(
    *, study, role: str, text: str, created_by=None, valid_for: timedelta = INVITATION_VALID_FOR,
) -> BulkInvitations:
    """One invitation per e-mail address of ``text`` (one address a line).

    Lines that are not an address are reported by line number; an address seen earlier in the
    list, one whose account is already a member, and one with an open invitation are reported
    and not invited again. More than :data:`MAX_BULK_INVITATIONS` addresses raise
    ValidationError and create nothing. The valid lines are created even when others are not.
    """
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    lines = _bulk_lines(text)
    lock_study(study.pk)
    members = {m.user.email.lower(): m.user.username
               for m in StudyMembership.objects.filter(study=study).exclude(user__email="")
               .select_related("user")}
    now = timezone.now()
    invited = {inv.email.lower() for inv in study.invitations.exclude(email="")
               if inv.state(now=now) == "open"}
    result, seen = BulkInvitations(), {}
    for number, line in lines:
        try:
            if len(line) > 254:  # Invitation.email's length (RFC 5321's path limit)
                raise ValidationError("longer than 254 characters")
            validate_email(line)
        except ValidationError:
            result.invalid.append((number, line[:80], "not an e-mail address"))
            continue
        key = line.lower()
        if key in seen:
            result.duplicates.append((number, line, seen[key]))
        elif key in members:
            result.members.append((number, line, members[key]))
        elif key in invited:
            result.already_invited.append((number, line))
        else:
            result.created.append(invitation_create(study=study, role=role, email=line,
                                                    created_by=created_by, valid_for=valid_for))
        seen.setdefault(key, number)
    return result
