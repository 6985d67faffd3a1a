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
            event = row[i_event].strip() if i_event is not None and i_event < len(row) else ""
            if event and sync is None and any(event.startswith(s) for s in sync_events):
                sync = check_time(ts, where)
            sensor = row[i_sensor].strip() if i_sensor is not None and i_sensor < len(row) else ""
            if sensor and sensor != "Eye Tracker":
                continue
            if event and not (row[i_x].strip() or row[i_y].strip()):
                continue  # an event row, not a sample
            x, y = parse_float(row[i_x]), parse_float(row[i_y])
            if (screen is None and i_w is not None and i_h is not None and i_w < len(row) and i_h < len(row)
                    and row[i_w].strip()):
                w, h = parse_float(row[i_w]), parse_float(row[i_h])
                if not (np.isnan(w) or np.isnan(h)):  # stated on a later row, then
                    screen = check_screen(w, h, where)
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
    order = np.argsort(np.asarray(t), kind="stable")
    return TrackerSamples(
        t_ms=np.asarray(t, dtype=float)[order],
        x=np.asarray(xs, dtype=float)[order],
        y=np.asarray(ys, dtype=float)[order],
        units="px",
        sync_ms=sync,
        screen_px=screen,
        source=path.name,
    )
