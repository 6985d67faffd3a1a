"""Eye-tracker files to the canonical gaze table (observer, t_ms, frame, x, y).

Readers return :class:`TrackerSamples` (tracker clock, screen coordinates); :func:`to_gaze_frame`
maps them onto the image with the recording's :class:`DisplayGeometry` and aligns the tracker
clock to playback. :func:`read_gaze_file` does both for any supported format. The shared CSV
format (already in image pixels and playback time) is read by
:func:`segmentation.engine.io.read_gaze_csv`. BIDS eye-tracking physio is read and written
(:func:`read_bids_physio`, :func:`write_bids_physio`); pymovements ``Gaze`` objects are made and
read by :func:`gaze_to_pymovements` / :func:`gaze_from_pymovements`. Pure: no Django here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .bids import find_bids_physio, read_bids_geometry, read_bids_physio, write_bids_physio
from .eyelink import read_eyelink_asc
from .eyetribe import read_eyetribe_json
from .geometry import DisplayGeometry, fit_image_rect
from .pupil import read_pupil_surface_csv
from .pymovements_interop import gaze_from_pymovements, gaze_to_pymovements
from .raw import (
    GAZE_COLUMNS,
    MAX_ABS_SCREEN,
    MAX_ABS_TRACKER_MS,
    MAX_SAMPLING_RATE_HZ,
    MAX_SCREEN_PX,
    TrackerSamples,
    to_gaze_frame,
)
from .timing import align_to_playback
from .tobii import read_tobii_tsv

READERS = {
    "tobii": read_tobii_tsv,
    "eyelink": read_eyelink_asc,
    "pupil": read_pupil_surface_csv,
    "eyetribe": read_eyetribe_json,
    "bids": read_bids_physio,
}
FORMATS = ("csv", *READERS)


class UnknownGazeFormat(InputError):
    """The format of a gaze file cannot be told from its name.

    ``name`` is the file's name and ``formats`` the formats there are, so that each caller says
    how to choose one in its own words (a ``--format`` flag, a form's select, an API field);
    the message itself names no flag.
    """

    def __init__(self, name: str, formats=FORMATS):
        self.name, self.formats = name, tuple(formats)
        super().__init__(f"{name}: the gaze format cannot be told from the file name "
                         f"(known formats: {', '.join(self.formats)})")


def detect_format(path) -> str:
    """Guess the format of a gaze file from its name and first line.

    ``.asc`` -> eyelink, ``.tsv`` -> tobii, ``.json``/``.jsonl`` -> eyetribe, ``.csv`` -> pupil
    when its header has ``x_norm``, else csv (observer,t_ms,frame,x,y); ``*_physio.tsv.gz``,
    a ``.zip`` or a folder -> bids.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.name.endswith("_physio.tsv.gz") or suffix == ".zip" or path.is_dir():
        return "bids"
    if suffix == ".asc":
        return "eyelink"
    if suffix in {".tsv", ".txt"}:
        return "tobii"
    if suffix in {".json", ".jsonl", ".ndjson"}:
        return "eyetribe"
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline(64 * 1024)  # a header line, not a whole file without newlines
        return "pupil" if "x_norm" in header else "csv"
    raise UnknownGazeFormat(path.name)


def gaze_file_observer(path, fmt: str | None = None) -> str | None:
    """The one observer a gaze file names, or None when the file names none.

    Only the shared CSV format has an ``observer`` column (tracker exports name no observer).

    Raises
    ------
    InputError
        The column names several observers (a recording is one observer's): the message names
        them and the line where the second one starts.
    """
    if (fmt or detect_format(path)) != "csv":
        return None
    from ..io import gaze_csv_observers, read_gaze_csv

    # Blank cells get a name no one can have, then are left out: they are nobody's claim.
    blank = "\x00blank"
    names = gaze_csv_observers(read_gaze_csv(path, observer=blank))
    names.pop(blank, None)
    if len(names) > 1:
        (first, _), (second, line) = list(names.items())[:2]
        raise InputError(
            f"{Path(path).name}: line {line}: the observer column changes from {first!r} to "
            f"{second!r}; one file holds one observer's gaze (split it, one file per observer)"
        )
    return next(iter(names), None)


def _check_csv_observer(gaze: pd.DataFrame, observer: str, name: str) -> None:
    """A CSV whose ``observer`` column names someone else is refused, not relabelled: gaze
    attributed to the wrong person would weigh in their name."""
    from ..io import gaze_csv_observers

    for other, line in gaze_csv_observers(gaze).items():
        if other != observer:
            raise InputError(
                f"{name}: line {line}: the observer column says {other!r}, but this recording "
                f"is {observer!r}'s (leave the column out, or import the file as {other!r})"
            )


def read_gaze_file(
    path,
    fmt: str | None = None,
    *,
    observer: str,
    image_hw: tuple[int, int],
    fps: float,
    n_frames: int,
    geometry: DisplayGeometry | None = None,
    playback_start_ms: float | None = None,
) -> tuple[pd.DataFrame, TrackerSamples | None]:
    """Read a gaze file of any supported format into the canonical table.

    Parameters
    ----------
    fmt : one of :data:`FORMATS`, or None to :func:`detect_format`.
    observer : whose gaze this is, written in the ``observer`` column. A CSV's own
        ``observer`` column must name the same observer (InputError otherwise; see
        :func:`gaze_file_observer` to read the name first).
    image_hw : (rows, columns) of the sequence; fps : playback rate; n_frames : its frames.
    geometry : the display (required for tracker formats; the screen size may come from the
        file when ``geometry`` is None and the file states it).
    playback_start_ms : tracker time of frame 0 (default: the file's sync marker, else the
        first sample).

    Returns
    -------
    (gaze, raw) : the canonical DataFrame (columns observer, t_ms, frame, x, y; frames within
        ``[0, n_frames)``) and the reader's :class:`TrackerSamples` (None for csv).
    """
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        from ..io import read_gaze_csv

        gaze = read_gaze_csv(path, observer=observer)  # a blank cell: this observer
        _check_csv_observer(gaze, observer, Path(path).name)
        too_far = gaze["frame"] >= n_frames
        if too_far.any():
            k = int(np.flatnonzero(too_far.to_numpy())[0])
            raise InputError(
                f"{Path(path).name}: line {int(gaze.index[k])} is on frame "
                f"{int(gaze['frame'].iloc[k])}, but the sequence has {n_frames} frames "
                f"(0..{n_frames - 1})"
            )
        gaze = gaze.reset_index(drop=True)
        gaze["observer"] = observer
        return gaze[GAZE_COLUMNS], None
    if fmt not in READERS:
        raise InputError(f"unknown gaze format {fmt!r}; expected one of {', '.join(FORMATS)}")
    raw = READERS[fmt](path)
    if geometry is None:
        if raw.screen_px is None:
            raise InputError(
                f"{raw.source}: the file does not state the screen size; give the display "
                "geometry (screen size in pixels)"
            )
        geometry = DisplayGeometry(screen_px=raw.screen_px)
    gaze = to_gaze_frame(
        raw,
        observer=observer,
        geometry=geometry,
        image_hw=image_hw,
        fps=fps,
        n_frames=n_frames,
        playback_start_ms=playback_start_ms,
    )
    return gaze, raw


__all__ = [
    "FORMATS",
    "GAZE_COLUMNS",
    "MAX_ABS_SCREEN",
    "MAX_ABS_TRACKER_MS",
    "MAX_SAMPLING_RATE_HZ",
    "MAX_SCREEN_PX",
    "READERS",
    "DisplayGeometry",
    "TrackerSamples",
    "align_to_playback",
    "UnknownGazeFormat",
    "detect_format",
    "gaze_file_observer",
    "find_bids_physio",
    "fit_image_rect",
    "gaze_from_pymovements",
    "gaze_to_pymovements",
    "read_bids_geometry",
    "read_bids_physio",
    "read_eyelink_asc",
    "read_eyetribe_json",
    "read_gaze_file",
    "read_pupil_surface_csv",
    "read_tobii_tsv",
    "to_gaze_frame",
    "write_bids_physio",
]
