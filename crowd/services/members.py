"""Members and assignments: who is in a study with which role, who records which sequence."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import Assignment, Invitation, MemberEvent, Sequence, Study, StudyMembership
from ..selectors import NotFound
from .audit import member_event_record

__all__ = [
    "assignment_create",
    "assignment_delete",
    "assignments_set",
    "lock_study",
    "membership_add",
    "membership_ensure",
    "membership_remove",
    "membership_set",
]

Role = StudyMembership.Role
Action = MemberEvent.Action


def lock_study(study_id: int) -> None:
    """Lock the study's row for this transaction; NotFound when it was deleted meanwhile.

    A membership, invitation or assignment written for a study that a concurrent request is
    deleting would fail at commit (a foreign key to a row gone): the lock makes the delete
    wait for this write, or this write see that the study is gone.
    """
    if not Study.objects.select_for_update().filter(pk=study_id).exists():
        raise NotFound(f"no study {study_id}")


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")


@transaction.atomic
def membership_set(*, study: Study, user, role: str, actor=None,
                   invitation: Invitation | None = None) -> StudyMembership:
    """Make ``user`` a member of ``study`` with ``role`` (changing the role of a member).

    ``actor`` is who asks (recorded in the audit trail, :mod:`crowd.services.audit`);
    ``invitation``, when the user joins by one, is recorded as accepted rather than "added".
    Demoting the last coordinator raises ValidationError.
    """
    _check_role(role)
    lock_study(study.pk)
    membership = StudyMembership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        membership = StudyMembership.objects.create(study=study, user=user, role=role)
        member_event_record(
            study=study, actor=actor, subject=user, role=role, invitation=invitation,
            action=Action.INVITATION_ACCEPTED if invitation else Action.MEMBER_ADDED,
        )
        return membership
    if membership.role == role:
        return membership
    if membership.role == Role.COORDINATOR:
        _keep_a_coordinator(study, leaving=membership)
    previous, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    member_event_record(study=study, action=Action.ROLE_CHANGED, actor=actor, subject=user,
                        role=role, previous_role=previous)
    return membership


@transaction.atomic
def membership_add(*, study: Study, user, role: str, actor=None) -> StudyMembership:
    """Add ``user`` (not yet a member) to ``study`` with ``role``.

    Unlike :func:`membership_set` this refuses an existing member (the members page's "add"
    must not silently change someone's role: that is the role control's job).
    """
    _check_role(role)
    lock_study(study.pk)
    existing = StudyMembership.objects.filter(study=study, user=user).first()
    if existing is not None:
        raise ValidationError(f"{user.username} is already a member of this study, as {existing.role}; "
                              "change the role in the members table")
    return membership_set(study=study, user=user, role=role, actor=actor)


def membership_ensure(*, study: Study, user, role: str, actor=None,
                      invitation: Invitation | None = None) -> StudyMembership:
    """The user's membership, created with ``role`` when missing (an existing role is kept)."""
    existing = StudyMembership.objects.filter(study=study, user=user).first()
    if existing is None:
        return membership_set(study=study, user=user, role=role, actor=actor, invitation=invitation)
    if invitation is not None:  # the link is used up even though nothing changes: say so
        member_event_record(study=study, action=Action.INVITATION_ACCEPTED, actor=actor,
                            subject=user, role=existing.role, invitation=invitation)
    return existing


@transaction.atomic
def membership_remove(*, membership: StudyMembership, actor=None) -> None:
    """Remove a member (not the last coordinator); their recordings stay.

    The member's next request is refused: every page and API view reads the membership afresh
    (:func:`crowd.selectors.study_get_for_user`), nothing caches it.
    """
    lock_study(membership.study_id)
    if membership.role == Role.COORDINATOR:
        _keep_a_coordinator(membership.study, leaving=membership)
    member_event_record(study=membership.study, action=Action.MEMBER_REMOVED, actor=actor,
                        subject=membership.user, previous_role=membership.role)
    membership.delete()


def _keep_a_coordinator(study: Study, *, leaving: StudyMembership) -> None:
    others = study.memberships.filter(role=Role.COORDINATOR).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationError("a study keeps at least one coordinator; add another one first")


def assignment_create(*, sequence: Sequence, observer) -> Assignment:
    """Ask ``observer`` (an observer of the study) to record ``sequence``; idempotent."""
    try:
        with transaction.atomic():
            lock_study(sequence.study_id)
            if not Sequence.objects.filter(pk=sequence.pk).exists():
                raise NotFound(f"no sequence {sequence.pk}")
            is_observer = StudyMembership.objects.filter(
                study_id=sequence.study_id, user=observer, role=Role.OBSERVER
            ).exists()
            if not is_observer:
                raise ValidationError(f"{observer} is not an observer of this study")
            assignment, _ = Assignment.objects.get_or_create(sequence=sequence, observer=observer)
    except IntegrityError:  # a concurrent request created it
        assignment = Assignment.objects.get(sequence=sequence, observer=observer)
    return assignment


def assignment_delete(*, assignment: Assignment) -> None:
    assignment.delete()


def assignments_set(*, study: Study, wanted: Iterable[tuple[int, int]] = (),
                    every: bool = False) -> tuple[int, int]:
    """Make the observer x sequence matrix of ``study`` what ``wanted`` says.

    ``wanted`` holds ``(observer_id, sequence_id)`` pairs: those become assignments, and the
    other cells of the study's observers are withdrawn. With ``every``, every observer gets
    every sequence and nothing is withdrawn. Assignments of members who are no longer
    observers are left alone. Returns ``(added, removed)``.
    """
    wanted = set(wanted)
    observers = [m.user for m in StudyMembership.objects.filter(study=study, role=Role.OBSERVER)
                 .select_related("user").order_by("id")]
    sequences = list(study.sequences.order_by("id"))
    existing = {(a.observer_id, a.sequence_id): a
                for a in Assignment.objects.filter(sequence__study=study)}
    added = removed = 0
    for observer in observers:
        for sequence in sequences:
            key = (observer.pk, sequence.pk)
            if (every or key in wanted) and key not in existing:
                assignment_create(sequence=sequence, observer=observer)
                added += 1
            elif not every and key not in wanted and key in existing:
                assignment_delete(assignment=existing[key])
                removed += 1
    return added, removed
