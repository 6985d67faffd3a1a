"""Tobii Pro Lab data export (``.tsv``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raw import TrackerSamples, check_position, check_screen, check_time, parse_float

DEFAULT_SYNC_EVENTS = ("PLAYBACK_START", "VideoStimulusStart", "ImageStimulusStart")


def _column(header: list[str], *prefixes: str) -> int | None:
    """Index of the first column whose name starts with one of ``prefixes`` (units vary)."""
    for prefix in prefixes:
        for i, name in enumerate(header):
            if name.strip().lower().startswith(prefix.lower()):
                return i
    return None


def read_tobii_tsv(path, *, sync_events=DEFAULT_SYNC_EVENTS) -> TrackerSamples:
    """Read gaze from a Tobii Pro Lab tab-separated export.

    Uses ``Recording timestamp`` (``[μs]`` or ``[ms]``; no unit means milliseconds),
    ``Gaze point X`` / ``Gaze point Y`` (screen pixels), ``Sensor`` (rows of other sensors are
    skipped), ``Event`` (the first event starting with one of ``sync_events`` is the playback
    start) and ``Recording resolution width/height`` (the screen). Decimal commas are accepted.
    """
    path = Path(path)
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter="\t")
            return _parse(path, reader, sync_events)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not a text TSV file ({exc.reason})") from exc
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL byte...
        line = reader.line_num if reader is not None else 1
        raise InputError(f"{path.name}, line {line}: malformed TSV ({exc})") from exc


def _parse(path: Path, reader, sync_events) -> TrackerSamples:
    """Parse the rows of an open export, one at a time (the file is never held whole)."""
    header = next(reader, None)
    if not header:
        raise InputError(f"{path.name}: empty file")
    i_t = _column(header, "Recording timestamp")
    i_x, i_y = _column(header, "Gaze point X"), _column(header, "Gaze point Y")
    missing = [n for n, i in (("Recording timestamp", i_t), ("Gaze point X", i_x), ("Gaze point Y", i_y)) if i is None]
    if missing:
        raise InputError(
            f"{path.name}, line 1: not a Tobii Pro Lab export: missing column(s) "
            f"{', '.join(missing)} (tab-separated, with a header row)"
        )
    unit = 1e-3 if ("μs" in header[i_t] or "us]" in header[i_t]) else 1.0
    i_sensor, i_event = _column(header, "Sensor"), _column(header, "Event")
    i_w, i_h = _column(header, "Recording resolution width"), _column(header, "Recording resolution height")
    t, xs, ys = [], [], []
    sync = screen = None
    for row in reader:
        lineno = reader.line_num
        where = f"{path.name}, line {lineno}"
        if not row or all(not c.strip() for c in row):
            continue
        try:
            ts = parse_float(row[i_t]) * unit
            event = _cell(row, i_event)
            if event and sync is None and any(event.startswith(s) for s in sync_events):
                sync = check_time(ts, where)
            sensor = _cell(row, i_sensor)
            if sensor and sensor != "Eye Tracker":
                continue
            if event and not (row[i_x].strip() or row[i_y].strip()):
                continue  # an event row, not a sample
            x, y = parse_float(row[i_x]), parse_float(row[i_y])
            if screen is None:
                screen = _screen(row, i_w, i_h, where)
        except (ValueError, IndexError) as exc:
            raise InputError(
                f"{path.name}, line {lineno}: expected numbers in 'Recording timestamp', "
                f"'Gaze point X', 'Gaze point Y' ({exc})"
            ) from exc
        if np.isnan(ts):
            raise InputError(f"{path.name}, line {lineno}: a sample without a timestamp")
        check_time(ts, where)
        check_position(x, y, where)
        t.append(ts)
        xs.append(x)
        ys.append(y)
    if not t:
        raise InputError(f"{path.name}: no eye-tracker samples")
    return TrackerSamples.in_time_order(
        t, xs, ys,
        units="px",
        sync_ms=sync,
        screen_px=screen,
        source=path.name,
    )


def _cell(row: list[str], i: int | None) -> str:
    """Column ``i`` of ``row``, stripped; "" when the file has no such column or the row is
    short."""
    return row[i].strip() if i is not None and i < len(row) else ""


def _screen(row: list[str], i_w: int | None, i_h: int | None, where: str):
    """The recording resolution stated on this row (width, height), or None when it is not."""
    if not _cell(row, i_w) or i_h is None or i_h >= len(row):
        return None
    w, h = parse_float(row[i_w]), parse_float(row[i_h])
    if np.isnan(w) or np.isnan(h):  # stated on a later row, then
        return None
    return check_screen(w, h, where)
