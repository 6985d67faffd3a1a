"""Writes of the annotation app: recordings and their gaze, live or from tracker files."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, Window
from django.db.models.functions import Lead
from django.utils import timezone

from crowd import services as crowd_services
from crowd.models import MAX_FRAME_RATE, Assignment, Sequence, StudyMembership
from segmentation.engine import InputError
from segmentation.engine.trackers import (
    DisplayGeometry,
    UnknownGazeFormat,
    detect_format,
    gaze_file_observer,
    read_bids_geometry,
    read_gaze_file,
)

from . import samples as packed
from .hooks import recording_finished_hooks
from .models import (
    MAX_ABS_T_MS,
    MAX_BATCH_SAMPLES,
    MAX_BATCHES,
    MAX_CALIBRATION_ERROR_DEG,
    MAX_DISTANCE_CM,
    MAX_LABEL_SECONDS,
    MAX_RECT_PX,
    MAX_REPEAT,
    MAX_SAMPLING_RATE_HZ,
    MAX_SCREEN_CM,
    MAX_SCREEN_PX,
    MAX_VALIDATION_ERROR_DEG,
    GazeBatch,
    ImageLabel,
    ImageVisit,
    Recording,
)

# Samples per stored batch when a whole file is imported (a live client sends ~60).
FILE_BATCH_SAMPLES = MAX_BATCH_SAMPLES
# Missing batch numbers listed in a progress answer or a refused finish (all are counted).
MISSING_LISTED = 1_000
GEOMETRY_FIELDS = (
    "screen_width_px", "screen_height_px", "screen_width_cm", "screen_height_cm",
    "viewing_distance_cm", "image_rect",
)
RECORDING_FIELDS = (*GEOMETRY_FIELDS, "sampling_rate_hz", "calibration_error_deg", "validation_error_deg",
                    "drift_error_deg")


class BatchConflict(ValidationError):
    """A batch number arrived again with different samples, or after the recording closed."""


class RecordingIncomplete(ValidationError):
    """Finishing with ``expected_batches`` found batches missing.

    ``missing`` lists the first :data:`MISSING_LISTED` of them, ``n_missing`` counts them all.
    """

    def __init__(self, message, missing, n_missing):
        super().__init__(message)
        self.missing = missing
        self.n_missing = n_missing


class NotObserver(ValidationError):
    """The recording's observer is no longer an observer of its study: removed (``role`` None)
    or given another role (``role``)."""

    def __init__(self, message, role: str | None):
        super().__init__(message)
        self.role = role


@dataclass(frozen=True)
class BatchResult:
    """What storing a batch did: ``created`` False for a retry of a stored batch."""

    number: int
    created: bool
    n_samples: int


# Largest value of each number of a recording's display (the serializers and forms say the
# same; the model's constraints keep the database to it).
_GEOMETRY_MAX = {
    "screen_width_px": MAX_SCREEN_PX, "screen_height_px": MAX_SCREEN_PX,
    "screen_width_cm": MAX_SCREEN_CM, "screen_height_cm": MAX_SCREEN_CM,
    "viewing_distance_cm": MAX_DISTANCE_CM, "sampling_rate_hz": MAX_SAMPLING_RATE_HZ,
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_geometry(fields: dict, *, source: str = "") -> None:
    """Every display number finite and within its bound; ``source`` prefixes the message."""
    where = f"{source}: " if source else ""
    rect = fields.get("image_rect")
    if rect is not None and (
        not isinstance(rect, (list, tuple)) or len(rect) != 4 or not all(_number(v) for v in rect)
        or not all(abs(v) <= MAX_RECT_PX for v in rect) or not rect[2] > 0 or not rect[3] > 0
    ):
        raise ValidationError(
            f"{where}image_rect must be [left, top, width, height] with positive size, each at most "
            f"{MAX_RECT_PX:g} pixels, got {rect!r}"
        )
    for name, high in _GEOMETRY_MAX.items():
        value = fields.get(name)
        if value is not None and not (_number(value) and 0 < value <= high):
            raise ValidationError(f"{where}{name} must be a number in (0, {high:g}], got {value!r}")
    for name, high in (("calibration_error_deg", MAX_CALIBRATION_ERROR_DEG),
                       ("validation_error_deg", MAX_VALIDATION_ERROR_DEG), ("drift_error_deg", MAX_VALIDATION_ERROR_DEG)):
        err = fields.get(name)
        if err is not None and not (_number(err) and 0 <= err <= high):
            raise ValidationError(f"{where}{name} must be a number in [0, {high:g}], got {err!r}")


def _check_start(*, observer, sequence: Sequence, source: str, repeat, playback_fps, fields: dict) -> None:
    """What :func:`recording_start` refuses, in the order it says so."""
    unknown = set(fields) - set(RECORDING_FIELDS)
    if unknown:
        raise ValidationError(f"unknown recording field(s) {', '.join(sorted(unknown))}")
    if source not in Recording.Source.values:
        raise ValidationError(f"source must be one of {', '.join(Recording.Source.values)}")
    _check_geometry(fields)
    if not Assignment.objects.filter(sequence=sequence, observer=observer).exists():
        raise ValidationError(f"{observer} is not assigned to sequence {sequence.name!r}")
    if playback_fps is not None and not (_number(playback_fps) and 0 < playback_fps <= MAX_FRAME_RATE):
        raise ValidationError(f"playback_fps must be a number in (0, {MAX_FRAME_RATE:g}], got {playback_fps!r}")
    if repeat is not None and not (isinstance(repeat, int) and 1 <= repeat <= MAX_REPEAT):
        raise ValidationError(f"repeat must be a whole number in 1..{MAX_REPEAT}, got {repeat!r}")


def _check_repeats_left(*, observer, sequence: Sequence) -> None:
    """Refuse a recording beyond the study's "repeats per observer".

    Finished and open recordings count, aborted ones do not (an aborted viewing is retried).
    The assignment row is locked so that two starts racing cannot both take the last repeat.
    """
    Assignment.objects.select_for_update().filter(sequence=sequence, observer=observer).first()
    wanted = sequence.study.repeats_per_observer
    made = (Recording.objects.filter(sequence=sequence, observer=observer)
            .exclude(status=Recording.Status.ABORTED).count())
    if made >= wanted:
        times = {1: "once", 2: "twice"}.get(wanted, f"{wanted} times")
        raise ValidationError(
            f"{observer} has already recorded {sequence.name!r} {times}, as many times as the study "
            f"asks (repeats per observer: {wanted}); a coordinator can raise it in the study's "
            "settings (aborted recordings do not count)"
        )


def recording_start(
    *,
    observer,
    sequence: Sequence,
    source: str = Recording.Source.EYE_TRACKER,
    repeat: int | None = None,
    playback_fps: float | None = None,
    **fields,
) -> tuple[Recording, bool]:
    """Open a recording of ``sequence`` by ``observer`` (who must be assigned to it).

    ``repeat`` None takes the next repeat number. Given, it makes the call idempotent: a retried
    start returns the open recording with that number (``created`` False). ``fields`` are any of
    :data:`RECORDING_FIELDS`. A new recording beyond the study's ``repeats_per_observer``
    (finished and open ones count) raises ValidationError. Returns ``(recording, created)``.
    """
    _check_start(observer=observer, sequence=sequence, source=source, repeat=repeat,
                 playback_fps=playback_fps, fields=fields)
    if repeat is not None:
        existing = Recording.objects.filter(sequence=sequence, observer=observer, repeat=repeat).first()
        if existing is not None:
            if existing.status != Recording.Status.RECORDING:
                raise ValidationError(f"repeat {repeat} of this sequence is already {existing.status}")
            return existing, False
    for _attempt in range(3):  # two clients racing for the next repeat number
        number = repeat or 1 + (
            Recording.objects.filter(sequence=sequence, observer=observer).aggregate(m=Max("repeat"))["m"] or 0
        )
        if number > MAX_REPEAT:
            raise ValidationError(
                f"{observer} already has {MAX_REPEAT} recordings of {sequence.name!r}, the most one "
                "observer may make of one sequence"
            )
        try:
            with transaction.atomic():
                _check_repeats_left(observer=observer, sequence=sequence)
                recording = Recording.objects.create(
                    observer=observer,
                    sequence=sequence,
                    source=source,
                    repeat=number,
                    playback_fps=playback_fps or sequence.playback_fps(),
                    **fields,
                )
            return recording, True
        except IntegrityError:
            if repeat is not None:
                return Recording.objects.get(sequence=sequence, observer=observer, repeat=repeat), False
    raise ValidationError("could not allocate a repeat number; retry")


def gaze_batch_store(
    *, recording_id: int, number: int, samples: np.ndarray, observer_id: int | None = None
) -> BatchResult:
    """Store one client batch exactly once.

    One statement on the normal path: the row is inserted only if the recording is open, its
    observer is an observer of its study at this moment (a removed member or a changed role
    takes effect on the next batch), given ``observer_id`` the recording is that observer's,
    and its number is new. Then: a number seen before with the same samples is a retry,
    acknowledged without writing (``created`` False); the same number with other samples, or a
    new batch for a recording that is not open, raises :class:`BatchConflict`; an observer no
    longer observing raises :class:`NotObserver`. Batches may arrive in any order.

    Parameters
    ----------
    number : 0 .. :data:`~annotation.models.MAX_BATCHES` - 1.
    samples : (n, 4) float ndarray of t_ms, frame, x, y (validated by
        :func:`annotation.samples.validate`), n <= :data:`~annotation.models.MAX_BATCH_SAMPLES`.
    """
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < MAX_BATCHES:
        raise ValidationError(f"batch numbers are whole numbers 0..{MAX_BATCHES - 1}, got {number!r}")
    if not 1 <= len(samples) <= MAX_BATCH_SAMPLES:
        raise ValidationError(f"a batch holds 1 to {MAX_BATCH_SAMPLES} samples, got {len(samples)}")
    try:
        packed.check_bounds(samples)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    data, digest = packed.pack(samples)
    lost = np.isnan(samples[:, 2]) | np.isnan(samples[:, 3])
    row = (
        recording_id, number, len(samples), int(lost.sum()), float(samples[:, 0].min()),
        float(samples[:, 0].max()), digest, data,
    )
    if _insert_batch(row, observer_id=observer_id):
        return BatchResult(number, True, len(samples))
    recording = Recording.objects.filter(pk=recording_id).select_related("sequence").first()
    if recording is not None:
        role = StudyMembership.objects.filter(
            study_id=recording.sequence.study_id, user_id=recording.observer_id
        ).values_list("role", flat=True).first()
        if role != StudyMembership.Role.OBSERVER:
            raise NotObserver(
                f"recording {recording_id}: its observer is no longer an observer of the study"
                + (f" (now {role})" if role else ""),
                role,
            )
    stored = GazeBatch.objects.filter(recording_id=recording_id, number=number).values_list("digest", flat=True).first()
    if stored == digest:
        return BatchResult(number, False, len(samples))
    if stored is not None:
        raise BatchConflict(f"batch {number} was already stored with different samples")
    raise BatchConflict(f"the recording is {recording.status if recording else 'gone'}; it accepts no new batches")


def _insert_batch(row: tuple, *, observer_id: int | None) -> bool:
    """INSERT ... SELECT ... WHERE the recording is open and observed ... ON CONFLICT DO NOTHING.

    The hot path of live ingestion: one statement in autocommit, no transaction round trips,
    no read before the write (PostgreSQL and SQLite 3.35+ both run it). The recording's
    observer must hold the observer role in the recording's study now (the membership is
    joined by its unique (study, user) index). Returns False when nothing was inserted: the
    number exists, or the recording is not open, not the observer's, or its observer no longer
    observes the study.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    owner = " AND r.observer_id = %s" if observer_id is not None else ""
    sql = (
        f"INSERT INTO {GazeBatch._meta.db_table} (recording_id, number, n_samples, n_lost, "
        "t_first_ms, t_last_ms, digest, samples, received_at) "
        "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s "
        f"WHERE EXISTS (SELECT 1 FROM {Recording._meta.db_table} r "
        f"JOIN {Sequence._meta.db_table} s ON s.id = r.sequence_id "
        f"JOIN {StudyMembership._meta.db_table} m ON m.study_id = s.study_id AND m.user_id = r.observer_id "
        f"WHERE r.id = %s AND r.status = %s AND m.role = %s{owner}) "
        "ON CONFLICT (recording_id, number) DO NOTHING RETURNING id"
    )
    params = [*row, now, row[0], Recording.Status.RECORDING, StudyMembership.Role.OBSERVER]
    if observer_id is not None:
        params.append(observer_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def recording_batch_gaps(recording: Recording | int, top: int, *, listed: int = MISSING_LISTED) -> tuple[int, list[int]]:
    """How many of the batch numbers ``0 .. top - 1`` are missing, and the first ``listed`` of them.

    Computed by the database: a count, and the gaps between consecutive stored numbers (a
    window function), fetched until ``listed`` numbers are known. Neither the range nor the
    stored numbers are ever materialised, so a far-off number costs nothing.
    """
    rid = recording.pk if isinstance(recording, Recording) else recording
    below = GazeBatch.objects.filter(recording_id=rid, number__lt=top)
    n_missing = max(0, top - below.count())
    if n_missing == 0 or listed <= 0:
        return n_missing, []
    first = below.order_by("number").values_list("number", flat=True).first()
    gaps = [(-1, first if first is not None else top)]  # (stored number, next stored) pairs
    if first is not None:
        after = (
            below.annotate(after=Window(Lead("number"), order_by=F("number").asc()))
            .filter(Q(after__isnull=True) | Q(after__gt=F("number") + 1))
            .order_by("number")
            .values_list("number", "after")
        )
        gaps += [(n, top if after is None else after) for n, after in after[:listed]]
    out: list[int] = []
    for stored, following in gaps:
        out.extend(range(stored + 1, min(following, stored + 1 + listed - len(out))))
        if len(out) >= listed:
            break
    return n_missing, out


@transaction.atomic
def recording_finish(*, recording: Recording, expected_batches: int | None = None) -> Recording:
    """Close a recording; registered hooks (:mod:`annotation.hooks`) run after the commit.

    With ``expected_batches`` (how many batches the client sent, numbered from 0) every one
    must be stored, or :class:`RecordingIncomplete` lists the missing numbers and the recording
    stays open so the client can resend them. Finishing a finished recording is a no-op.
    """
    recording = Recording.objects.select_for_update().get(pk=recording.pk)
    if recording.status == Recording.Status.FINISHED:
        return recording
    if recording.status != Recording.Status.RECORDING:
        raise ValidationError(f"the recording is {recording.status}; it cannot be finished")
    if expected_batches is not None:
        if isinstance(expected_batches, bool) or not isinstance(expected_batches, int) or not (
            1 <= expected_batches <= MAX_BATCHES
        ):
            raise ValidationError(f"expected_batches must be a whole number in 1..{MAX_BATCHES}, got {expected_batches!r}")
        n_missing, missing = recording_batch_gaps(recording, expected_batches)
        if n_missing:
            raise RecordingIncomplete(
                f"{n_missing} batch(es) missing: {missing[:50]}{' ...' if n_missing > 50 else ''}; "
                "send them, then finish again",
                missing, n_missing,
            )
        extra = list(
            recording.batches.filter(number__gte=expected_batches).order_by("number")
            .values_list("number", flat=True)[:50]
        )
        if extra:
            raise ValidationError(f"batches {extra} exceed expected_batches={expected_batches}")
    if not recording.batches.exists():
        raise ValidationError("the recording has no gaze samples")
    recording.status = Recording.Status.FINISHED
    recording.finished_at = timezone.now()
    recording.expected_batches = expected_batches
    recording.save(update_fields=["status", "finished_at", "expected_batches"])
    for hook in recording_finished_hooks():
        transaction.on_commit(partial(hook, recording.pk))
    return recording


def recording_abort(*, recording: Recording) -> Recording:
    """Mark an open recording aborted (kept, never estimated)."""
    if recording.status != Recording.Status.RECORDING:
        raise ValidationError(f"the recording is {recording.status}")
    recording.status = Recording.Status.ABORTED
    recording.finished_at = timezone.now()
    recording.save(update_fields=["status", "finished_at"])
    return recording


def display_geometry(fields: dict) -> DisplayGeometry | None:
    """The engine's geometry from recording fields, or None without the screen size."""
    if not (fields.get("screen_width_px") and fields.get("screen_height_px")):
        return None
    cm = (fields.get("screen_width_cm"), fields.get("screen_height_cm"))
    return DisplayGeometry(
        screen_px=(fields["screen_width_px"], fields["screen_height_px"]),
        screen_cm=cm if all(cm) else None,
        distance_cm=fields.get("viewing_distance_cm"),
        image_rect=tuple(fields["image_rect"]) if fields.get("image_rect") else None,
    )


def _with_bids_display(path: Path, fmt: str | None, fields: dict) -> dict:
    """``fields`` completed with the display a BIDS recording's sidecars state (screen pixels,
    size, distance, image rectangle); given fields win. Other formats: ``fields`` unchanged.

    A sidecar the reader cannot use is left for the reader to refuse, naming the file.
    """
    try:
        if (fmt or detect_format(path)) != "bids":
            return fields
        geometry = read_bids_geometry(path)
    except InputError:
        return fields
    if geometry is None:
        return fields
    stated = {"screen_width_px": max(1, round(geometry.screen_px[0])),
              "screen_height_px": max(1, round(geometry.screen_px[1]))}
    if geometry.screen_cm is not None:
        stated["screen_width_cm"], stated["screen_height_cm"] = geometry.screen_cm
    if geometry.distance_cm is not None:
        stated["viewing_distance_cm"] = geometry.distance_cm
    if geometry.image_rect is not None:
        stated["image_rect"] = list(geometry.image_rect)
    if fields.get("screen_width_px") or fields.get("screen_height_px"):  # a display was given
        return fields
    return {**stated, **fields}


def recording_import_file(
    *,
    sequence: Sequence,
    observer,
    path,
    fmt: str | None = None,
    source_name: str | None = None,
    playback_start_ms: float | None = None,
    playback_fps: float | None = None,
    ensure_member: bool = False,
    **fields,
) -> Recording:
    """Import one tracker file as one finished recording (hooks fire after the commit).

    ``fmt`` is csv, tobii, eyelink, pupil, eyetribe or bids (None: from the name and header).
    Tracker files are mapped to image pixels with the display geometry in ``fields`` (screen
    size in pixels is required unless the file states it) and aligned to playback (the file's
    sync marker, else ``playback_start_ms``, else the first sample). With ``ensure_member``
    the observer is made an observer of the study and assigned to the sequence when missing.
    A bad file raises ValidationError naming the problem; nothing is stored then.
    """
    path = Path(path)
    source_name = source_name or path.name
    crowd_services.check_upload_size(path.stat().st_size, source_name, setting="GAZECROWD_MAX_GAZE_UPLOAD_MB")
    fields = _with_bids_display(path, fmt, fields)
    _check_geometry(fields)
    if playback_start_ms is not None and not (_number(playback_start_ms) and abs(playback_start_ms) <= MAX_ABS_T_MS):
        raise ValidationError(f"playback_start_ms must be a number within ±{MAX_ABS_T_MS:g}, got {playback_start_ms!r}")
    if playback_fps is not None and not (_number(playback_fps) and 0 < playback_fps <= MAX_FRAME_RATE):
        raise ValidationError(f"playback_fps must be a number in (0, {MAX_FRAME_RATE:g}], got {playback_fps!r}")
    fps = playback_fps or sequence.playback_fps()
    geometry = display_geometry(fields)
    try:
        gaze, raw = read_gaze_file(
            path,
            fmt,
            observer=observer.username,
            image_hw=(sequence.height, sequence.width),
            fps=fps,
            n_frames=sequence.n_frames,
            geometry=geometry,
            playback_start_ms=playback_start_ms,
        )
    except (InputError, UnicodeDecodeError) as exc:
        raise ValidationError(import_error_text(exc, path=path, source_name=source_name)) from exc
    if len(gaze) == 0:
        raise ValidationError(f"{source_name}: no gaze samples")
    if raw is not None:
        _take_stated_fields(raw, fields, source_name=source_name, geometry_given=geometry is not None)
    array = packed.from_frame(gaze)
    try:
        packed.check_bounds(array)
    except ValueError as exc:
        raise ValidationError(f"{source_name}: {exc}") from exc
    if len(array) > MAX_BATCHES * FILE_BATCH_SAMPLES:
        raise ValidationError(f"{source_name}: {len(array)} samples; one recording holds at most "
                              f"{MAX_BATCHES * FILE_BATCH_SAMPLES}")
    with transaction.atomic():
        if ensure_member:
            crowd_services.membership_ensure(
                study=sequence.study, user=observer, role=StudyMembership.Role.OBSERVER
            )
            crowd_services.assignment_create(sequence=sequence, observer=observer)
        recording, _ = recording_start(
            observer=observer, sequence=sequence, playback_fps=fps, **fields
        )
        recording.tracker_format = fmt or tracker_format_detect(path)
        recording.source_file = source_name[:255]
        recording.save(update_fields=["tracker_format", "source_file"])
        for number, start in enumerate(range(0, len(array), FILE_BATCH_SAMPLES)):
            gaze_batch_store(recording_id=recording.pk, number=number, samples=array[start : start + FILE_BATCH_SAMPLES])
        return recording_finish(recording=recording)


def _take_stated_fields(raw, fields: dict, *, source_name: str, geometry_given: bool) -> None:
    """Fill ``fields`` with what the tracker file states (screen size, sampling rate) where the
    caller gave nothing."""
    stated = {}
    if not geometry_given and raw.screen_px:
        stated["screen_width_px"], stated["screen_height_px"] = raw.screen_px
    if raw.sampling_rate_hz and not fields.get("sampling_rate_hz"):
        stated["sampling_rate_hz"] = raw.sampling_rate_hz
    # The readers bound these where they read them (naming the line); checked again here,
    # since they go into the recording's row.
    _check_geometry(stated, source=f"{source_name} states")
    for key, value in stated.items():
        fields.setdefault(key, max(1, round(value)) if key.endswith("_px") else float(value))


#: The gaze formats as the upload form and the docs name them (the engine's keys are the
#: command line's and the API's values).
FORMAT_NAMES = {
    "csv": "GazeCrowd CSV (observer,t_ms,frame,x,y)",
    "tobii": "Tobii Pro Lab TSV",
    "eyelink": "EyeLink ASC",
    "pupil": "Pupil Labs surface CSV",
    "eyetribe": "The Eye Tribe JSON",
    "bids": "BIDS eye tracking (a zip of the _physio.tsv.gz and its .json)",
}


def import_error_text(exc: Exception, *, path, source_name: str) -> str:
    """An engine error about an imported file, as the web pages and the API say it.

    The file is named once, by the name the user gave it (the engine names the server's copy,
    sometimes with its folder, and some messages already start with it); an unknown format
    says how to choose one, not which command-line flag to pass.
    """
    path = Path(path)
    if isinstance(exc, UnknownGazeFormat):
        known = "; ".join(f"{key}: {FORMAT_NAMES.get(key, key)}" for key in exc.formats)
        return (f"{source_name}: the gaze format cannot be told from the file name; choose the "
                f"format of the file ({known})")
    message = crowd_services.scrub_paths(str(exc).replace(str(path), path.name))
    # Readers start with "name: " or "name, line 3: "; the caller may have added one too.
    prefixes = [f"{name}{sep}" for name in dict.fromkeys((source_name, path.name)) for sep in (": ", ", ")]
    while (found := next((p for p in prefixes if message.startswith(p)), None)) is not None:
        message = message[len(found):]
    return f"{source_name}: {message}"


def tracker_format_detect(path, *, source_name: str | None = None) -> str:
    """The tracker format of the file at ``path`` from its name and header; ValidationError
    when no reader recognises it."""
    try:
        return detect_format(Path(path))
    except InputError as exc:
        raise ValidationError(import_error_text(exc, path=path, source_name=source_name or Path(path).name)) from exc


def tracker_file_observer(path, *, fmt: str | None = None, source_name: str | None = None) -> str | None:
    """The observer a gaze file names (a CSV's ``observer`` column), or None; ValidationError
    when the file is unreadable or names several."""
    name = source_name or Path(path).name
    # Budgeted before the file is read, as recording_import_file does.
    crowd_services.check_upload_size(Path(path).stat().st_size, name, setting="GAZECROWD_MAX_GAZE_UPLOAD_MB")
    try:
        return gaze_file_observer(Path(path), fmt)
    except (InputError, UnicodeDecodeError) as exc:
        raise ValidationError(import_error_text(exc, path=path, source_name=source_name or Path(path).name)) from exc


# --- manual labels on image collections (docs/image_labelling.md) -----------------------------

# MAX_LABEL_SECONDS (annotation.models): the longest time one label or one image visit may
# take; longer is taken for a unit error (milliseconds sent as seconds) or a client left open,
# and refused.
MAX_OUTLINE_VERTICES = 10_000


def _check_labelling(*, observer, sequence: Sequence, frame, mode: str, seconds) -> None:
    from crowd.models import Study

    if sequence.study.kind != Study.Kind.IMAGES:
        raise ValidationError(
            f"labels are drawn on image collections; study {sequence.study.name!r} is of kind "
            f"{sequence.study.kind!r}"
        )
    if mode not in ImageLabel.Mode.values:
        raise ValidationError(f"mode must be one of {', '.join(ImageLabel.Mode.values)}, got {mode!r}")
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < sequence.n_frames:
        raise ValidationError(
            f"frame {frame!r} does not exist; {sequence.name!r} has images 0..{sequence.n_frames - 1}"
        )
    if (not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not np.isfinite(seconds)
            or not 0 < seconds <= MAX_LABEL_SECONDS):
        raise ValidationError(
            f"seconds must be the time the label took, a number in (0, {MAX_LABEL_SECONDS:g}], "
            f"got {seconds!r}"
        )
    if not Assignment.objects.filter(sequence=sequence, observer=observer).exists():
        raise ValidationError(f"{observer} is not assigned to {sequence.name!r}")


def _numbers(value, count: int | None, what: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or (count is not None and len(value) != count):
        raise ValidationError(f"{what} must be a list of {count} numbers, got {value!r}")
    out = []
    for v in value:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise ValidationError(f"{what} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return out


def _check_point(x: float, y: float, sequence: Sequence, what: str) -> None:
    # Vertex and point coordinates are pixel centres: the image spans [-0.5, W - 0.5].
    w, h = sequence.width, sequence.height
    if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
        raise ValidationError(
            f"{what} ({x:g}, {y:g}) lies outside the {w}x{h} image (x in [-0.5, {w - 0.5:g}], "
            f"y in [-0.5, {h - 0.5:g}])"
        )


def image_label_create(
    *,
    observer,
    sequence: Sequence,
    frame: int,
    mode: str,
    seconds: float,
    box: list[float] | None = None,
    outline: list[list[float]] | None = None,
    point: list[float] | None = None,
) -> ImageLabel:
    """Store one hand label of image ``frame`` of an image collection, with its time.

    ``box`` ``[x, y, width, height]`` (mode ``box``; pixel edges, inside ``[0, W] x [0, H]``),
    ``outline`` ``[[x, y], ...]`` (mode ``freehand``; at least 3 vertices at pixel centres,
    enclosing some area), ``point`` ``[x, y]`` (mode ``gaze``, optional). The observer must be
    assigned to the collection. Raises ValidationError naming the problem; nothing is stored then.
    """
    _check_labelling(observer=observer, sequence=sequence, frame=frame, mode=mode, seconds=seconds)
    given = {name for name, v in (("box", box), ("outline", outline), ("point", point)) if v is not None}
    wanted = {"box": {"box"}, "freehand": {"outline"}, "gaze": {"point"}}[mode]
    if given - wanted or (mode != "gaze" and not given):
        raise ValidationError(
            f"a {mode} label takes {' and '.join(sorted(wanted))}"
            f"{' (optional)' if mode == 'gaze' else ''}, got {', '.join(sorted(given)) or 'nothing'}"
        )
    if box is not None:
        x, y, w, h = _numbers(box, 4, "box [x, y, width, height]")
        if not (w > 0 and h > 0):
            raise ValidationError(f"box width and height must be positive, got {w:g} x {h:g}")
        eps = 1e-6
        if x < -eps or y < -eps or x + w > sequence.width + eps or y + h > sequence.height + eps:
            raise ValidationError(
                f"box [{x:g}, {y:g}, {w:g}, {h:g}] leaves the {sequence.width}x{sequence.height} "
                "image (expected 0 <= x, x + width <= width of the image, same for y)"
            )
        box = [x, y, w, h]
    if outline is not None:
        if not isinstance(outline, (list, tuple)) or not 3 <= len(outline) <= MAX_OUTLINE_VERTICES:
            raise ValidationError(
                f"outline must be a list of 3 to {MAX_OUTLINE_VERTICES} [x, y] vertices, got "
                f"{len(outline) if isinstance(outline, (list, tuple)) else type(outline).__name__}"
            )
        pts = [_numbers(p, 2, f"outline vertex {i}") for i, p in enumerate(outline)]
        for i, (x, y) in enumerate(pts):
            _check_point(x, y, sequence, f"outline vertex {i}")
        xy = np.asarray(pts)
        area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
        if area < 0.5:
            raise ValidationError(f"outline encloses no area ({area:g} square pixels); draw around the object")
        outline = pts
    if point is not None:
        x, y = _numbers(point, 2, "point [x, y]")
        _check_point(x, y, sequence, "point")
        point = [x, y]
    return ImageLabel.objects.create(
        sequence=sequence, frame=frame, observer=observer, mode=mode, seconds=float(seconds),
        box=box, outline=outline, point=point,
    )


def image_visit_record(
    *, observer, sequence: Sequence, frame: int, mode: str, seconds: float, recording: Recording | None = None
) -> ImageVisit:
    """Store the time ``observer`` spent on image ``frame`` in ``mode`` (gaze: time per image).

    ``recording``, when given, must be the observer's recording of this collection.
    """
    _check_labelling(observer=observer, sequence=sequence, frame=frame, mode=mode, seconds=seconds)
    if recording is not None and (recording.sequence_id != sequence.pk or recording.observer_id != observer.pk):
        raise ValidationError(f"recording {recording.pk} is not yours on {sequence.name!r}")
    return ImageVisit.objects.create(
        sequence=sequence, frame=frame, observer=observer, mode=mode, seconds=float(seconds),
        recording=recording,
    )
