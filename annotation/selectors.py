"""Reads of the annotation app: recordings the user may see and their gaze as the engine wants it.

For the segmentation app (and any job): :func:`recording_gaze` gives the canonical gaze table,
:func:`recording_image_px_per_degree` the image pixels per degree of visual angle, and
:func:`crowd.selectors.sequence_frames` the frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from crowd.models import Sequence, Study, StudyMembership
from crowd.selectors import ALL_ROLES, Forbidden, NotFound, members_by_role, role_of

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


def finished_recordings(*, sequence: Sequence) -> QuerySet[Recording]:
    """Finished recordings of a sequence (what a run pools), oldest first."""
    return (
        Recording.objects.filter(sequence=sequence, status=Recording.Status.FINISHED)
        .select_related("observer")
        .order_by("id")
    )


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
