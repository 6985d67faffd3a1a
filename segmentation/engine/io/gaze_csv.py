"""The canonical gaze table and its CSV form ``observer,t_ms,frame,x,y``.

One row per tracker sample: ``observer`` (str), ``t_ms`` (float, from the start of playback),
``frame`` (int, 0-based frame shown), ``x`` (float, the column) and ``y`` (float, the row) in
image pixels with the origin at the top-left pixel centre; NaN ``x``/``y`` = lost sample.
Tracker readers (:mod:`segmentation.engine.trackers`) return the same table; pass theirs to
:func:`validate_gaze` to get the same checks. The table's index is the source line number
(``line``) so that later errors can name the line.
"""

from __future__ import annotations

import csv
import math
from array import array
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

GAZE_COLUMNS = ["observer", "t_ms", "frame", "x", "y"]
# Bounds of the canonical table's numbers (the platform stores nothing beyond them):
MAX_ABS_T_MS = 1e12  # |t_ms|, milliseconds from playback start (about 31 years)
MAX_ABS_COORDINATE = 1e7  # |x|, |y|, image pixels (glances off the image are kept)
MAX_FRAME = 2**31 - 1  # a frame index


def _float(value: str, *, allow_empty: bool) -> float:
    value = value.strip()
    if value == "" or value.lower() == "nan":
        if allow_empty:
            return math.nan
        raise ValueError("empty")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def _bounded(value: float, bound: float) -> float:
    if not abs(value) <= bound:
        raise ValueError("out of range")
    return value


def _read_header(path: Path, reader) -> tuple[list[str], dict[str, int]]:
    """The header (lower case) and the column index of each canonical column it has."""
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(
            f"{path}: empty file, expected a header observer,t_ms,frame,x,y"
        ) from None
    required = [c for c in GAZE_COLUMNS if c != "observer"]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f"{path}: line 1: missing column(s) {', '.join(missing)}; "
            f"header is {','.join(header)}, expected observer,t_ms,frame,x,y"
        )
    return header, {c: header.index(c) for c in GAZE_COLUMNS if c in header}


def _parse_frame(path: Path, line: int, fr: str) -> int:
    """A frame index: an integer (or an integral float) in [0, MAX_FRAME]."""
    try:
        frame = int(fr)
    except ValueError:
        try:
            f_val = float(fr)
        except ValueError:
            f_val = math.nan
        if not math.isfinite(f_val) or f_val != int(f_val):
            raise InputError(
                f"{path}: line {line}: frame {fr!r} is not an integer "
                "(expected the 0-based index of the frame shown)"
            ) from None
        frame = int(f_val)
    if frame < 0:
        raise InputError(f"{path}: line {line}: frame {frame} is negative")
    if frame > MAX_FRAME:
        raise InputError(f"{path}: line {line}: frame {fr[:40]} is not a frame number "
                         f"(at most {MAX_FRAME})")
    return frame


def _parse_xy(path: Path, line: int, row: list[str], idx: dict[str, int]) -> tuple[float, float]:
    """Gaze coordinates: two bounded numbers, or both NaN (empty) for a lost sample."""
    try:
        x = _float(row[idx["x"]], allow_empty=True)
        y = _float(row[idx["y"]], allow_empty=True)
        if not math.isnan(x):
            _bounded(x, MAX_ABS_COORDINATE)
        if not math.isnan(y):
            _bounded(y, MAX_ABS_COORDINATE)
    except ValueError:
        raise InputError(
            f"{path}: line {line}: x,y = {row[idx['x']][:40]!r},{row[idx['y']][:40]!r} are not "
            "numbers (expected pixel column,row within "
            f"±{MAX_ABS_COORDINATE:g}, or both empty for a lost sample)"
        ) from None
    if math.isnan(x) != math.isnan(y):
        raise InputError(
            f"{path}: line {line}: only one of x,y is empty; "
            "expected both (lost sample) or neither"
        )
    return x, y


def _parse_sample(path: Path, line: int, row: list[str], idx: dict[str, int]
                  ) -> tuple[float, int, float, float]:
    """``(t_ms, frame, x, y)`` of one row; an InputError names the line and the field."""
    try:
        t = _bounded(_float(row[idx["t_ms"]], allow_empty=False), MAX_ABS_T_MS)
    except ValueError:
        raise InputError(
            f"{path}: line {line}: t_ms {row[idx['t_ms']][:40]!r} is not a number "
            f"(expected milliseconds from the start of playback, within ±{MAX_ABS_T_MS:g})"
        ) from None
    frame = _parse_frame(path, line, row[idx["frame"]].strip())
    x, y = _parse_xy(path, line, row, idx)
    return t, frame, x, y


def read_gaze_csv(path, *, observer: str | None = None) -> pd.DataFrame:
    """Read a gaze CSV file ``observer,t_ms,frame,x,y`` (header required, any column order).

    Parameters
    ----------
    path : str or Path
    observer : str, optional
        Name to use when the file has no ``observer`` column (default: the file's stem).

    Returns
    -------
    pandas.DataFrame
        Columns ``observer`` (str), ``t_ms`` (float), ``frame`` (int), ``x``, ``y`` (float,
        NaN = lost sample); index ``line``: the 1-based line number in the file.

    Raises
    ------
    InputError
        Missing file or column, or a malformed row (the message names the line and the field).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such gaze file (expected a CSV observer,t_ms,frame,x,y)")
    # Typed arrays, not lists of Python floats: a row costs about 40 bytes, not 300.
    rows = {"observer": [], "t_ms": array("d"), "frame": array("q"), "x": array("d"), "y": array("d")}
    lines = array("q")
    names: dict[str, str] = {}  # one string object per observer name
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header, idx = _read_header(path, reader)
            default_name = observer or path.stem
            for row in reader:
                line = reader.line_num
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) != len(header):
                    raise InputError(
                        f"{path}: line {line}: {len(row)} fields, expected {len(header)} "
                        f"({','.join(header)})"
                    )
                t, frame, x, y = _parse_sample(path, line, row, idx)
                name = row[idx["observer"]].strip() if "observer" in idx else default_name
                name = name or default_name
                rows["observer"].append(names.setdefault(name, name))
                rows["t_ms"].append(t)
                rows["frame"].append(frame)
                rows["x"].append(x)
                rows["y"].append(y)
                lines.append(line)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text CSV file ({exc})") from exc
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL byte...
        where = f"line {reader.line_num}: " if reader is not None else ""
        raise InputError(f"{path}: {where}malformed CSV ({exc})") from exc
    df = pd.DataFrame(
        {
            # An array, not a Series: a Series would be aligned on the line-number index below
            # (its 0..n-1 labels against lines 2..n+1), shifting every name and leaving the
            # last rows' NaN.
            "observer": np.array(rows["observer"], dtype=object),
            "t_ms": np.frombuffer(rows["t_ms"], dtype=float),
            "frame": np.frombuffer(rows["frame"], dtype=np.int64),
            "x": np.frombuffer(rows["x"], dtype=float),
            "y": np.frombuffer(rows["y"], dtype=float),
        },
        index=pd.Index(np.frombuffer(lines, dtype=np.int64), name="line"),
    )
    df.attrs["source"] = str(path)
    df.attrs["observer_column"] = "observer" in idx  # names from the file, not the default
    if df.empty:
        raise InputError(f"{path}: no gaze samples after the header")
    return df


def gaze_csv_observers(gaze: pd.DataFrame) -> dict[str, int]:
    """The names of a gaze CSV's ``observer`` column, each with the first line it is on.

    Parameters
    ----------
    gaze : pandas.DataFrame
        A table from :func:`read_gaze_csv` (index: line numbers).

    Returns
    -------
    dict
        ``{name: first line}`` in the order met; empty when the file had no ``observer``
        column (the names are then the default, not the file's).
    """
    if not gaze.attrs.get("observer_column"):
        return {}
    first = gaze["observer"].reset_index().drop_duplicates("observer")
    return {str(name): int(line) for line, name in zip(first["line"], first["observer"], strict=True)}


def validate_gaze(gaze: pd.DataFrame, *, source: str = "gaze") -> pd.DataFrame:
    """Check a gaze table from any reader and return it with canonical dtypes.

    Raises
    ------
    InputError
        A column is missing or a value has the wrong type.
    """
    missing = [c for c in GAZE_COLUMNS if c not in gaze.columns]
    if missing:
        raise InputError(f"{source}: gaze table lacks column(s) {', '.join(missing)}; "
                         f"expected {', '.join(GAZE_COLUMNS)}")
    out = gaze.copy()
    try:
        out["t_ms"] = out["t_ms"].astype(float)
        out["x"] = out["x"].astype(float)
        out["y"] = out["y"].astype(float)
        frames = out["frame"].astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: gaze values must be numbers ({exc})") from exc
    if frames.isna().any() or (frames != np.round(frames)).any() or (frames < 0).any():
        bad = out.index[frames.isna() | (frames != np.round(frames)) | (frames < 0)][0]
        raise InputError(f"{source}: row {bad}: frame must be a non-negative integer")
    out["frame"] = frames.astype(np.int64)
    out["observer"] = out["observer"].astype(str)
    out.attrs.update(gaze.attrs)
    return out


def check_gaze_frames(gaze: pd.DataFrame, n_frames: int, *, source: str | None = None) -> None:
    """Raise :class:`InputError` naming the first row whose frame index is past the sequence.

    Parameters
    ----------
    gaze : DataFrame
        Canonical gaze table (index = line numbers when it came from :func:`read_gaze_csv`).
    n_frames : int
        T, the number of frames of the sequence.
    """
    src = source or gaze.attrs.get("source", "gaze")
    bad = gaze["frame"].to_numpy() >= n_frames
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        where = f"line {gaze.index[k]}" if gaze.index.name == "line" else f"row {k}"
        raise InputError(
            f"{src}: {where}: frame {int(gaze['frame'].iloc[k])} is past the end of the "
            f"sequence (it has {n_frames} frames, 0..{n_frames - 1})"
        )
