"""Crowd reports: per-observer quality and weights, ROC with standard-error bands, AUC against
the number of observers pooled, variance within and between observers, uncertainty maps.

Three layers, each usable alone:

* :func:`crowd_analysis` runs the engine (each method on each observer alone, subsets of
  observers) and returns the arrays a report needs;
* :func:`build_report` turns arrays into a :class:`ReportData` (tables, curves, summary), no
  file and no engine run involved: the web platform calls it with arrays from its database;
* :func:`write_report` writes ``report.html`` (self-contained), ``observers.csv``,
  ``curves.csv``, ``summary.json`` and each figure as PNG and SVG.

:func:`write_run_report` is the quick path for a finished run: no extra engine run, just the
run's estimates, pool and pooled scores; :func:`write_chunked_report` the same for a chunked
run, read from its chunk folder with its memory flat in the sequence's length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis import crowd_analysis, estimate_matrix, recording_names
from .chunked import write_chunked_report
from .data import ReportData, build_report
from .figures import build_figures
from .render import render_html, write_report

__all__ = [
    "ReportData",
    "build_figures",
    "build_report",
    "crowd_analysis",
    "delivered_summary",
    "render_html",
    "write_chunked_report",
    "write_report",
    "write_run_report",
]


def write_run_report(
    out_dir,
    *,
    prepared,
    estimates,
    result=None,
    frames=None,
    truth=None,
    gaze=None,
    name: str = "",
    px_per_degree: float | None = None,
    svg: bool = True,
) -> dict[str, Path]:
    """Report of a finished run without any extra engine run.

    Parameters
    ----------
    out_dir : str or Path
    prepared : PreparedFrames
        For the superpixel labels and areas.
    estimates : sequence of EstimateResult
        One per recording (``.scores``, ``.observer``).
    result : SegmentationResult, optional
        The run: its fitted ``pool`` is reported, and its ``sp_scores`` scored as the pooled
        method when ``truth`` is given.
    frames : (T, H, W[, 3]) ndarray, optional
    truth : (T, H, W) bool ndarray or ((K, H, W) masks, K frame indices), optional
    gaze : sequence of DataFrame, optional
        The recordings' gaze tables, in the order of ``estimates``.
    name : str
        Sequence name for the title.
    px_per_degree : float, optional
        Default: ``prepared.px_per_degree``.
    svg : bool, default True
        Also write each figure as SVG.

    Returns
    -------
    dict
        File name -> path (see :func:`write_report`).
    """
    pooled_scores = None
    if result is not None and getattr(result, "sp_scores", None) is not None:
        pooled_scores = {getattr(result, "method", None) or "eel": result.sp_scores}
    delivered = delivered_summary(result, truth)
    report = build_report(
        estimates=estimate_matrix(estimates),
        observers=recording_names(estimates),
        labels=prepared.labels,
        sizes=getattr(prepared, "sizes", None),
        frames=frames,
        truth=truth,
        gaze=gaze,
        pool=getattr(result, "pool", None),
        pooled_scores=pooled_scores,
        px_per_degree=px_per_degree or getattr(prepared, "px_per_degree", None),
        title=f"Crowd report: {name}" if name else "Crowd report",
        delivered=delivered,
        delivered_masks=getattr(result, "masks", None),
    )
    return write_report(report, out_dir, svg=svg)


def delivered_summary(result, truth) -> dict:
    """The delivered masks' summary: their cut and, with reference masks, their scores.

    ``truth``: (T, H, W) masks, or ((K, H, W) masks, K frame indices), or None. Empty for a
    result without masks.
    """
    if result is None or getattr(result, "masks", None) is None:
        return {}
    from ..pipeline import evaluate

    out = {"method": result.method, "threshold": float(result.threshold),
           "threshold_rule": getattr(result, "threshold_rule", ""),
           "predicted_fraction": float(np.count_nonzero(result.masks)) / result.masks.size}
    if truth is not None:
        if isinstance(truth, tuple):
            masks, frames = truth
            out.update(evaluate(result, masks, frames=list(frames)))
        else:
            out.update(evaluate(result, truth))
    return out
