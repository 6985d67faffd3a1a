"""Observer quality without reference masks: gaze statistics, agreement, flags and reasons.

An observer is judged against the rest of the crowd:

* from the raw gaze table (``observer,t_ms,frame,x,y``; NaN ``x``/``y`` = lost sample), per
  recording: the fraction of valid samples, the fraction of frames with a gaze point, samples
  per frame, the dispersion of samples within a frame and the offset from the other observers'
  gaze on the same frame (:func:`gaze_quality`);
* from the per-recording estimates, the agreement with the others
  (:func:`segmentation.engine.agreement.agreement`);
* observers far below the rest on any of these (a robust z-score against the crowd's median)
  are flagged as likely non-compliant, with the reason (:func:`observer_quality`).

Scores against reference masks (ROC, F1) are :mod:`segmentation.engine.metrics`'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .agreement import agreement
from .compliance import observer_flags

__all__ = ["FLAG_RULES", "PX_FLOOR", "gaze_quality", "observer_quality"]


def _frame_centres(df: pd.DataFrame) -> pd.DataFrame:
    """Median valid gaze point per frame (columns frame, x, y)."""
    return df.groupby("frame")[["x", "y"]].median().reset_index()


def _recording_tables(recordings) -> list[pd.DataFrame]:
    """One checked gaze table per recording (a single table is split by recording or observer)."""
    if isinstance(recordings, pd.DataFrame):
        key = "recording" if "recording" in recordings.columns else "observer"
        recordings = [g for _, g in recordings.groupby(key, sort=False)]
    recs = []
    for i, df in enumerate(recordings):
        missing = {"observer", "frame", "x", "y"} - set(df.columns)
        if missing:
            raise ValueError(
                f"gaze recording {i} lacks column(s) {sorted(missing)}; expected observer, "
                f"t_ms, frame, x, y"
            )
        if df["observer"].nunique() > 1:
            raise ValueError(
                f"gaze recording {i} mixes observers {sorted(df['observer'].unique())}; give "
                f"one table per recording"
            )
        recs.append(df)
    return recs


def gaze_quality(
    recordings,
    *,
    n_frames: int | None = None,
    image_shape: tuple[int, int] | None = None,
    px_per_degree: float | None = None,
) -> pd.DataFrame:
    """Gaze statistics per recording, from the canonical gaze table.

    Parameters
    ----------
    recordings : DataFrame or sequence of DataFrame
        Gaze tables with columns ``observer, t_ms, frame, x, y`` (x = column, y = row in image
        pixels; NaN = lost sample), one per recording. A single table is split into one
        recording per observer (or per value of a ``recording`` column if it has one).
    n_frames : int, optional
        Frames in the sequence (default: one past the largest frame index seen).
    image_shape : (H, W), optional
        Samples outside the image count as invalid.
    px_per_degree : float, optional
        Also give dispersion and offset in degrees of visual angle.

    Returns
    -------
    pandas.DataFrame
        One row per recording: ``recording`` (index in input order), ``observer``,
        ``samples``, ``valid_fraction``, ``frames_with_gaze`` (fraction of frames with a
        valid sample), ``samples_per_frame`` (valid samples per frame with any),
        ``dispersion_px`` (median over frames of the RMS distance of a frame's samples to
        their median), ``offset_px`` (median over frames of the distance between this
        recording's median point and the median of the other observers' points on that
        frame; NaN without another observer) and, with ``px_per_degree``, ``dispersion_deg``
        and ``offset_deg``.
    """
    recs = _recording_tables(recordings)
    if n_frames is None:
        n_frames = int(max((d["frame"].max() for d in recs if len(d)), default=-1)) + 1
    valid_tables = []
    for df in recs:
        ok = np.isfinite(df["x"].to_numpy(float)) & np.isfinite(df["y"].to_numpy(float))
        if image_shape is not None:
            H, W = image_shape
            x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
            with np.errstate(invalid="ignore"):
                ok &= (x >= -0.5) & (x <= W - 0.5) & (y >= -0.5) & (y <= H - 0.5)
        valid_tables.append(df.loc[ok, ["frame", "x", "y"]])
    centres = [_frame_centres(v) for v in valid_tables]
    names = [str(df["observer"].iloc[0]) if len(df) else f"recording-{i}"
             for i, df in enumerate(recs)]
    rows = []
    for i, (df, v, c) in enumerate(zip(recs, valid_tables, centres)):
        samples = len(df)
        per_frame = v.groupby("frame").size()
        if len(v):
            med = v.groupby("frame")[["x", "y"]].transform("median")
            d2 = (v["x"] - med["x"]) ** 2 + (v["y"] - med["y"]) ** 2
            dispersion = float(np.sqrt(d2.groupby(v["frame"]).mean()).median())
        else:
            dispersion = math.nan
        others = [centres[j] for j in range(len(recs)) if names[j] != names[i]]
        offset = math.nan
        if others and len(c):
            ref = pd.concat(others).groupby("frame")[["x", "y"]].median()
            both = c.merge(ref.add_suffix("_ref").reset_index(), on="frame", how="inner")
            if len(both):
                offset = float(np.hypot(both["x"] - both["x_ref"],
                                        both["y"] - both["y_ref"]).median())
        row = {
            "recording": i,
            "observer": names[i],
            "samples": samples,
            "valid_fraction": len(v) / samples if samples else math.nan,
            "frames_with_gaze": per_frame.size / n_frames if n_frames else math.nan,
            "samples_per_frame": float(per_frame.mean()) if per_frame.size else 0.0,
            "dispersion_px": dispersion,
            "offset_px": offset,
        }
        if px_per_degree:
            row["dispersion_deg"] = dispersion / px_per_degree
            row["offset_deg"] = offset / px_per_degree
        rows.append(row)
    return pd.DataFrame(rows)


#: Flagging rules: column, direction ("low" = low is bad), smallest robust scale (so that a
#: tight crowd does not flag an observer for a trivial difference), and a label for reasons.
#: Without ``px_per_degree`` the ``_deg`` rules apply to the ``_px`` columns with a floor of
#: ``PX_FLOOR`` pixels.
FLAG_RULES: list[tuple[str, str, float, str]] = [
    ("agreement", "low", 0.02, "agreement with the others (AUC)"),
    ("valid_fraction", "low", 0.05, "fraction of valid samples"),
    ("frames_with_gaze", "low", 0.05, "fraction of frames with a gaze point"),
    ("offset_deg", "high", 0.25, "offset from the others' gaze (deg)"),
    ("dispersion_deg", "high", 0.25, "dispersion within a frame (deg)"),
]
PX_FLOOR = 3.0


def _robust_flags(table: pd.DataFrame, k: float) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = {o: [] for o in table.index}
    if len(table) < 3:
        return reasons
    rules = []
    for col, direction, floor, label in FLAG_RULES:
        if col.endswith("_deg") and col not in table.columns:
            col, floor, label = col[:-4] + "_px", PX_FLOOR, label.replace("(deg)", "(px)")
        rules.append((col, direction, floor, label))
    for col, direction, floor, label in rules:
        if col not in table.columns:
            continue
        v = table[col].astype(float)
        fin = v[np.isfinite(v)]
        if len(fin) < 3:
            continue
        med = float(fin.median())
        scale = max(1.4826 * float((fin - med).abs().median()), floor)
        limit = med - k * scale if direction == "low" else med + k * scale
        for o, x in fin.items():
            if (direction == "low" and x < limit) or (direction == "high" and x > limit):
                side = "below" if direction == "low" else "above"
                reasons[o].append(
                    f"{label} {x:.3g} is far {side} the crowd's median {med:.3g} "
                    f"(limit {limit:.3g})"
                )
    return reasons


def observer_quality(
    *,
    gaze=None,
    estimates=None,
    observers: Sequence[str] | None = None,
    n_frames: int | None = None,
    image_shape: tuple[int, int] | None = None,
    px_per_degree: float | None = None,
    sample_weight=None,
    pool=None,
    agreement_pool="mean",
    k: float = 3.0,
) -> pd.DataFrame:
    """Per-observer quality without ground truth, with flags and their reasons.

    Parameters
    ----------
    gaze : DataFrame or sequence of DataFrame, optional
        The recordings' gaze tables (see :func:`gaze_quality`).
    estimates : (R, N) array_like of float in [0, 1], optional
        Per-recording estimates, for the agreement.
    observers : sequence of R str, optional
        Observer of each row of ``estimates`` (required with ``estimates``).
    n_frames, image_shape, px_per_degree
        See :func:`gaze_quality`. Without ``px_per_degree`` the degree rules of
        :data:`FLAG_RULES` use the pixel columns (floor ``PX_FLOOR`` pixels).
    sample_weight : (N,) array_like, optional
        Superpixel areas.
    pool : fitted pool, optional
        Its ``weights_`` become the ``weight`` column and its flags are added.
    agreement_pool : str or pool, default "mean"
        How everyone else is pooled for the agreement.
    k : float, default 3.0
        An observer is flagged when a statistic lies more than ``k`` robust standard
        deviations (1.4826 x MAD, at least the rule's floor) on the bad side of the median.

    Returns
    -------
    pandas.DataFrame
        Index ``observer`` (input order); columns ``recordings`` and the means over each
        observer's recordings of the :func:`gaze_quality` statistics, ``agreement``,
        ``weight`` (NaN without a pool), ``flagged`` (bool), ``flag_reason`` (str, "" if not).
        With a ``pool``, ``flagged`` and ``flag_reason`` are the pool's (non-compliance by the
        observer's own gaze) and the crowd-relative findings go to a ``note`` column instead.
    """
    parts = []
    if gaze is not None:
        g = gaze_quality(gaze, n_frames=n_frames, image_shape=image_shape,
                         px_per_degree=px_per_degree)
        agg = g.drop(columns=["recording"]).groupby("observer", sort=False)
        table = agg.mean(numeric_only=True)
        table.insert(0, "recordings", agg.size())
        parts.append(table)
    if estimates is not None:
        if observers is None:
            raise ValueError("observers must name the recording of each row of estimates")
        ag = agreement(estimates, observers, pool=agreement_pool, sample_weight=sample_weight)
        counts = pd.Series([str(o) for o in observers]).value_counts()
        a = pd.DataFrame({"agreement": pd.Series(ag)})
        if not parts:
            a.insert(0, "recordings", counts.reindex(a.index).to_numpy())
        parts.append(a)
    if not parts:
        raise ValueError("give gaze tables, estimates, or both")
    table = parts[0] if len(parts) == 1 else parts[0].join(parts[1], how="outer")
    if len(parts) == 2:
        order = list(dict.fromkeys([str(o) for o in observers]))
        table = table.reindex(list(dict.fromkeys(list(parts[0].index) + order)))
    table.index.name = "observer"
    reasons = _robust_flags(table, k)
    table["weight"] = math.nan
    if pool is not None:
        # The pool's flags are the run's flags (the same in the report, the results page and
        # the API): only non-compliance by the observer's own gaze. Differences from the crowd
        # are shown as notes: a crowd may share a mistake while one observer is right.
        for o, w in pool.weights_.items():
            if o in table.index:
                table.loc[o, "weight"] = w
        # The flags, reasons and notes are the pool's (compliance.observer_flags, shared with
        # the run's summary and the results page); differences from the crowd are measured
        # here, shown in a column of their own and never as a flag.
        said = observer_flags(pool)
        blank = {"flagged": False, "reason": "", "note": ""}
        table["flagged"] = [said.get(str(o), blank)["flagged"] for o in table.index]
        table["flag_reason"] = [said.get(str(o), blank)["reason"] for o in table.index]
        table["note"] = [said.get(str(o), blank)["note"] for o in table.index]
        table["differs_from_crowd"] = ["; ".join(reasons.get(o, [])) for o in table.index]
        return table
    table["flagged"] = [bool(reasons.get(o)) for o in table.index]
    table["flag_reason"] = ["; ".join(reasons.get(o, [])) for o in table.index]
    return table
