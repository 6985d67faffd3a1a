"""Members and assignments: who is in a study with which role, who records which sequence."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import Assignment, Sequence, Study, StudyMembership
from ..selectors import NotFound

__all__ = [
    "assignment_create",
    "assignment_delete",
    "assignments_set",
    "lock_study",
    "membership_ensure",
    "membership_remove",
    "membership_set",
]

Role = StudyMembership.Role


def lock_study(study_id: int) -> None:
    """Lock the study's row for this transaction; NotFound when it was deleted meanwhile.

    A membership, invitation or assignment written for a study that a concurrent request is
    deleting would fail at commit (a foreign key to a row gone): the lock makes the delete
    wait for this write, or this write see that the study is gone.
    """
    if not Study.objects.select_for_update().filter(pk=study_id).exists():
        raise NotFound(f"no study {study_id}")


@transaction.atomic
def membership_set(*, study: Study, user, role: str) -> StudyMembership:
    """Make ``user`` a member of ``study`` with ``role`` (changing the role of a member)."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    lock_study(study.pk)
    membership = StudyMembership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        return StudyMembership.objects.create(study=study, user=user, role=role)
    if membership.role == Role.COORDINATOR and role != Role.COORDINATOR:
        _keep_a_coordinator(study, leaving=membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def membership_ensure(*, study: Study, user, role: str) -> StudyMembership:
    """The user's membership, created with ``role`` when missing (an existing role is kept)."""
    existing = StudyMembership.objects.filter(study=study, user=user).first()
    return existing or membership_set(study=study, user=user, role=role)


@transaction.atomic
def membership_remove(*, membership: StudyMembership) -> None:
    """Remove a member (not the last coordinator); their recordings stay."""
    if membership.role == Role.COORDINATOR:
        _keep_a_coordinator(membership.study, leaving=membership)
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
