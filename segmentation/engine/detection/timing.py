"""The labelling-time study: time per label by mode and what gaze labelling saves.

Mariam et al. (IEEE JBHI 2022) report that labelling by gaze took 57.6% less time per label
than drawing boxes and 85% less than drawing freehand outlines. :func:`timing_report` computes
the same numbers from a long table with one row per label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

#: Labelling modes: by gaze, by drawing a bounding box, by drawing a freehand outline.
MODES = ("gaze", "box", "freehand")


@dataclass(frozen=True)
class TimingReport:
    """Time per label by mode.

    Attributes
    ----------
    per_mode : pandas.DataFrame
        Indexed by mode (those of :data:`MODES` present, in that order, then any other), with
        columns ``n`` (labels), ``mean``, ``median``, ``std`` (seconds per label), ``ci_low``,
        ``ci_high`` (the confidence interval of the mean, Student t; NaN with one label).
    savings : dict
        ``{mode: percent}`` for every mode other than ``reference``: how much less time per
        label the reference mode takes, ``100 * (1 - mean_reference / mean_mode)`` (negative
        when the reference is slower).
    confidence : float
        The level of the intervals.
    reference : str
        The mode the savings are of (``"gaze"``).
    """

    per_mode: pd.DataFrame
    savings: dict
    confidence: float
    reference: str

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (modes -> statistics, savings in percent)."""
        return {
            "confidence": self.confidence,
            "reference": self.reference,
            "per_mode": {m: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                         for m, row in self.per_mode.to_dict(orient="index").items()},
            "savings_percent": {m: (None if pd.isna(v) else float(v))
                                for m, v in self.savings.items()},
        }


def timing_report(
    labels: pd.DataFrame,
    *,
    mode_column: str = "mode",
    time_column: str = "seconds",
    reference: str = "gaze",
    confidence: float = 0.95,
    modes: Sequence[str] = MODES,
) -> TimingReport:
    """Mean, median and confidence interval of the time per label, by mode, and the savings.

    Parameters
    ----------
    labels : pandas.DataFrame
        One row per label: at least ``mode_column`` (one of ``modes``, e.g. gaze, box,
        freehand) and ``time_column`` (the time the label took, seconds, >= 0). Other columns
        (image, observer) are ignored.
    mode_column, time_column : str
        Column names.
    reference : str
        The mode whose savings are reported against each other mode (gaze).
    confidence : float
        Level of the Student-t interval of each mean, in (0, 1).
    modes : sequence of str
        The allowed modes (their order is the order of the report).

    Returns
    -------
    TimingReport

    Raises
    ------
    InputError
        A column is missing, a time is negative or not a number, or a mode is unknown.
    """
    for col in (mode_column, time_column):
        if col not in labels.columns:
            raise InputError(f"label table has no column {col!r} (columns: "
                             f"{', '.join(map(str, labels.columns))})")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie in (0, 1), got {confidence}")
    times = pd.to_numeric(labels[time_column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(times) | (times < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"label table row {row}: {time_column}={labels[time_column].iloc[row]!r} "
                         "is not a time in seconds >= 0")
    mode_values = labels[mode_column].astype(str).to_numpy()
    unknown = sorted(set(mode_values) - set(modes))
    if unknown:
        raise InputError(f"unknown labelling mode(s) {', '.join(unknown)} (expected one of "
                         f"{', '.join(modes)})")
    rows = {}
    for mode in modes:
        t = times[mode_values == mode]
        if t.size == 0:
            continue
        mean = float(t.mean())
        std = float(t.std(ddof=1)) if t.size > 1 else float("nan")
        if t.size > 1:
            half = float(stats.t.ppf(0.5 + confidence / 2, t.size - 1)) * std / np.sqrt(t.size)
            lo, hi = mean - half, mean + half
        else:
            lo = hi = float("nan")
        rows[mode] = {"n": int(t.size), "mean": mean, "median": float(np.median(t)),
                      "std": std, "ci_low": lo, "ci_high": hi}
    per_mode = pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["n", "mean", "median", "std", "ci_low", "ci_high"])
    per_mode.index.name = mode_column
    savings = {}
    if reference in rows:
        ref = rows[reference]["mean"]
        for mode, r in rows.items():
            if mode != reference:
                savings[mode] = 100.0 * (1.0 - ref / r["mean"]) if r["mean"] > 0 else float("nan")
    return TimingReport(per_mode=per_mode, savings=savings, confidence=confidence,
                        reference=reference)
