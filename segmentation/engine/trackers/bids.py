"""BIDS eye-tracking physiology (BIDS 1.10, as eye2bids writes it): read and write.

A recording is ``<prefix>_physio.tsv.gz`` (tab-separated, **no header row**; its columns are
named by the sidecar's ``Columns``) with its sidecar ``<prefix>_physio.json``
(``SamplingFrequency``, ``Columns``, ``PhysioType: "eyetrack"``, ``RecordedEye``,
``StartTime``...) and, optionally, ``<prefix>_physioevents.tsv.gz`` (``onset``, ``duration``,
``trial_type``, ``message``...: the tracker's messages, frame changes among them).

Readers accept one ``_physio.tsv.gz`` (the sidecar beside it), a ``.zip`` holding one of each
(uploads), or a folder holding exactly one recording. Sizes are budgeted before anything is
decoded: the gzip trailer's stated size, then a running count while streaming.
Pure: no Django here.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .geometry import DisplayGeometry
from .raw import (
    MAX_SCREEN_PX,
    TrackerSamples,
    check_position,
    check_rate,
    check_screen,
    check_time,
)

PHYSIO_SUFFIX = "_physio.tsv.gz"
EVENTS_SUFFIX = "_physioevents.tsv.gz"
# Uncompressed text of one physio or events file, and one sidecar: a gzip bomb is refused.
MAX_UNCOMPRESSED_BYTES = 2 << 30
MAX_SIDECAR_BYTES = 1 << 20
MAX_ZIP_MEMBERS = 64
REQUIRED_COLUMNS = ("timestamp", "x_coordinate", "y_coordinate")
# Messages marking playback start (the first one found is the sync), and frame changes.
SYNC_MESSAGES = ("PLAYBACK_START", "SYNCTIME", "VideoStimulusStart")
FRAME_MESSAGE = re.compile(r"^FRAME\s+(\d{1,9})\s*$")
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3}


@dataclass(frozen=True)
class _Source:
    """Where one recording's files are: names inside a zip, or paths on disk."""

    physio: str
    sidecar: str
    events: str | None
    events_sidecar: str | None
    archive: Path | None = None

    def open(self, name: str):
        if self.archive is None:
            return open(name, "rb")  # closed by the caller's with
        zf = zipfile.ZipFile(self.archive)
        return _ZipMember(zf, name)

    def size(self, name: str) -> int:
        if self.archive is None:
            return Path(name).stat().st_size
        with zipfile.ZipFile(self.archive) as zf:
            return zf.getinfo(name).file_size

    def label(self, name: str) -> str:
        return Path(name).name


class _ZipMember(io.RawIOBase):
    """A zip member opened for reading, closing its archive with it."""

    def __init__(self, zf: zipfile.ZipFile, name: str):
        self._zf, self._fh = zf, zf.open(name)

    def readable(self):
        return True

    def readinto(self, b):
        data = self._fh.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self):
        self._fh.close()
        self._zf.close()
        super().close()


def _prefix(name: str) -> str:
    return name[: -len(PHYSIO_SUFFIX)]


def find_bids_physio(root, *, subject: str | None = None, task: str | None = None) -> list[Path]:
    """Every ``*_physio.tsv.gz`` under a BIDS dataset folder, sorted, optionally of one subject
    (``sub-<subject>``, with or without the ``sub-``) and one task label."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root.name}: not a folder")
    found = sorted(root.rglob(f"*{PHYSIO_SUFFIX}"))
    if subject:
        label = subject if subject.startswith("sub-") else f"sub-{subject}"
        found = [p for p in found if p.name.startswith(label + "_")]
    if task:
        found = [p for p in found if f"_task-{task}_" in p.name]
    return found


def _resolve(path: Path) -> _Source:
    """The files of the one recording ``path`` names (file, zip or folder)."""
    if path.is_dir():
        found = find_bids_physio(path)
        if len(found) != 1:
            names = ", ".join(p.name for p in found[:5]) or "none"
            raise InputError(f"{path.name}: expected one *{PHYSIO_SUFFIX} in the folder, found "
                             f"{len(found)} ({names}); name the file, or the subject and task")
        path = found[0]
    if path.suffix.lower() == ".zip":
        return _resolve_zip(path)
    if not path.name.endswith(PHYSIO_SUFFIX):
        raise InputError(f"{path.name}: a BIDS eye-tracking recording is named *{PHYSIO_SUFFIX} "
                         "(or a .zip holding it with its .json sidecar)")
    prefix = str(path)[: -len(PHYSIO_SUFFIX)]
    sidecar = Path(prefix + "_physio.json")
    if not sidecar.is_file():
        raise InputError(f"{path.name}: its sidecar {sidecar.name} is missing (it names the columns "
                         "and the sampling frequency)")
    events = Path(prefix + EVENTS_SUFFIX)
    events_json = Path(prefix + "_physioevents.json")
    return _Source(str(path), str(sidecar), str(events) if events.is_file() else None,
                   str(events_json) if events_json.is_file() else None)


def _resolve_zip(path: Path) -> _Source:
    try:
        with path.open("rb") as fh:
            end = zipfile._EndRecData(fh)  # the end record: member count before the directory
        if end is None:
            raise InputError(f"{path.name}: not a valid zip archive (no end-of-archive record)")
        if int(end[zipfile._ECD_ENTRIES_TOTAL]) > MAX_ZIP_MEMBERS:
            raise InputError(f"{path.name}: more than {MAX_ZIP_MEMBERS} files; zip only the "
                             f"recording (*{PHYSIO_SUFFIX}, its .json, its events)")
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path.name}: not a valid zip archive ({exc})") from exc
    physio = [n for n in names if n.endswith(PHYSIO_SUFFIX)]
    if len(physio) != 1:
        raise InputError(f"{path.name}: expected one *{PHYSIO_SUFFIX} in the archive, found {len(physio)}")
    prefix = _prefix(physio[0])
    sidecar = prefix + "_physio.json"
    if sidecar not in names:
        raise InputError(f"{path.name}: {Path(physio[0]).name} has no sidecar "
                         f"{Path(sidecar).name} in the archive")
    events, events_json = prefix + EVENTS_SUFFIX, prefix + "_physioevents.json"
    return _Source(physio[0], sidecar, events if events in names else None,
                   events_json if events_json in names else None, archive=path)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _read_json(src: _Source, name: str) -> dict:
    label = src.label(name)
    if src.size(name) > MAX_SIDECAR_BYTES:
        raise InputError(f"{label}: a sidecar of more than {MAX_SIDECAR_BYTES // 1024} KB")
    with src.open(name) as fh:
        text = fh.read(MAX_SIDECAR_BYTES + 1)
    try:
        data = json.loads(text.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}, line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{label}: invalid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{label}: a sidecar is a JSON object")
    return data


def _number(meta: dict, key: str, label: str, *, required: bool = False) -> float | None:
    value = meta.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{label}: {key} must be a finite number, got {value!r}")
    return float(value)


def _pair(meta: dict, key: str, label: str) -> tuple[float, float] | None:
    value = meta.get(key)
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                       for v in value)):
        raise InputError(f"{label}: {key} must be two positive numbers [width, height], got {value!r}")
    return float(value[0]), float(value[1])


def _columns(meta: dict, label: str) -> tuple[list[str], dict[str, int]]:
    columns = meta.get("Columns")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise InputError(f"{label}: Columns must list the column names of the headerless "
                         "_physio.tsv.gz, e.g. [\"timestamp\", \"x_coordinate\", \"y_coordinate\"]")
    index = {c: i for i, c in enumerate(columns)}
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise InputError(f"{label}: Columns lacks {', '.join(missing)} (an eye-tracking recording "
                         f"has {', '.join(REQUIRED_COLUMNS)})")
    return columns, index


def _time_scale(meta: dict, label: str) -> float:
    """Milliseconds per unit of the timestamp column (its ``Units``; default ms, eye2bids')."""
    about = meta.get("timestamp")
    units = about.get("Units", "ms") if isinstance(about, dict) else "ms"
    if units not in _TIME_UNITS:
        raise InputError(f"{label}: timestamp Units {units!r}; expected one of {', '.join(_TIME_UNITS)}")
    return _TIME_UNITS[units]


def read_bids_geometry(path) -> DisplayGeometry | None:
    """The display a BIDS recording states, or None when its sidecars state no screen.

    ``ScreenResolution`` (pixels) is required for a geometry; ``ScreenSize`` (metres) and
    ``ScreenDistance`` (metres) are read from the physio sidecar or, as BIDS 1.10 puts them,
    from ``StimulusPresentation`` of the events sidecar; ``GazeCrowdImageRect`` (written by
    :func:`write_bids_physio`: where the image was drawn, screen pixels) when present.
    """
    src = _resolve(Path(path))
    meta = _read_json(src, src.sidecar)
    label = src.label(src.sidecar)
    stim = meta.get("StimulusPresentation") if isinstance(meta.get("StimulusPresentation"), dict) else {}
    if src.events_sidecar is not None:
        events_meta = _read_json(src, src.events_sidecar)
        if isinstance(events_meta.get("StimulusPresentation"), dict):
            stim = {**events_meta["StimulusPresentation"], **stim}
    merged = {**stim, **{k: v for k, v in meta.items() if k.startswith("Screen")}}
    resolution = _pair(merged, "ScreenResolution", label)
    if resolution is None:
        return None
    check_screen(*resolution, label)
    size_m = _pair(merged, "ScreenSize", label)
    distance_m = _number(merged, "ScreenDistance", label)
    rect = meta.get("GazeCrowdImageRect")
    if rect is not None and (not isinstance(rect, list) or len(rect) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= MAX_SCREEN_PX * 10
            for v in rect)):
        raise InputError(f"{label}: GazeCrowdImageRect must be [left, top, width, height] pixels, got {rect!r}")
    return DisplayGeometry(
        screen_px=resolution,
        screen_cm=None if size_m is None else (size_m[0] * 100.0, size_m[1] * 100.0),
        distance_cm=None if distance_m is None else distance_m * 100.0,
        image_rect=None if rect is None else tuple(float(v) for v in rect),
    )


def _gzip_lines(src: _Source, name: str, max_bytes: int):
    """Yield (line number, text) of a gzipped text file, refusing more than ``max_bytes`` of
    text: first from the size the gzip trailer states (plain files), then while decoding."""
    label = src.label(name)
    if src.archive is None:
        with open(name, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() >= 18:
                fh.seek(-4, 2)
                stated = int.from_bytes(fh.read(4), "little")  # size mod 2**32
                if stated > max_bytes:
                    raise InputError(f"{label}: {stated / 2**20:.0f} MB of text once decompressed; at "
                                     f"most {max_bytes / 2**20:.3g} MB are read")
    total = 0
    try:
        with src.open(name) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as fh:
            for lineno, line in enumerate(fh, 1):
                total += len(line)
                if total > max_bytes:
                    raise InputError(f"{label}, line {lineno}: more than {max_bytes / 2**20:.3g} MB of "
                                     "text once decompressed")
                yield lineno, line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{label}: not a readable .gz file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text ({exc.reason})") from exc


def _cell(text: str, what: str, where: str) -> float:
    """One numeric cell; ``n/a`` (BIDS) and empty are NaN; anything else must be a finite number."""
    text = text.strip()
    if text in {"n/a", "", "NaN", "nan"}:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text[:40]!r} is not a number (n/a for a missing value)") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} {text[:40]!r} is not a finite number")
    return value


def _samples(src: _Source, columns: list[str], index: dict[str, int], scale: float, max_bytes: int):
    label = src.label(src.physio)
    t, xs, ys = array("d"), array("d"), array("d")
    i_t, i_x, i_y = (index[c] for c in REQUIRED_COLUMNS)
    for lineno, line in _gzip_lines(src, src.physio, max_bytes):
        if not line.strip():
            continue
        where = f"{label}, line {lineno}"
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise InputError(f"{where}: {len(cells)} tab-separated values, but the sidecar's Columns "
                             f"names {len(columns)} ({', '.join(columns)})")
        ts = _cell(cells[i_t], "timestamp", where)
        if math.isnan(ts):
            raise InputError(f"{where}: a sample without a timestamp")
        x, y = _cell(cells[i_x], "x_coordinate", where), _cell(cells[i_y], "y_coordinate", where)
        if math.isnan(x) != math.isnan(y):
            x = y = math.nan  # half a position is a lost sample
        t.append(check_time(ts * scale, where))
        xs.append(x)
        ys.append(y)
        check_position(x, y, where)
    if not t:
        raise InputError(f"{label}: no samples")
    return np.frombuffer(t), np.frombuffer(xs), np.frombuffer(ys)


def _events(src: _Source, scale: float, max_bytes: int) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(sync time or None, frame-change onsets (ms), frames) from the physioevents file."""
    i_on, i_msg = 0, -1  # without a sidecar naming them: onset first, the message last
    if src.events_sidecar is not None:
        columns = _read_json(src, src.events_sidecar).get("Columns")
        if isinstance(columns, list) and "onset" in columns and "message" in columns:
            i_on, i_msg = columns.index("onset"), columns.index("message")
    label = src.label(src.events)
    sync, onsets, frames = None, array("d"), array("q")
    for lineno, line in _gzip_lines(src, src.events, max_bytes):
        cells = line.split("\t")
        if not line.strip() or len(cells) <= max(i_on, i_msg, 1):
            continue
        message = cells[i_msg].strip()
        match = FRAME_MESSAGE.match(message)
        if not match and not (sync is None and message.startswith(SYNC_MESSAGES)):
            continue
        where = f"{label}, line {lineno}"
        onset = check_time(_cell(cells[i_on], "onset", where) * scale, where)
        if match:
            onsets.append(onset)
            frames.append(int(match.group(1)))
        else:
            sync = onset
    return sync, np.frombuffer(onsets), np.frombuffer(frames, dtype=np.int64)


def _frames_at(t_ms: np.ndarray, onsets: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The frame shown at each sample: that of the last frame change at or before it (-1 before
    the first)."""
    order = np.argsort(onsets, kind="stable")
    onsets, frames = onsets[order], frames[order]
    k = np.searchsorted(onsets, t_ms, side="right") - 1
    return np.where(k >= 0, frames[np.maximum(k, 0)], -1)


def read_bids_physio(path, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> TrackerSamples:
    """Read a BIDS eye-tracking recording (``_physio.tsv.gz`` + sidecar [+ physioevents]).

    Parameters
    ----------
    path : a ``*_physio.tsv.gz`` (its ``_physio.json`` beside it), a ``.zip`` holding both (and
        the events), or a folder holding exactly one recording.
    max_bytes : most text read from one decompressed file.

    Returns
    -------
    TrackerSamples
        ``t_ms`` the ``timestamp`` column in milliseconds (its ``Units``: ms, s or us; default
        ms), ``x``, ``y`` the ``x_coordinate``, ``y_coordinate`` columns in screen pixels
        (x = column, y = row; ``n/a`` = lost), ``sync_ms`` the onset of the first
        ``PLAYBACK_START`` (or ``SYNCTIME``, ``VideoStimulusStart``) message, ``frames`` the
        frame shown at each sample when the events hold ``FRAME <k>`` messages, ``screen_px``
        from ``ScreenResolution``, ``sampling_rate_hz`` from ``SamplingFrequency``.

    Raises
    ------
    InputError
        Naming the file (and line): a missing sidecar, a row whose number of values differs from
        ``Columns``, a value that is not a finite number, a file that decompresses too large.
    """
    src = _resolve(Path(path))
    meta = _read_json(src, src.sidecar)
    label = src.label(src.sidecar)
    if meta.get("PhysioType", "eyetrack") != "eyetrack":
        raise InputError(f"{label}: PhysioType is {meta.get('PhysioType')!r}, not an eye-tracking "
                         "recording (\"eyetrack\")")
    columns, index = _columns(meta, label)
    rate = check_rate(_number(meta, "SamplingFrequency", label, required=True), label)
    scale = _time_scale(meta, label)
    t, x, y = _samples(src, columns, index, scale, max_bytes)
    sync, onsets, frame_ids = (None, np.empty(0), np.empty(0, dtype=np.int64))
    if src.events is not None:
        sync, onsets, frame_ids = _events(src, scale, max_bytes)
    frames = _frames_at(t, onsets, frame_ids) if len(onsets) else None
    geometry = read_bids_geometry(path)
    notes = [f"RecordedEye: {meta['RecordedEye']}"] if isinstance(meta.get("RecordedEye"), str) else []
    return TrackerSamples.in_time_order(
        t, x, y, units="px", sync_ms=sync, frames=frames,
        screen_px=None if geometry is None else geometry.screen_px,
        sampling_rate_hz=rate, source=src.label(src.physio), notes=notes,
    )


def _fmt(values: np.ndarray) -> list[str]:
    """Shortest exact text of each value (``repr``), ``n/a`` for NaN."""
    return ["n/a" if v != v else repr(float(v)) for v in values.tolist()]


def _write_gz(path: Path, rows) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=6) as fh:
        for row in rows:
            fh.write("\t".join(row) + "\n")


def write_bids_physio(
    prefix,
    t_ms: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    sampling_rate_hz: float,
    frames: np.ndarray | None = None,
    geometry: DisplayGeometry | None = None,
    recorded_eye: str = "cyclopean",
    extra: dict | None = None,
) -> list[Path]:
    """Write one BIDS eye-tracking recording; :func:`read_bids_physio` reads it back exactly.

    Parameters
    ----------
    prefix : path without the suffix, e.g. ``ds/sub-01/beh/sub-01_task-cine_recording-eye1``.
    t_ms : (S,) float ndarray, the ``timestamp`` column, milliseconds (playback time).
    x, y : (S,) float ndarray, screen pixels (x = column, y = row); NaN = lost (``n/a``).
    sampling_rate_hz : ``SamplingFrequency``.
    frames : (S,) int ndarray, the frame shown at each sample: written as ``FRAME <k>`` events
        where it changes, after a ``PLAYBACK_START`` at time 0.
    geometry : the display, written as ``ScreenResolution`` (pixels), ``ScreenSize``,
        ``ScreenDistance`` (metres) and ``GazeCrowdImageRect``.
    extra : more sidecar fields.

    Returns
    -------
    The paths written: physio, its sidecar, and (with ``frames``) the events and their sidecar.
    """
    prefix = str(prefix)
    t_ms, x, y = (np.asarray(a, dtype=float) for a in (t_ms, x, y))
    physio = Path(prefix + PHYSIO_SUFFIX)
    _write_gz(physio, zip(_fmt(t_ms), _fmt(x), _fmt(y)))
    meta = {
        "SamplingFrequency": float(sampling_rate_hz),
        "StartTime": float(t_ms[0] / 1000.0) if len(t_ms) else 0.0,
        "Columns": list(REQUIRED_COLUMNS),
        "PhysioType": "eyetrack",
        "RecordedEye": recorded_eye,
        "SampleCoordinateSystem": "gaze-on-screen",
        "SampleCoordinateUnits": "pixel",
        "EnvironmentCoordinates": "top-left",
        "Manufacturer": "n/a",
        "timestamp": {"Description": "Time since playback start (frame 0 on screen)", "Units": "ms"},
        "x_coordinate": {"Description": "Gaze position on the screen, column", "Units": "pixel"},
        "y_coordinate": {"Description": "Gaze position on the screen, row (down)", "Units": "pixel"},
        **_screen_fields(geometry),
        **(extra or {}),
    }
    sidecar = Path(prefix + "_physio.json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    written = [physio, sidecar]
    if frames is not None:
        written += _write_frame_events(prefix, t_ms, np.asarray(frames, dtype=np.int64))
    return written


def _screen_fields(geometry: DisplayGeometry | None) -> dict:
    if geometry is None:
        return {}
    out = {"ScreenResolution": [int(round(v)) for v in geometry.screen_px]}
    if geometry.screen_cm is not None:
        out["ScreenSize"] = [v / 100.0 for v in geometry.screen_cm]
    if geometry.distance_cm is not None:
        out["ScreenDistance"] = geometry.distance_cm / 100.0
    if geometry.image_rect is not None:
        out["GazeCrowdImageRect"] = [float(v) for v in geometry.image_rect]
    return out


def _write_frame_events(prefix: str, t_ms: np.ndarray, frames: np.ndarray) -> list[Path]:
    change = np.ones(len(frames), dtype=bool)
    change[1:] = frames[1:] != frames[:-1]
    rows = [["0.0", "n/a", "playback", "PLAYBACK_START"]]
    rows += [[repr(float(t)), "n/a", "frame_change", f"FRAME {int(f)}"]
             for t, f in zip(t_ms[change].tolist(), frames[change].tolist())]
    events = Path(prefix + EVENTS_SUFFIX)
    _write_gz(events, rows)
    meta = {
        "Columns": ["onset", "duration", "trial_type", "message"],
        "OnsetSource": "timestamp",
        "onset": {"Description": "Time of the event, on the physio file's timestamp clock", "Units": "ms"},
        "duration": {"Description": "Not measured (n/a)", "Units": "ms"},
        "trial_type": {"Description": "playback: frame 0 appears; frame_change: a new frame appears"},
        "message": {"Description": "PLAYBACK_START, or FRAME <k> (the frame now on screen, from 0)"},
    }
    sidecar = Path(prefix + "_physioevents.json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return [events, sidecar]
