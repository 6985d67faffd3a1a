"""Writes of the crowd app. Keyword-only, typed; views, tasks and commands call these.

Bad input raises :class:`django.core.exceptions.ValidationError` (the API answers 400 with its
message) or :class:`UploadTooLarge` (413). A failed import stores nothing: files written to
media storage are removed again when the transaction does not commit.
"""

from __future__ import annotations

import io
import math
import re
import secrets
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from segmentation.engine import InputError, InputTooLarge

from .models import (
    MAX_FRAME_RATE,
    MAX_QUORUM,
    MAX_REPEATS,
    Assignment,
    Invitation,
    Sequence,
    Study,
    StudyMembership,
    WorkerHeartbeat,
    validate_name,
    without_control_characters,
)
from .selectors import NotFound

Role = StudyMembership.Role
INVITATION_VALID_FOR = timedelta(days=14)
_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}


class UploadTooLarge(ValidationError):
    """A file or an archive's content exceeds ``settings.GAZECROWD_MAX_UPLOAD_MB``."""


def worker_heartbeat_record(*, token: str, hostname: str) -> WorkerHeartbeat:
    """Record that a worker ran a task; idempotent on ``token``."""
    heartbeat, _ = WorkerHeartbeat.objects.get_or_create(token=token, defaults={"hostname": hostname})
    return heartbeat


def user_get_or_create(*, username: str, password: str | None = None, email: str = ""):
    """Return the user ``username``, creating it (with ``password``, if given) when missing."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError("a username must not be empty")
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created or password:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


# --- studies --------------------------------------------------------------------------------


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


def _check_names(**names) -> None:
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
    _check_names(name=name, target_structure=target_structure)
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
    return study


STUDY_EDITABLE = (
    "name", "target_structure", "instructions", "frame_rate", "quorum", "repeats_per_observer",
    "status",
)


@transaction.atomic
def study_update(*, study: Study, **fields) -> Study:
    """Change the fields in :data:`STUDY_EDITABLE` given as keywords."""
    unknown = set(fields) - set(STUDY_EDITABLE)
    if unknown:
        raise ValidationError(f"cannot change {', '.join(sorted(unknown))}")
    _check_names(name=fields.get("name"), target_structure=fields.get("target_structure"))
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
        files += [f.name for f in (seq.frames_file, seq.masks_file) if f]
    with transaction.atomic():
        study.delete()
        transaction.on_commit(lambda: _delete_files(files))


# --- members, invitations, assignments ------------------------------------------------------


def _lock_study(study_id: int) -> None:
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
    _lock_study(study.pk)
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


def invitation_create(
    *, study: Study, role: str, created_by=None, email: str = "", valid_for: timedelta = INVITATION_VALID_FOR
) -> Invitation:
    """A single-use invitation token to join ``study`` as ``role``, valid for ``valid_for``."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    with transaction.atomic():
        _lock_study(study.pk)
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
    if invitation.revoked:
        raise ValidationError("this invitation was revoked")
    if invitation.accepted_at is not None:
        raise ValidationError("this invitation has already been used")
    if invitation.expires_at <= timezone.now():
        raise ValidationError("this invitation has expired; ask the coordinator for a new one")
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return membership_ensure(study=invitation.study, user=user, role=invitation.role)


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    invitation.revoked = True
    invitation.save(update_fields=["revoked"])
    return invitation


def assignment_create(*, sequence: Sequence, observer) -> Assignment:
    """Ask ``observer`` (an observer of the study) to record ``sequence``; idempotent."""
    try:
        with transaction.atomic():
            _lock_study(sequence.study_id)
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


# --- sequences ------------------------------------------------------------------------------


def max_upload_bytes() -> int:
    return int(settings.GAZECROWD_MAX_UPLOAD_MB) * 1024 * 1024


def max_sequence_pixels() -> int:
    """The pixel budget of one sequence (frames x rows x columns), GAZECROWD_MAX_SEQUENCE_PIXELS."""
    return int(settings.GAZECROWD_MAX_SEQUENCE_PIXELS)


_TEMP_FOLDER = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/gazecrowd-[^/\s'\"]*/?")


def scrub_paths(message: str) -> str:
    """A message without the server's temporary folders (``/tmp/gazecrowd-zip-ab12/``)."""
    return _TEMP_FOLDER.sub("", message)


def check_upload_size(size: int, name: str, *, setting: str = "GAZECROWD_MAX_UPLOAD_MB") -> None:
    """Raise :class:`UploadTooLarge` when ``size`` bytes exceed the limit named by ``setting``
    (megabytes): ``GAZECROWD_MAX_UPLOAD_MB``, or ``GAZECROWD_MAX_GAZE_UPLOAD_MB`` for tracker
    files, whose readers hold about five times a file's size in memory."""
    limit_mb = int(getattr(settings, setting))
    if size > limit_mb * 1024 * 1024:
        raise UploadTooLarge(f"{name}: {size / 2**20:.1f} MB exceeds the limit of {limit_mb} MB ({setting})")


@contextmanager
def materialized(path: Path):
    """Yield a path ``read_sequence`` can read: a zip becomes a folder (or its one file).

    Archives are checked before extraction: at most ``GAZECROWD_MAX_ARCHIVE_FILES`` members
    (counted from the end record, before the central directory is read into memory), no
    absolute or ``..`` member names, total uncompressed size within the upload limit (a zip
    bomb is refused, not unpacked). The images inside are then budgeted by
    :func:`segmentation.engine.io.read_sequence` from their headers.
    """
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path}: no such file or folder")
    if path.is_file():
        check_upload_size(path.stat().st_size, path.name)
    if not (path.is_file() and path.suffix.lower() == ".zip"):
        yield path
        return
    _check_archive_members(path)
    tmp = Path(tempfile.mkdtemp(prefix="gazecrowd-zip-"))
    try:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ValidationError(f"{path.name}: not a valid zip archive ({scrub_paths(str(exc))})") from exc
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not _junk(m.filename)]
            for m in members:
                if m.filename.startswith("/") or ".." in Path(m.filename).parts:
                    raise ValidationError(f"{path.name}: unsafe path in archive: {m.filename!r}")
            check_upload_size(sum(m.file_size for m in members), f"{path.name} (uncompressed)")
            if not members:
                raise ValidationError(f"{path.name}: the archive is empty")
            try:
                for m in members:
                    archive.extract(m, tmp)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
                # The message may name the folder it was unpacking into: never show it.
                raise ValidationError(f"{path.name}: damaged archive ({scrub_paths(str(exc))})") from exc
        files = [p for p in tmp.rglob("*") if p.is_file() and not _junk(p.name)]
        folders = {p.parent for p in files}
        if len(files) == 1 and (files[0].name.lower().endswith((".nii", ".nii.gz")) or files[0].suffix.lower() in _VIDEO):
            yield files[0]
        elif len(folders) == 1:
            yield folders.pop()
        else:
            raise ValidationError(
                f"{path.name}: the archive holds files in {len(folders)} folders; put the frames "
                "(images or DICOM slices) in one folder"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_VIDEO = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}


def _check_archive_members(path: Path) -> None:
    """Refuse a zip declaring more members than GAZECROWD_MAX_ARCHIVE_FILES, from its end record.

    ``zipfile.ZipFile`` reads the whole central directory into memory (about half a kilobyte a
    member): a small file listing millions of empty members is refused before that.
    """
    limit = int(settings.GAZECROWD_MAX_ARCHIVE_FILES)
    try:
        with path.open("rb") as fh:
            end = zipfile._EndRecData(fh)  # the end-of-central-directory record (zip64 aware)
    except OSError as exc:
        raise ValidationError(f"{path.name}: not a valid zip archive ({scrub_paths(str(exc))})") from exc
    if end is None:
        raise ValidationError(f"{path.name}: not a valid zip archive (no end-of-archive record)")
    members = int(end[zipfile._ECD_ENTRIES_TOTAL])
    if members > limit:
        raise UploadTooLarge(
            f"{path.name}: the archive declares {members:,} files; at most {limit:,} are accepted "
            "(GAZECROWD_MAX_ARCHIVE_FILES)"
        )


def _junk(name: str) -> bool:
    """Files archivers add that are not frames (macOS resource forks, Thumbs.db...)."""
    parts = Path(name).parts
    return any((p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts) or Path(name).name in {
        "Thumbs.db", "desktop.ini", "DICOMDIR",
    }


def _clean(message: str, path: Path) -> str:
    """An engine message without the temporary folder it was read from."""
    for folder in {str(path.parent), str(path)}:
        if folder.startswith(tempfile.gettempdir()):
            message = message.replace(folder + "/", "").replace(folder, path.name)
    return scrub_paths(message)


def _read_error(exc: InputError, label: str, readable: Path) -> ValidationError:
    """The service error for an engine error: 413 for a budget exceeded, else 400."""
    message = _named(label, _clean(str(exc), readable))
    if isinstance(exc, InputTooLarge):
        return UploadTooLarge(message + " (GAZECROWD_MAX_SEQUENCE_PIXELS)")
    return ValidationError(message)


def _named(name: str, message: str) -> str:
    """``name: message``, unless the message already starts with the name."""
    return message if message.startswith(name) else f"{name}: {message}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _delete_files(names) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


@contextmanager
def _stored_files():
    """Collect media files written in a block; delete them if the block or its commit fails."""
    written: list[str] = []
    try:
        with transaction.atomic():
            yield written
    except IntegrityError as exc:  # e.g. a concurrent upload took the same name
        _delete_files(written)
        raise ValidationError(f"conflicting write: {exc}") from exc
    except BaseException:
        _delete_files(written)
        raise


def _save(prefix: str, name: str, data: bytes, written: list[str]) -> str:
    stored = default_storage.save(f"{prefix}/{secrets.token_hex(8)}/{name}", ContentFile(data))
    written.append(stored)
    return stored


def sequence_import(
    *,
    study: Study,
    path,
    name: str | None = None,
    source_name: str | None = None,
    truth=None,
    truth_frames: list[int] | None = None,
    axis: int = -1,
) -> Sequence:
    """Read a sequence with the engine, store its frames once as ``.npy``, create the row.

    Parameters
    ----------
    path : a folder of images or DICOM slices, a ``.zip`` of one, a NIfTI volume or a video.
    name : the sequence's name in the study (default: the file name without extensions).
    source_name : the uploaded file's name (default: ``path``'s name).
    truth, truth_frames : reference masks, see :func:`sequence_masks_attach`.

    Raises ValidationError naming the file and the problem; nothing is stored then.
    """
    from segmentation.engine import read_sequence

    path = Path(path)
    source_name = without_control_characters(source_name or path.name)
    name = (name or _stem(source_name)).strip()
    if not name:
        raise ValidationError("a sequence needs a name")
    _check_names(name=name)
    if len(name) > 200:
        raise ValidationError(f"a sequence name has at most 200 characters, got {len(name)}")
    if Sequence.objects.filter(study=study, name=name).exists():
        raise ValidationError(f"this study already has a sequence named {name!r}")
    with materialized(path) as readable:
        try:
            data = read_sequence(readable, axis=axis, max_pixels=max_sequence_pixels())
        except InputError as exc:
            if study.kind == Study.Kind.IMAGES and "has shape" in str(exc):
                raise ValidationError(_named(source_name, _clean(str(exc), readable)) + (
                    "; the images of a collection must all have one size and colour mode: "
                    "resize them, or upload each size as its own collection")) from exc
            raise _read_error(exc, source_name, readable) from exc
        frame_names = _image_names(readable) if data.kind == "images" else []
    frames = np.asarray(data.frames)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValidationError(
            f"{source_name}: frames shaped {frames.shape}; expected (T, H, W) or (T, H, W, 3)"
        )
    with _stored_files() as written:
        stored = _save(f"sequences/{study.pk}", "frames.npy", _npy_bytes(frames), written)
        sequence = Sequence.objects.create(
            study=study,
            name=name,
            modality=data.kind,
            source_name=source_name[:255],
            frames_file=stored,
            n_frames=frames.shape[0],
            height=frames.shape[1],
            width=frames.shape[2],
            channels=frames.shape[3] if frames.ndim == 4 else 1,
            dtype=str(frames.dtype),
            spacing=_finite_list(data.spacing),
            # A video's own rate, when it is a sensible one (the study's rate overrides it).
            fps=float(data.fps) if data.fps and math.isfinite(data.fps) and 0 < data.fps <= MAX_FRAME_RATE else None,
            affine=_finite_list(data.affine),
            frame_names=frame_names if len(frame_names) == frames.shape[0] else [],
        )
        if truth is not None:
            _attach_masks(sequence, Path(truth), truth_frames, axis, written)
    return sequence


def _finite_list(values) -> list | None:
    """A JSON-ready list of finite floats (nested for an affine; None entries kept as null),
    or None when absent or when any value is NaN or infinite.

    NaN or infinity must never reach a JSONField: both databases refuse it, and the insert
    failed with a 500 (a NIfTI header with a NaN voxel size did that).
    """
    if values is None:
        return None
    array = np.asarray(values, dtype=object)
    known = np.asarray([v for v in array.ravel() if v is not None], dtype=float)
    if not np.isfinite(known).all():
        return None
    return np.vectorize(lambda v: None if v is None else float(v), otypes=[object])(array).tolist()


def _image_names(readable: Path) -> list[str]:
    """The image file names without extension, in frame order (the reader sorts by name)."""
    from segmentation.engine import IMAGE_SUFFIXES

    files = [readable] if readable.is_file() else readable.iterdir()
    return [p.stem for p in sorted(files) if p.suffix.lower() in IMAGE_SUFFIXES]


def _stem(name: str) -> str:
    base = Path(name).name
    for suffix in (".nii.gz", ".nii", ".zip"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return Path(base).stem


def sequence_masks_attach(
    *, sequence: Sequence, path, frames: list[int] | None = None, source_name: str | None = None, axis: int = -1
) -> Sequence:
    """Attach reference masks to all frames of ``sequence`` or to some.

    ``path`` is read by :func:`segmentation.engine.io.read_masks` (any sequence form). With as
    many masks as frames, mask k belongs to frame k. With fewer, ``frames`` lists their frame
    indices; without it, the number in each mask image's file name is its frame
    (``00012.png`` -> frame 12). Replaces masks attached before.
    """
    old = sequence.masks_file.name if sequence.masks_file else None
    with _stored_files() as written:
        _attach_masks(sequence, Path(path), frames, axis, written, source_name=source_name)
    if old:
        _delete_files([old])
    return sequence


def _attach_masks(sequence, path: Path, frames, axis, written, *, source_name=None) -> None:
    from segmentation.engine import read_masks

    label = source_name or path.name
    with materialized(path) as readable:
        try:
            masks = np.asarray(read_masks(readable, axis=axis, max_pixels=max_sequence_pixels()), dtype=bool)
        except InputError as exc:
            raise _read_error(exc, label, readable) from exc
        if frames is None and len(masks) != sequence.n_frames:
            frames = _frames_from_names(readable, len(masks), label)
    if masks.shape[1:] != (sequence.height, sequence.width):
        raise ValidationError(
            f"{label}: masks are {masks.shape[1]}x{masks.shape[2]} pixels but the frames of "
            f"{sequence.name!r} are {sequence.height}x{sequence.width}"
        )
    if frames is None:
        frames = list(range(sequence.n_frames))
    frames = [int(f) for f in frames]
    if len(frames) != len(masks):
        raise ValidationError(f"{label}: {len(masks)} masks for {len(frames)} frame numbers")
    if len(set(frames)) != len(frames):
        raise ValidationError(f"{label}: a frame number appears twice in {frames}")
    bad = [f for f in frames if not 0 <= f < sequence.n_frames]
    if bad:
        raise ValidationError(
            f"{label}: frame(s) {bad} do not exist; {sequence.name!r} has frames 0..{sequence.n_frames - 1}"
        )
    order = np.argsort(frames)
    stored = _save(f"sequences/{sequence.study_id}", "masks.npy", _npy_bytes(masks[order].astype(np.uint8)), written)
    sequence.masks_file = stored
    sequence.mask_frames = [frames[i] for i in order]
    sequence.save(update_fields=["masks_file", "mask_frames"])


def _frames_from_names(folder: Path, count: int, label: str) -> list[int]:
    from segmentation.engine import IMAGE_SUFFIXES

    if folder.is_dir():
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        numbers = [re.findall(r"\d+", Path(n).stem) for n in names]
        if len(names) == count and all(numbers):
            return [int(n[-1]) for n in numbers]
    raise ValidationError(
        f"{label}: {count} masks but the sequence has a different number of frames; name each "
        "mask image after its frame number (00012.png) or give the frame numbers"
    )


def sequence_delete(*, sequence: Sequence) -> None:
    """Delete a sequence, its recordings, and its files once the deletion commits."""
    files = [f.name for f in (sequence.frames_file, sequence.masks_file) if f]
    with transaction.atomic():
        sequence.delete()
        transaction.on_commit(lambda: _delete_files(files))
