"""The Eye Tribe tracker server's JSON frames, as logged (one message per line, or an array)."""

from __future__ import annotations

import json
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


def _frames(path: Path):
    """Yield (line number, frame dict) for every message that carries a gaze frame."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = _loads(text, path.name, whole_file=True)
        if not isinstance(items, list):  # "[" then something else: JSON said where
            raise InputError(f"{path.name}: expected a JSON array of Eye Tribe messages")
        numbered = [(i + 1, item) for i, item in enumerate(items)]  # item index, not line
    else:
        numbered = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((lineno, _loads(line, f"{path.name}, line {lineno}", whole_file=False)))
            except InputError as exc:
                raise InputError(f"{exc}; expected one Eye Tribe message per line") from exc
    for lineno, item in numbered:
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
    is a lost sample. Heartbeats and other messages are skipped.
    """
    path = Path(path)
    try:
        frames = list(_frames(path))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not a text JSON file ({exc.reason})") from exc
    if not frames:
        raise InputError(f"{path.name}: no Eye Tribe gaze frames (objects with values.frame.avg)")
    t = np.empty(len(frames))
    x = np.empty(len(frames))
    y = np.empty(len(frames))
    for k, (lineno, frame) in enumerate(frames):
        where = f"{path.name}, line {lineno}"
        try:
            t[k] = float(frame["time"])
            x[k] = float(frame["avg"]["x"])
            y[k] = float(frame["avg"]["y"])
            state = int(frame.get("state", STATE_TRACKING_GAZE))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InputError(
                f"{where}: a frame needs numeric time, avg.x, avg.y ({exc!r})"
            ) from exc
        check_time(t[k], where)
        check_position(x[k], y[k], where)
        if not state & STATE_TRACKING_GAZE or (x[k] == 0 and y[k] == 0):
            x[k] = y[k] = np.nan
    order = np.argsort(t, kind="stable")
    return TrackerSamples(t_ms=t[order], x=x[order], y=y[order], units="px", source=path.name)
