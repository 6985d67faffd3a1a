"""Reads of the crowd app, scoped by what the asking user may see.

Permission-checked fetches are named ``*_get_for_user`` and raise :class:`NotFound` when the
user is not a member (a non-member cannot even learn that a study exists) and
:class:`Forbidden` when the member's role does not allow the action.
"""

from __future__ import annotations

import functools

import numpy as np
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404

from . import storage
from .models import Assignment, Invitation, MemberEvent, Sequence, Study, StudyMembership

Role = StudyMembership.Role
ALL_ROLES = tuple(Role.values)
READ_ALL = (Role.COORDINATOR, Role.RESEARCHER)  # roles that see every row of their study


class NotFound(Http404):
    """No such object, or the user is not a member of its study.

    An ``Http404``, so that pages and API views answer 404 with its message without
    translating it: Django turns it into its 404 page, DRF's exception handler into
    ``{"detail": message}``. It also covers a study deleted by a concurrent request.
    """


class Forbidden(PermissionDenied):
    """The user is a member, but their role does not allow this.

    A ``PermissionDenied``, answered 403 by Django and DRF alike (as :class:`NotFound` is 404).
    """


def user_get_by_username(*, username: str):
    """The user named ``username`` (to add as a member, to assign); ValidationError otherwise."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"detail": f"no user {username!r}"})
    return user


def user_get_by_username_or_email(*, identifier: str):
    """The user whose username (exactly) or e-mail address (any case) is ``identifier``.

    ValidationError when none matches, or when an address belongs to several accounts (the
    coordinator then gives the username).
    """
    identifier = identifier.strip()
    if not identifier:
        raise ValidationError("give a username or an e-mail address")
    users = get_user_model().objects
    user = users.filter(username=identifier).first()
    if user is not None:
        return user
    if "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValidationError(f"several accounts use {identifier}; give the username instead")
    raise ValidationError(f"no account with the username or e-mail address {identifier!r}; "
                          "invite them with a link instead")


def role_of(*, user, study: Study | int) -> str | None:
    """The user's role in ``study``, or None for a non-member (or an anonymous user)."""
    if not getattr(user, "is_authenticated", False):
        return None
    study_id = study.pk if isinstance(study, Study) else study
    return (
        StudyMembership.objects.filter(study_id=study_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def studies_for_user(*, user) -> QuerySet[Study]:
    """Studies the user is a member of, each annotated with ``my_role``."""
    mine = StudyMembership.objects.filter(user=user, study=OuterRef("pk")).values("role")[:1]
    return (
        Study.objects.filter(memberships__user=user)
        .annotate(my_role=Subquery(mine), n_sequences=Count("sequences", distinct=True))
        .order_by("-created_at", "-id")
    )


def study_get_for_user(*, user, study_id: int, roles=ALL_ROLES) -> tuple[Study, str]:
    """The study and the user's role in it; NotFound / Forbidden as described above."""
    study = Study.objects.filter(pk=study_id).first()
    role = role_of(user=user, study=study_id) if study else None
    if study is None or role is None:
        raise NotFound(f"no study {study_id}")
    if role not in roles:
        raise Forbidden(f"your role in this study ({role}) does not allow this")
    return study, role


def sequences_for_user(*, user, study: Study, role: str) -> QuerySet[Sequence]:
    """All sequences for coordinators and researchers; observers see their assignments only."""
    qs = Sequence.objects.filter(study=study)
    if role == Role.OBSERVER:
        qs = qs.filter(assignments__observer=user)
    return qs.order_by("id")


def sequence_of_study(*, study: Study, sequence_id: int) -> Sequence | None:
    """Sequence ``sequence_id`` of ``study`` (whose access the caller has checked), or None."""
    return Sequence.objects.filter(study=study, pk=sequence_id).first()


def sequences_of_study(*, study: Study, sequence_id: int | None = None) -> QuerySet[Sequence]:
    """Every sequence of ``study``, or just ``sequence_id`` (ValidationError on the ``sequence``
    field when the study has none of that id). The caller has checked access to the study."""
    sequences = Sequence.objects.filter(study=study)
    if sequence_id is not None:
        sequences = sequences.filter(pk=sequence_id)
        if not sequences.exists():
            raise ValidationError({"sequence": f"no sequence {sequence_id} in this study"})
    return sequences


def sequence_get_for_user(
    *, user, study_id: int, sequence_id: int, roles=ALL_ROLES
) -> tuple[Sequence, str]:
    """A sequence of the study the user may see (observers: assigned ones), and the role."""
    study, role = study_get_for_user(user=user, study_id=study_id, roles=ALL_ROLES)
    sequence = sequences_for_user(user=user, study=study, role=role).filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound(f"no sequence {sequence_id} in study {study_id}")
    if role not in roles:
        raise Forbidden(f"your role in this study ({role}) does not allow this")
    return sequence, role


def members_for_user(*, user, study: Study, role: str) -> QuerySet[StudyMembership]:
    """Every membership for coordinators and researchers; an observer sees their own."""
    qs = StudyMembership.objects.filter(study=study).select_related("user")
    if role == Role.OBSERVER:
        qs = qs.filter(user=user)
    return qs.order_by("id")


def members_by_role(*, study: Study) -> dict[str, list[str]]:
    """Usernames per role: ``{"coordinator": [...], "observer": [...], "researcher": [...]}``."""
    out: dict[str, list[str]] = {r: [] for r in ALL_ROLES}
    rows = StudyMembership.objects.filter(study=study).order_by("user__username")
    for role, username in rows.values_list("role", "user__username"):
        out[role].append(username)
    return out


def member_events_for_study(*, study: Study) -> QuerySet[MemberEvent]:
    """The study's members audit trail, newest first (coordinators only: the caller checks)."""
    return MemberEvent.objects.filter(study=study).order_by("-created_at", "-id")


def invitations_for_study(*, study: Study) -> QuerySet[Invitation]:
    return Invitation.objects.filter(study=study).order_by("-created_at", "-id")


def invitation_of_study(*, study: Study, invitation_id: int) -> Invitation:
    """Invitation ``invitation_id`` of ``study`` (whose access the caller has checked); NotFound."""
    invitation = Invitation.objects.filter(study=study, pk=invitation_id).first()
    if invitation is None:
        raise NotFound(f"no invitation {invitation_id} in study {study.pk}")
    return invitation


def invitation_get_by_token(*, token: str) -> Invitation:
    """The invitation of a link, for anyone holding it (the token is the secret): the page
    shows which study a link is for before anyone accepts it. NotFound for an unknown token."""
    invitation = Invitation.objects.select_related("study").filter(token=token).first()
    if invitation is None:
        raise NotFound("unknown invitation link")
    return invitation


def membership_of_study(*, study: Study, member_id: int) -> StudyMembership:
    """Membership ``member_id`` of ``study`` (whose access the caller has checked); NotFound."""
    membership = study.memberships.select_related("user", "study").filter(pk=member_id).first()
    if membership is None:
        raise NotFound(f"no member {member_id} in study {study.pk}")
    return membership


def assignment_of_study(*, study: Study, assignment_id: int) -> Assignment:
    """Assignment ``assignment_id`` of ``study`` (whose access the caller has checked); NotFound."""
    assignment = (Assignment.objects.filter(sequence__study=study, pk=assignment_id)
                  .select_related("observer", "sequence").first())
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id} in study {study.pk}")
    return assignment


def assignments_for_user(*, user, study: Study, role: str) -> QuerySet[Assignment]:
    qs = Assignment.objects.filter(sequence__study=study).select_related("observer", "sequence")
    if role == Role.OBSERVER:
        qs = qs.filter(observer=user)
    return qs.order_by("id")


def assignment_matrix_for_user(*, user, study: Study, role: str) -> dict:
    """Who records what, as the members page shows it.

    ``{"members": [membership...], "sequences": [sequence...], "matrix": [(observer,
    [(sequence, assigned)...])...]}``, one matrix row per observer the user may see.
    """
    members = list(members_for_user(user=user, study=study, role=role))
    sequences = list(sequences_for_user(user=user, study=study, role=role))
    assigned = {(a.observer_id, a.sequence_id)
                for a in assignments_for_user(user=user, study=study, role=role)}
    observers = [m.user for m in members if m.role == Role.OBSERVER]
    matrix = [(observer, [(sequence, (observer.pk, sequence.pk) in assigned) for sequence in sequences])
              for observer in observers]
    return {"members": members, "sequences": sequences, "matrix": matrix}


def sequence_frames(sequence: Sequence, *, mmap: bool = True) -> np.ndarray:
    """The frames array (T, H, W) or (T, H, W, 3), as the engine read it.

    Memory-mapped (read-only) when the storage is a local folder, else read into memory.
    """
    return storage.load_npy(sequence.frames_file.name, mmap=mmap)


def sequence_value_range(sequence: Sequence) -> tuple[float, float]:
    """(lowest, highest) value of the whole sequence, read once per process and file.

    Every frame PNG of a volume is scaled by the whole volume's range: reading the whole
    volume (up to the pixel budget, a gigabyte) for each of its frames would make playing it
    cost the volume times its frame count. A sequence's frames file never changes.
    """
    return _value_range(sequence.frames_file.name)


@functools.lru_cache(maxsize=64)
def _value_range(name: str) -> tuple[float, float]:
    frames = storage.load_npy(name, mmap=True)
    return float(np.nanmin(frames)), float(np.nanmax(frames))


def sequence_masks(sequence: Sequence) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference masks ``(frames (K,) int64, masks (K, H, W) bool)``, or None when none.

    ``frames`` are sorted frame indices; ``masks[i]`` is the mask of frame ``frames[i]``.
    """
    if not sequence.masks_file:
        return None
    masks = storage.load_npy(sequence.masks_file.name, mmap=False).astype(bool)
    return np.asarray(sequence.mask_frames, dtype=np.int64), masks
