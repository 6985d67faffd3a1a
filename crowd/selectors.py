"""Reads of the crowd app, scoped by what the asking user may see.

Permission-checked fetches are named ``*_get_for_user`` and raise :class:`NotFound` when the
user is not a member (a non-member cannot even learn that a study exists) and
:class:`Forbidden` when the member's role does not allow the action.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404

from .models import Assignment, Invitation, Sequence, Study, StudyMembership

Role = StudyMembership.Role
ALL_ROLES = tuple(Role.values)
READ_ALL = (Role.COORDINATOR, Role.RESEARCHER)  # roles that see every row of their study


class NotFound(Http404):
    """No such object, or the user is not a member of its study.

    An ``Http404``, so that a page or an API view that meets it unexpectedly (a study deleted
    by a concurrent request) answers 404 rather than 500.
    """


class Forbidden(Exception):
    """The user is a member, but their role does not allow this."""


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


def invitations_for_study(*, study: Study) -> QuerySet[Invitation]:
    return Invitation.objects.filter(study=study).order_by("-created_at", "-id")


def assignments_for_user(*, user, study: Study, role: str) -> QuerySet[Assignment]:
    qs = Assignment.objects.filter(sequence__study=study).select_related("observer", "sequence")
    if role == Role.OBSERVER:
        qs = qs.filter(observer=user)
    return qs.order_by("id")


def sequence_frames(sequence: Sequence, *, mmap: bool = True) -> np.ndarray:
    """The frames array (T, H, W) or (T, H, W, 3), as the engine read it.

    Memory-mapped (read-only) when the storage is a local folder, else read into memory.
    """
    return _load_npy(sequence.frames_file.name, mmap=mmap)


def sequence_value_range(sequence: Sequence) -> tuple[float, float]:
    """(lowest, highest) value of the whole sequence, read once per process and file.

    Every frame PNG of a volume is scaled by the whole volume's range: reading the whole
    volume (up to the pixel budget, a gigabyte) for each of its frames would make playing it
    cost the volume times its frame count. A sequence's frames file never changes.
    """
    return _value_range(sequence.frames_file.name)


@functools.lru_cache(maxsize=64)
def _value_range(name: str) -> tuple[float, float]:
    frames = _load_npy(name, mmap=True)
    return float(np.nanmin(frames)), float(np.nanmax(frames))


def sequence_masks(sequence: Sequence) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference masks ``(frames (K,) int64, masks (K, H, W) bool)``, or None when none.

    ``frames`` are sorted frame indices; ``masks[i]`` is the mask of frame ``frames[i]``.
    """
    if not sequence.masks_file:
        return None
    masks = _load_npy(sequence.masks_file.name, mmap=False).astype(bool)
    return np.asarray(sequence.mask_frames, dtype=np.int64), masks


def _load_npy(name: str, *, mmap: bool) -> np.ndarray:
    try:
        local = default_storage.path(name)
    except NotImplementedError:  # remote storage (S3...): read the bytes
        local = None
    if local is not None:
        return np.load(local, mmap_mode="r" if mmap else None, allow_pickle=False)
    with default_storage.open(name, "rb") as fh:
        return np.load(io.BytesIO(fh.read()), allow_pickle=False)
