"""The Eye Tribe tracker server's JSON frames, as logged (one message per line, or an array)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raw import TrackerSamples

STATE_TRACKING_GAZE = 0x1  # the tracker's state bit: gaze coordinates are valid


def _frames(path: Path):
    """Yield (line number, frame dict) for every message that carries a gaze frame."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path.name}, line {exc.lineno}: invalid JSON ({exc.msg})") from exc
        numbered = [(i + 1, item) for i, item in enumerate(items)]  # item index, not line
    else:
        numbered = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path.name}, line {lineno}: invalid JSON ({exc.msg}); expected one Eye "
                    "Tribe message per line"
                ) from exc
    for lineno, item in numbered:
        if not isinstance(item, dict):
            raise InputError(f"{path.name}, line {lineno}: expected a JSON object")
        frame = item.get("values", {}).get("frame") if "values" in item else item
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
        try:
            t[k] = float(frame["time"])
            x[k] = float(frame["avg"]["x"])
            y[k] = float(frame["avg"]["y"])
            state = int(frame.get("state", STATE_TRACKING_GAZE))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{path.name}, line {lineno}: a frame needs numeric time, avg.x, avg.y ({exc!r})"
            ) from exc
        if not state & STATE_TRACKING_GAZE or (x[k] == 0 and y[k] == 0):
            x[k] = y[k] = np.nan
    order = np.argsort(t, kind="stable")
    return TrackerSamples(t_ms=t[order], x=x[order], y=y[order], units="px", source=path.name)
