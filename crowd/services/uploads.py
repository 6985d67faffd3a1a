"""Uploaded files: size limits, a local path for an upload, zip archives unpacked safely.

Views and API classes turn an upload into a local path with :func:`uploaded_path` and hand the
path to a service; the services read archives through :func:`materialized`. Limits come from
settings (``GAZECROWD_MAX_UPLOAD_MB``, ``GAZECROWD_MAX_GAZE_UPLOAD_MB``,
``GAZECROWD_MAX_ARCHIVE_FILES``, ``GAZECROWD_MAX_SEQUENCE_PIXELS``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

__all__ = [
    "UploadTooLarge",
    "check_upload_size",
    "materialized",
    "max_sequence_pixels",
    "max_upload_bytes",
    "scrub_paths",
    "uploaded_path",
]

_VIDEO = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}


class UploadTooLarge(ValidationError):
    """A file or an archive's content exceeds ``settings.GAZECROWD_MAX_UPLOAD_MB``."""


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
def uploaded_path(upload):
    """A local path holding an uploaded file under its own (sanitised) name; size checked first.

    The one way the pages and the API hand an upload to a service: the engine's readers want a
    file name (its suffix says the format), not a stream.
    """
    name = Path(upload.name or "upload").name
    if name in {"", ".", ".."}:
        name = "upload"
    check_upload_size(upload.size or 0, name)
    folder = Path(tempfile.mkdtemp(prefix="gazecrowd-upload-"))
    try:
        path = folder / name
        try:  # a large upload already lies in a temporary file: link it under its own name
            os.link(upload.temporary_file_path(), path)
        except (AttributeError, OSError):
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
        _extract(path, tmp)
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


def _extract(path: Path, tmp: Path) -> None:
    """Unpack the zip ``path`` into ``tmp`` after checking its member names and sizes."""
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
