"""Invitations: single-use, expiring tokens to join a study with a role."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Invitation, StudyMembership
from .members import lock_study, membership_ensure

__all__ = ["INVITATION_VALID_FOR", "invitation_accept", "invitation_create", "invitation_revoke"]

Role = StudyMembership.Role
INVITATION_VALID_FOR = timedelta(days=14)

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
        return Invitation.objects.create(
            study=study,
            role=role,
            email=email,
            created_by=created_by,
            token=secrets.token_urlsafe(32),
            expires_at=timezone.now() + valid_for,
        )


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
    return membership_ensure(study=invitation.study, user=user, role=invitation.role)


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    invitation.revoked = True
    invitation.save(update_fields=["revoked"])
    return invitation
