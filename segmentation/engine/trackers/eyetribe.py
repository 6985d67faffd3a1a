"""The Eye Tribe tracker server's JSON frames, as logged (one message per line, or an array)."""

from __future__ import annotations

import json
from array import array
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raw import TrackerSamples, check_position, check_time

STATE_TRACKING_GAZE = 0x1  # the tracker's state bit: gaze coordinates are valid


def _strict_number(text: str) -> float:
    """JSON numbers as floats, refusing the ones no float can hold (``1e400``)."""
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON (numbers must be finite)")


def _loads(text: str, where: str, *, whole_file: bool):
    """``json.loads`` that refuses NaN, Infinity and out-of-range numbers, and deep nesting.

    ``where`` names the file (``whole_file``: the decoder's line is added) or the line.
    """
    try:
        return json.loads(text, parse_float=_strict_number, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        line = f", line {exc.lineno}" if whole_file else ""
        raise InputError(f"{where}{line}: invalid JSON ({exc.msg})") from exc
    except ValueError as exc:
        raise InputError(f"{where}: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InputError(f"{where}: invalid JSON (nested too deeply)") from exc


def _messages(path: Path):
    """Yield (line number, message) for every message: one per line, read a line at a time,
    or the items of one JSON array (item index, not line)."""
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip()
        fh.seek(0)
        if head.startswith("["):
            items = _loads(fh.read(), path.name, whole_file=True)
            if not isinstance(items, list):  # "[" then something else: JSON said where
                raise InputError(f"{path.name}: expected a JSON array of Eye Tribe messages")
            yield from ((i + 1, item) for i, item in enumerate(items))
            return
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, _loads(line, f"{path.name}, line {lineno}", whole_file=False)
            except InputError as exc:
                raise InputError(f"{exc}; expected one Eye Tribe message per line") from exc


def _frames(path: Path):
    """Yield (line number, frame dict) for every message that carries a gaze frame."""
    for lineno, item in _messages(path):
        if not isinstance(item, dict):
            raise InputError(f"{path.name}, line {lineno}: expected a JSON object")
        if "values" in item:
            values = item["values"]
            if not isinstance(values, dict):
                raise InputError(f"{path.name}, line {lineno}: 'values' must be a JSON object, got {values!r:.40}")
            frame = values.get("frame")
        else:
            frame = item
        if isinstance(frame, dict) and "avg" in frame:
            yield lineno, frame


def read_eyetribe_json(path) -> TrackerSamples:
    """Read gaze from The Eye Tribe frames (``values.frame``: ``time`` ms, ``avg.x/y``, ``state``).

    A frame whose state lacks the tracking-gaze bit, or at (0, 0) (the tracker's "no gaze"),
    is a lost sample. Heartbeats and other messages are skipped. Messages are read one line at
    a time and only their numbers kept (a file of messages is ten times its size as objects).
    """
    path = Path(path)
    t, x, y = array("d"), array("d"), array("d")
    try:
        for lineno, frame in _frames(path):
            where = f"{path.name}, line {lineno}"
            try:
                ti = float(frame["time"])
                xi = float(frame["avg"]["x"])
                yi = float(frame["avg"]["y"])
                state = int(frame.get("state", STATE_TRACKING_GAZE))
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise InputError(f"{where}: a frame needs numeric time, avg.x, avg.y ({exc!r})") from exc
            check_time(ti, where)
            check_position(xi, yi, where)
            if not state & STATE_TRACKING_GAZE or (xi == 0 and yi == 0):
                xi = yi = np.nan
            t.append(ti)
            x.append(xi)
            y.append(yi)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not a text JSON file ({exc.reason})") from exc
    if not t:
        raise InputError(f"{path.name}: no Eye Tribe gaze frames (objects with values.frame.avg)")
    t_ms = np.frombuffer(t, dtype=float)
    order = np.argsort(t_ms, kind="stable")
    return TrackerSamples(t_ms=t_ms[order], x=np.frombuffer(x, dtype=float)[order],
                          y=np.frombuffer(y, dtype=float)[order], units="px", source=path.name)
