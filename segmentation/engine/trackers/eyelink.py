"""SR Research EyeLink ``.asc`` files (edf2asc output).

Parsed directly rather than through ``pymovements.gaze.from_asc``: a direct parse names the
line of every bad sample in its error, reads binocular and monocular files alike, and keeps the
``MSG`` lines we need (the sync marker, ``DISPLAY_COORDS``) without a polars detour. The tests
cross-check the samples against pymovements on the same file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raw import TrackerSamples, check_position, check_rate, check_screen, check_time, parse_float

DEFAULT_SYNC_MARKERS = ("PLAYBACK_START", "SYNCTIME")
_MSG = re.compile(r"^MSG\s+(\d+(?:\.\d+)?)\s+(?:-?\d+\s+)?(.*)$")
_DISPLAY = re.compile(r"DISPLAY_COORDS\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)")
_RATE = re.compile(r"RATE\s+(\d+(?:\.\d+)?)")


def read_eyelink_asc(path, *, sync_markers=DEFAULT_SYNC_MARKERS) -> TrackerSamples:
    """Read the gaze samples of an EyeLink ``.asc`` file.

    Binocular samples (``time xl yl pl xr yr pr``) are averaged over the eyes that were
    tracked; ``.`` marks a lost eye. The first ``MSG`` whose text starts with one of
    ``sync_markers`` gives the playback start; ``DISPLAY_COORDS`` the screen size.

    Returns
    -------
    TrackerSamples in screen pixels, tracker clock in milliseconds.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8", errors="strict", newline=None) as fh:
            return _parse(path, fh, sync_markers)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not a text .asc file ({exc.reason})") from exc


def _parse(path: Path, lines, sync_markers) -> TrackerSamples:
    """Parse the lines of an open ``.asc`` file, one at a time (the file is never held whole)."""
    t, xs, ys = [], [], []
    sync = screen = rate = None
    binocular = None
    saw_header = False
    for lineno, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        where = f"{path.name}, line {lineno}"
        head = line[0]
        if head.isdigit():
            fields = line.split()
            if binocular is None:
                binocular = len(fields) >= 7 and _looks_numeric(fields[4])
            ts, x, y = _sample(fields, binocular=binocular, where=where, line=line)
            check_time(ts, where)
            check_position(x, y, where)
            t.append(ts)
            xs.append(x)
            ys.append(y)
        elif line.startswith("MSG"):
            saw_header = True
            sync, screen = _message(line, sync, screen, sync_markers, where)
        elif line.startswith(("SAMPLES", "START")):
            saw_header = True
            if "LEFT" in line or "RIGHT" in line:  # which eyes the samples carry
                binocular = "LEFT" in line and "RIGHT" in line
            r = _RATE.search(line)
            if r:
                rate = check_rate(float(r.group(1)), where)
        elif line.startswith(("**", "E", "S", "P", "V", "I", "B", "N")):
            saw_header = True  # header, events (EFIX, SSACC, EBLINK...), PRESCALER... : skipped
        else:
            raise InputError(f"{path.name}, line {lineno}: not EyeLink ASC content: {line[:80]!r}")
    if not saw_header and not t:
        raise InputError(f"{path.name}: not an EyeLink .asc file (no samples, no MSG lines)")
    if not t:
        raise InputError(f"{path.name}: no gaze samples (was the EDF converted with samples?)")
    return TrackerSamples.in_time_order(
        t, xs, ys,
        units="px",
        sync_ms=sync,
        screen_px=screen,
        sampling_rate_hz=rate,
        source=path.name,
    )


def _sample(fields: list[str], *, binocular: bool, where: str, line: str
            ) -> tuple[float, float, float]:
    """``(time, x, y)`` of a sample line; binocular samples give the mean of the eyes seen."""
    try:
        ts = float(fields[0])
        if binocular:
            xl, yl, xr, yr = (parse_float(fields[i]) for i in (1, 2, 4, 5))
            x = np.nanmean([xl, xr]) if np.isfinite([xl, xr]).any() else np.nan
            y = np.nanmean([yl, yr]) if np.isfinite([yl, yr]).any() else np.nan
        else:
            x, y = parse_float(fields[1]), parse_float(fields[2])
    except (ValueError, IndexError) as exc:
        raise InputError(
            f"{where}: expected a sample 'time x y pupil ...', got {line[:80]!r}"
        ) from exc
    return ts, x, y


def _message(line: str, sync, screen, sync_markers, where: str):
    """``(sync, screen)`` updated by an ``MSG`` line: the first sync marker's time, the
    display coordinates."""
    m = _MSG.match(line)
    if not m:
        return sync, screen
    text = m.group(2).strip()
    if sync is None and any(text.startswith(s) for s in sync_markers):
        sync = check_time(float(m.group(1)), where)
    d = _DISPLAY.search(text)
    if d:
        left, top, right, bottom = (float(d.group(i)) for i in range(1, 5))
        screen = check_screen(right - left + 1, bottom - top + 1, where)
    return sync, screen


def _looks_numeric(text: str) -> bool:
    try:
        parse_float(text)
    except ValueError:
        return False
    return True
