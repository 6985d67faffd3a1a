"""Pupil Labs surface-mapped gaze (``gaze_positions_on_surface_<name>.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .raw import MAX_ABS_SCREEN, MAX_ABS_TRACKER_MS, TrackerSamples

REQUIRED = ("gaze_timestamp", "x_norm", "y_norm")
# Pupil Labs' own guidance: samples under 0.6 confidence are unreliable.
MIN_CONFIDENCE = 0.6


def _numeric_columns(path: Path, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The numeric columns as float arrays, each value checked (the error names its line)."""
    numeric = {}
    for col in ("gaze_timestamp", "x_norm", "y_norm", "confidence"):
        if col not in table.columns:
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & table[col].notna() & (table[col].astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path.name}, line {row + 2}: column {col} must be a number, got {table[col].iloc[row]!r}"
            )
        numeric[col] = values.to_numpy(dtype=float)
    t = numeric["gaze_timestamp"] * 1000.0
    if np.isnan(t).any():
        row = int(np.flatnonzero(np.isnan(t))[0])
        raise InputError(f"{path.name}, line {row + 2}: a sample without gaze_timestamp")
    bad = ~(np.abs(t) <= MAX_ABS_TRACKER_MS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path.name}, line {row + 2}: gaze_timestamp {table['gaze_timestamp'].iloc[row]!r} is not "
                         f"a finite time within ±{MAX_ABS_TRACKER_MS / 1000:g} s")
    for col in ("x_norm", "y_norm", "confidence"):
        if col in numeric:
            values = numeric[col]
            bad = ~np.isnan(values) & ~(np.abs(values) <= MAX_ABS_SCREEN)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(f"{path.name}, line {row + 2}: {col} {table[col].iloc[row]!r} is not a finite "
                                 "number in range")
    numeric["t_ms"] = t
    return numeric


def read_pupil_surface_csv(path, *, min_confidence: float = MIN_CONFIDENCE) -> TrackerSamples:
    """Read gaze mapped onto a surface that covers the screen.

    ``x_norm, y_norm`` are fractions of the surface with the origin at its bottom-left corner;
    ``gaze_timestamp`` is Pupil time in seconds. A sample off the surface (``on_surf`` false) or
    under ``min_confidence`` is a lost sample. Pupil writes a gaze sample once per world-camera
    frame it overlaps, so repeated ``gaze_timestamp`` rows are kept once.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InputError(f"{path.name}: not a readable CSV file ({exc})") from exc
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise InputError(
            f"{path.name}, line 1: not a Pupil Labs surface gaze export: missing column(s) "
            f"{', '.join(missing)}"
        )
    numeric = _numeric_columns(path, table)
    t = numeric["t_ms"]
    x, y = numeric["x_norm"].copy(), numeric["y_norm"].copy()
    lost = np.zeros(len(t), dtype=bool)
    if "on_surf" in table.columns:
        lost |= ~table["on_surf"].astype(str).str.strip().str.lower().isin({"true", "1"}).to_numpy()
    if "confidence" in numeric:
        lost |= ~(numeric["confidence"] >= min_confidence)
    x[lost] = np.nan
    y[lost] = np.nan
    _, first = np.unique(t, return_index=True)  # sorted, one row per gaze sample
    if len(first) == 0:
        raise InputError(f"{path.name}: no gaze samples")
    return TrackerSamples(t_ms=t[first], x=x[first], y=y[first], units="norm", source=path.name)
