"""Reads of the annotation app: recordings the user may see and their gaze as the engine wants it.

For the segmentation app (and any job): :func:`recording_gaze` gives the canonical gaze table,
:func:`recording_image_px_per_degree` the image pixels per degree of visual angle, and
:func:`crowd.selectors.sequence_frames` the frames.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from crowd.models import Sequence, Study, StudyMembership
from crowd.selectors import (
    ALL_ROLES,
    Forbidden,
    NotFound,
    assignments_for_user,
    members_by_role,
    role_of,
    studies_for_user,
)

from . import samples as packed
from .models import GazeBatch, ImageLabel, ImageVisit, Recording
from .services import display_geometry, recording_batch_gaps

Role = StudyMembership.Role


def recordings_for_user(*, user, sequence: Sequence, role: str) -> QuerySet[Recording]:
    """Recordings of a sequence: all for coordinators and researchers, own ones for observers."""
    qs = Recording.objects.filter(sequence=sequence).select_related("observer")
    if role == Role.OBSERVER:
        qs = qs.filter(observer=user)
    return qs.annotate(
        n_batches=Count("batches"), n_samples=Coalesce(Sum("batches__n_samples"), 0)
    ).order_by("id")


def recording_with_counts(*, recording: Recording) -> Recording:
    """``recording`` again, annotated with ``n_batches`` and ``n_samples`` as the lists are."""
    return recordings_for_user(user=recording.observer, sequence=recording.sequence,
                               role=Role.COORDINATOR).get(pk=recording.pk)


def recording_get_for_user(*, user, recording_id: int, roles=ALL_ROLES) -> tuple[Recording, str]:
    """A recording the user may see, and their role in its study.

    Observers see their own recordings only; a non-member gets :class:`NotFound`.
    """
    recording = (
        Recording.objects.select_related("sequence", "sequence__study", "observer")
        .filter(pk=recording_id)
        .first()
    )
    role = role_of(user=user, study=recording.sequence.study_id) if recording else None
    if recording is None or role is None or (role == Role.OBSERVER and recording.observer_id != user.pk):
        raise NotFound(f"no recording {recording_id}")
    if role not in roles:
        raise Forbidden(f"your role in this study ({role}) does not allow this")
    return recording, role


def import_observer_for(*, user, sequence: Sequence, role: str, username: str | None = None,
                        file_username: str | None = None):
    """Whose recording a tracker-file import by ``user`` (with ``role`` in the study) is.

    Observers import their own (naming someone else is PermissionDenied); coordinators must
    name an observer of the study (else ValidationError on the ``observer`` field). A gaze
    CSV's ``observer`` column (``file_username``) names the observer when the request does
    not: it must be the user's own name for an observer, an observer of the study for a
    coordinator (docs/interop.md).
    """
    if not username and file_username:
        if role != Role.COORDINATOR and file_username != user.username:
            raise ValidationError({"file": f"the file's observer column says {file_username!r}, but "
                                           f"you import your own recordings (as {user.username!r}); "
                                           "leave the column out or ask the coordinator to import it"})
        if not StudyMembership.objects.filter(study=sequence.study, user__username=file_username,
                                              role=Role.OBSERVER).exists():
            raise ValidationError({"file": f"the file's observer column says {file_username!r}, who is "
                                           "not an observer of this study (add them first, or name "
                                           "the observer in the observer field)"})
        username = file_username
    if username and username != user.username:
        if role != Role.COORDINATOR:
            raise PermissionDenied("observers import their own recordings only")
        membership = StudyMembership.objects.filter(
            study=sequence.study, user__username=username, role=Role.OBSERVER
        ).select_related("user").first()
        if membership is None:
            raise ValidationError({"observer": f"{username} is not an observer of this study"})
        return membership.user
    if role == Role.COORDINATOR:
        raise ValidationError({"observer": "name the observer whose recording this is"})
    return user


_N_FRAMES: dict[tuple[int, int], int] = {}  # (recording, observer) -> frames; never changes


def recording_frames_for_observer(*, user, recording_id: int) -> int:
    """The number of frames of the recording's sequence, if ``user`` is its observer.

    The hot path of live ingestion: a recording's sequence and observer never change, so the
    answer is remembered per process and the batch INSERT checks the rest (open, owner) itself.
    Raises NotFound for anyone else's recording.
    """
    key = (recording_id, user.pk)
    if key not in _N_FRAMES:
        n = (
            Recording.objects.filter(pk=recording_id, observer_id=user.pk)
            .values_list("sequence__n_frames", flat=True)
            .first()
        )
        if n is None:
            raise NotFound(f"no recording {recording_id} of yours")
        if len(_N_FRAMES) > 100_000:
            _N_FRAMES.clear()
        _N_FRAMES[key] = n
    return _N_FRAMES[key]


def recording_samples(recording: Recording | int) -> np.ndarray:
    """(n, 4) float64 array of t_ms, frame, x, y, sorted by t_ms (stable), lost samples included."""
    rid = recording.pk if isinstance(recording, Recording) else recording
    chunks = [
        packed.unpack(data)
        for data in GazeBatch.objects.filter(recording_id=rid).order_by("number").values_list("samples", flat=True)
    ]
    if not chunks:
        return np.empty((0, 4))
    array = np.concatenate(chunks)
    return array[np.argsort(array[:, 0], kind="stable")]


def recording_gaze(recording: Recording) -> pd.DataFrame:
    """The canonical gaze table (observer, t_ms, frame, x, y) of a recording, for the engine.

    ``observer`` is the observer's username; rows sorted by ``t_ms``; NaN x, y = lost sample.
    """
    return packed.to_frame(recording_samples(recording), recording.observer.username)


def recording_gaze_frame(*, recording: Recording) -> pd.DataFrame:
    """Keyword form of :func:`recording_gaze` (the segmentation app calls this one)."""
    return recording_gaze(recording)


def recording_image_px_per_degree(recording: Recording) -> float | None:
    """Image pixels per degree of visual angle, or None when the display geometry is unknown."""
    geometry = display_geometry({f: getattr(recording, f) for f in (
        "screen_width_px", "screen_height_px", "screen_width_cm", "screen_height_cm",
        "viewing_distance_cm", "image_rect",
    )})
    if geometry is None or geometry.screen_cm is None or geometry.distance_cm is None:
        return None
    return geometry.image_px_per_degree((recording.sequence.height, recording.sequence.width))


def recording_accuracy_deg(recording: Recording) -> float | None:
    """The recording's measured gaze error in degrees of visual angle, or None when unmeasured.

    The worse of the validation after calibration (``validation_error_deg``) and the drift check
    of a reused calibration (``drift_error_deg``); recordings from before those fields, and
    tracker files, give ``calibration_error_deg``. For pooling and quality weights (issue 20).
    """
    measured = [v for v in (recording.validation_error_deg, recording.drift_error_deg) if v is not None]
    if measured:
        return max(measured)
    return recording.calibration_error_deg


def last_stated_display(*, observer) -> dict | None:
    """``{"screen_width_cm", "viewing_distance_cm"}`` of the observer's latest recording that
    stated both, or None: the recording page offers them again."""
    return (Recording.objects.filter(observer=observer, screen_width_cm__isnull=False,
                                     viewing_distance_cm__isnull=False)
            .order_by("-started_at").values("screen_width_cm", "viewing_distance_cm").first())


def finished_recordings(*, sequence: Sequence, observer=None) -> QuerySet[Recording]:
    """Finished recordings of a sequence (what a run pools), oldest first; only ``observer``'s
    when given."""
    qs = (
        Recording.objects.filter(sequence=sequence, status=Recording.Status.FINISHED)
        .select_related("observer")
        .order_by("id")
    )
    return qs if observer is None else qs.filter(observer=observer)


def recording_counts(recording: Recording) -> dict:
    """``{"batches", "samples", "lost", "batches_missing", "batch_numbers_missing"}`` of a recording.

    Database aggregates only: counts and sums, the highest number stored, and the gaps below
    it (or below ``expected_batches`` once given); ``batch_numbers_missing`` lists the first
    :data:`annotation.services.MISSING_LISTED` missing numbers, ``batches_missing`` counts them.
    """
    totals = recording.batches.aggregate(
        batches=Count("pk"), samples=Coalesce(Sum("n_samples"), 0), lost=Coalesce(Sum("n_lost"), 0),
        highest=Max("number"),
    )
    top = totals["highest"] + 1 if totals["highest"] is not None else 0
    top = max(top, recording.expected_batches or 0)
    n_missing, missing = recording_batch_gaps(recording, top)
    return {
        "batches": totals["batches"],
        "samples": int(totals["samples"]),
        "lost": int(totals["lost"]),
        "batches_missing": n_missing,
        "batch_numbers_missing": missing,
    }


def study_sequence_counts(*, study: Study) -> QuerySet[Sequence]:
    """Sequences of a study with ``n_recordings`` and ``n_samples`` (every stored sample)."""
    samples = (
        GazeBatch.objects.filter(recording__sequence=OuterRef("pk"))
        .values("recording__sequence")
        .annotate(total=Sum("n_samples"))
        .values("total")
    )
    recordings = (
        Recording.objects.filter(sequence=OuterRef("pk"))
        .values("sequence")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Sequence.objects.filter(study=study)
        .annotate(n_recordings=Coalesce(Subquery(recordings), 0), n_samples=Coalesce(Subquery(samples), 0))
        .order_by("id")
    )


def study_status(*, study: Study) -> dict:
    """``{"id", "name", "sequences": [{"id", "name", "frames", "recordings", "samples"}],
    "members": {"coordinator": [...], "observer": [...], "researcher": [...]}}``.

    ``samples`` counts every stored gaze sample of the sequence's recordings, lost ones included.
    """
    return {
        "id": study.pk,
        "name": study.name,
        "sequences": [
            {
                "id": s.pk,
                "name": s.name,
                "frames": s.n_frames,
                "recordings": int(s.n_recordings),
                "samples": int(s.n_samples),
            }
            for s in study_sequence_counts(study=study)
        ],
        "members": members_by_role(study=study),
    }


# --- manual labels on image collections -------------------------------------------------------


def image_labels_for_user(*, user, sequence: Sequence, role: str) -> QuerySet[ImageLabel]:
    """Labels of an image collection: all for coordinators and researchers, own for observers."""
    qs = ImageLabel.objects.filter(sequence=sequence).select_related("observer")
    if role == Role.OBSERVER:
        qs = qs.filter(observer=user)
    return qs.order_by("id")


def image_visits_for_user(*, user, sequence: Sequence, role: str) -> QuerySet[ImageVisit]:
    """Time per image: all for coordinators and researchers, own for observers."""
    qs = ImageVisit.objects.filter(sequence=sequence).select_related("observer")
    if role == Role.OBSERVER:
        qs = qs.filter(observer=user)
    return qs.order_by("id")


def image_label_table(*, study: Study) -> pd.DataFrame:
    """One row per label of the study: ``sequence, image, frame, observer, mode, seconds``.

    The long table :func:`segmentation.engine.detection.timing.timing_report` reads.
    """
    names = {s.pk: s.image_names() for s in Sequence.objects.filter(study=study)}
    rows = ImageLabel.objects.filter(sequence__study=study).order_by("id").values_list(
        "sequence_id", "frame", "observer__username", "mode", "seconds")
    return pd.DataFrame(
        [(sid, names[sid][k], k, who, mode, sec) for sid, k, who, mode, sec in rows],
        columns=["sequence", "image", "frame", "observer", "mode", "seconds"],
    )


def image_visit_table(*, study: Study) -> pd.DataFrame:
    """One row per image visit: ``sequence, image, frame, observer, mode, seconds``."""
    names = {s.pk: s.image_names() for s in Sequence.objects.filter(study=study)}
    rows = ImageVisit.objects.filter(sequence__study=study).order_by("id").values_list(
        "sequence_id", "frame", "observer__username", "mode", "seconds")
    return pd.DataFrame(
        [(sid, names[sid][k], k, who, mode, sec) for sid, k, who, mode, sec in rows],
        columns=["sequence", "image", "frame", "observer", "mode", "seconds"],
    )


# --- for the study dashboard and the results viewer ---------------------------------------------


def assignments_with_progress(*, user) -> list[dict]:
    """Every sequence ``user`` is asked to record, over all their studies, with their progress.

    One dict per assignment: ``study``, ``sequence``, ``recordings`` (theirs), ``finished``,
    ``wanted`` (the study's repeats per observer) and ``done``.
    """
    rows = []
    for study in studies_for_user(user=user):
        if study.my_role != Role.OBSERVER:
            continue
        for assignment in assignments_for_user(user=user, study=study, role=Role.OBSERVER):
            recordings = list(recordings_for_user(user=user, sequence=assignment.sequence, role=Role.OBSERVER))
            finished = sum(r.status == Recording.Status.FINISHED for r in recordings)
            rows.append({
                "study": study, "sequence": assignment.sequence, "recordings": recordings,
                "finished": finished, "wanted": study.repeats_per_observer,
                "done": finished >= study.repeats_per_observer,
            })
    return rows


def recordings_matrix(*, study: Study) -> dict:
    """Finished/total recordings per sequence and observer, for the coordinator's dashboard.

    Returns ``{"observers": [username...], "rows": [{"sequence", "cells": [(finished, total)...],
    "finished", "total"}]}``; observers are the study's observers plus anyone who recorded.
    """
    counts: dict[tuple[int, str], list[int]] = {}
    for sequence_id, username, status in Recording.objects.filter(sequence__study=study).values_list(
        "sequence_id", "observer__username", "status"
    ):
        cell = counts.setdefault((sequence_id, username), [0, 0])
        cell[1] += 1
        cell[0] += status == Recording.Status.FINISHED
    observers = sorted(set(members_by_role(study=study)[Role.OBSERVER])
                       | {u for _, u in counts})
    rows = []
    for sequence in study_sequence_counts(study=study):
        cells = [tuple(counts.get((sequence.pk, o), (0, 0))) for o in observers]
        rows.append({"sequence": sequence, "cells": cells,
                     "finished": sum(c[0] for c in cells), "total": sum(c[1] for c in cells)})
    return {"observers": observers, "rows": rows}


def sequence_gaze_paths(*, sequence: Sequence) -> dict:
    """Per finished recording, the mean gaze point of every frame (null: none), image pixels.

    ``{"frames": T, "recordings": [{"id", "observer", "repeat", "points": [[x, y] | null]}]}``
    (what the results viewer draws).
    """
    out = []
    for recording in finished_recordings(sequence=sequence):
        out.append({"id": recording.pk, "observer": recording.observer.username,
                    "repeat": recording.repeat,
                    "points": _per_frame_points(recording_samples(recording), sequence)})
    return {"frames": sequence.n_frames, "recordings": out}


def _per_frame_points(samples: np.ndarray, sequence: Sequence) -> list:
    """Mean (x, y) of the valid samples of each frame; None for frames without one."""
    points: list = [None] * sequence.n_frames
    if len(samples) == 0:
        return points
    valid = ~np.isnan(samples[:, 2]) & ~np.isnan(samples[:, 3])
    frame = samples[valid, 1].astype(np.int64)
    inside = (frame >= 0) & (frame < sequence.n_frames)
    frame, xy = frame[inside], samples[valid][inside, 2:4]
    n = np.bincount(frame, minlength=sequence.n_frames)
    sx = np.bincount(frame, weights=xy[:, 0], minlength=sequence.n_frames)
    sy = np.bincount(frame, weights=xy[:, 1], minlength=sequence.n_frames)
    for k in np.flatnonzero(n):
        x, y = sx[k] / n[k], sy[k] / n[k]
        if math.isfinite(x) and math.isfinite(y):
            points[int(k)] = [round(float(x), 1), round(float(y), 1)]
    return points
