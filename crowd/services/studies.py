"""Studies: create, change, delete."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import storage
from ..models import (
    MAX_FRAME_RATE,
    MAX_QUORUM,
    MAX_REPEATS,
    MemberEvent,
    Study,
    StudyMembership,
    validate_name,
)
from .audit import member_event_record

__all__ = ["STUDY_EDITABLE", "study_create", "study_delete", "study_update"]

Role = StudyMembership.Role

STUDY_EDITABLE = (
    "name", "target_structure", "instructions", "frame_rate", "quorum", "repeats_per_observer",
    "status",
)


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_study_numbers(*, frame_rate, quorum, repeats_per_observer) -> None:
    if frame_rate is not None and not (
        isinstance(frame_rate, (int, float)) and not isinstance(frame_rate, bool)
        and 0 < frame_rate <= MAX_FRAME_RATE
    ):
        raise ValidationError(
            f"frame_rate must be a positive number of frames per second, at most {MAX_FRAME_RATE:g}, got {frame_rate!r}"
        )
    if quorum is not None and not _whole(quorum, 1, MAX_QUORUM):
        raise ValidationError(f"quorum must be at least 1 recording per sequence and at most {MAX_QUORUM}, got {quorum!r}")
    if repeats_per_observer is not None and not _whole(repeats_per_observer, 1, MAX_REPEATS):
        raise ValidationError(f"repeats_per_observer must be at least 1 and at most {MAX_REPEATS}, got {repeats_per_observer!r}")


def check_names(**names) -> None:
    """Validate each named display name (no control characters...), the field named in the error."""
    for field, value in names.items():
        if value is None:
            continue
        try:
            validate_name(value)
        except ValidationError as exc:
            raise ValidationError(f"{field}: {'; '.join(exc.messages)}") from exc


@transaction.atomic
def study_create(
    *,
    name: str,
    created_by=None,
    target_structure: str = "",
    instructions: str = "",
    frame_rate: float | None = None,
    quorum: int = 5,
    repeats_per_observer: int = 1,
    status: str = Study.Status.DRAFT,
    kind: str = Study.Kind.SEQUENCE,
) -> Study:
    """Create a study; its creator (when given) becomes its coordinator."""
    if not name.strip():
        raise ValidationError("a study needs a name")
    check_names(name=name, target_structure=target_structure)
    _check_study_numbers(frame_rate=frame_rate, quorum=quorum, repeats_per_observer=repeats_per_observer)
    study = Study.objects.create(
        name=name.strip(),
        created_by=created_by,
        target_structure=target_structure,
        instructions=instructions,
        frame_rate=frame_rate,
        quorum=quorum,
        repeats_per_observer=repeats_per_observer,
        status=status,
        kind=kind,
    )
    if created_by is not None:
        StudyMembership.objects.create(study=study, user=created_by, role=Role.COORDINATOR)
        member_event_record(study=study, action=MemberEvent.Action.MEMBER_ADDED, actor=created_by,
                            subject=created_by, role=Role.COORDINATOR)
    return study


@transaction.atomic
def study_update(*, study: Study, **fields) -> Study:
    """Change the fields in :data:`STUDY_EDITABLE` given as keywords."""
    unknown = set(fields) - set(STUDY_EDITABLE)
    if unknown:
        raise ValidationError(f"cannot change {', '.join(sorted(unknown))}")
    check_names(name=fields.get("name"), target_structure=fields.get("target_structure"))
    if "name" in fields and not (fields["name"] or "").strip():
        raise ValidationError("a study needs a name")
    _check_study_numbers(
        frame_rate=fields.get("frame_rate"),
        quorum=fields.get("quorum"),
        repeats_per_observer=fields.get("repeats_per_observer"),
    )
    for key, value in fields.items():
        setattr(study, key, value)
    study.save(update_fields=list(fields) or None)
    return study


def study_delete(*, study: Study) -> None:
    """Delete a study with everything in it, and its files once the deletion commits."""
    files = []
    for seq in study.sequences.all():
        files += [f.name for f in (seq.frames_file, seq.masks_file, seq.dicom_headers_file) if f]
    with transaction.atomic():
        study.delete()
        transaction.on_commit(lambda: storage.delete(files))
