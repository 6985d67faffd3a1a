"""Observer quality: without ground truth (gaze statistics, agreement) and with it (ROC, F1).

Without reference masks, an observer is judged against the rest of the crowd:

* from the raw gaze table (``observer,t_ms,frame,x,y``; NaN ``x``/``y`` = lost sample), per
  recording: the fraction of valid samples, the fraction of frames with a gaze point, samples
  per frame, the dispersion of samples within a frame and the offset from the other observers'
  gaze on the same frame (:func:`gaze_quality`);
* from the per-recording estimates, the *agreement*: the AUC of the observer's estimate
  against the pooled estimate of everyone else, the pooled estimate taken as a soft reference
  (:func:`soft_auc`, :func:`agreement`);
* observers far below the rest on any of these (a robust z-score against the crowd's median)
  are flagged as likely non-compliant, with the reason (:func:`observer_quality`).

With reference masks, per-superpixel scores are scored pixel-wise without expanding them to
pixels: a superpixel with ``p`` object pixels and ``q`` background pixels counts as ``p``
positives and ``q`` negatives of one score (:func:`truth_counts`, :func:`weighted_roc`,
:func:`roc_metrics`); :func:`mean_roc` averages ROC curves with a standard-error band (the
paper's Fig. 5 left); :func:`subset_curve` gives a metric against the number of observers
pooled, averaged over subsets (Fig. 5 right). :func:`variance_components` separates the
variance within an observer (their repeats) from the variance between observers, and
:func:`uncertainty_map` is the per-superpixel variance of the observers' estimates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "FLAG_RULES",
    "ROC_GRID",
    "RocMetrics",
    "agreement",
    "gaze_quality",
    "mean_roc",
    "observer_quality",
    "roc_metrics",
    "soft_auc",
    "subset_curve",
    "top_fraction_auc",
    "truth_counts",
    "uncertainty_map",
    "variance_components",
    "weighted_roc",
]


# --------------------------------------------------------------------------------------------
# Weighted ROC: the workhorse for soft references and for superpixel-level scoring.


def weighted_roc(scores, pos_weight, neg_weight):
    """ROC curve of ``scores`` where item ``i`` counts as ``pos_weight[i]`` positives and
    ``neg_weight[i]`` negatives.

    Parameters
    ----------
    scores : (M,) array_like of float
    pos_weight, neg_weight : (M,) array_like of float >= 0

    Returns
    -------
    fpr, tpr : (K,) ndarray
        From (0, 0) to (1, 1), one point per distinct score (ties form one step).
    thresholds : (K,) ndarray
        Score at or above which items are called positive (``inf`` for the first point).
    tp, fp : (K,) ndarray
        Weighted true and false positives at each threshold.

    Raises
    ------
    ValueError
        When there are no positives or no negatives (the ROC is undefined).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    p = np.asarray(pos_weight, dtype=np.float64).ravel()
    n = np.asarray(neg_weight, dtype=np.float64).ravel()
    if not (s.shape == p.shape == n.shape):
        raise ValueError(
            f"scores, pos_weight and neg_weight must have one value per item; got shapes "
            f"{s.shape}, {p.shape}, {n.shape}"
        )
    P, N = p.sum(), n.sum()
    if P <= 0 or N <= 0:
        raise ValueError(
            f"the reference has {P:g} positives and {N:g} negatives; the ROC needs both"
        )
    order = np.argsort(-s, kind="stable")
    s, p, n = s[order], p[order], n[order]
    tp, fp = np.cumsum(p), np.cumsum(n)
    # Keep the last index of each run of equal scores: ties are one threshold.
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.r_[0.0, tp[last]]
    fp = np.r_[0.0, fp[last]]
    thresholds = np.r_[np.inf, s[last]]
    return fp / N, tp / P, thresholds, tp, fp


def _auc(fpr, tpr) -> float:
    return float(np.trapezoid(tpr, fpr))


def soft_auc(scores, reference, *, sample_weight=None) -> float:
    """AUC of ``scores`` against a soft reference in [0, 1].

    Item ``i`` counts as ``reference[i]`` of a positive and ``1 - reference[i]`` of a negative
    (times ``sample_weight[i]``, e.g. a superpixel's area): for a binary reference this is the
    ordinary ROC AUC, and it needs no threshold on a pooled probability.

    Parameters
    ----------
    scores, reference : (M,) array_like of float
    sample_weight : (M,) array_like of float, optional

    Returns
    -------
    float
        In [0, 1]; NaN when the reference is all 0 or all 1.
    """
    ref = np.clip(np.asarray(reference, dtype=np.float64).ravel(), 0.0, 1.0)
    w = np.ones_like(ref) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    try:
        fpr, tpr, *_ = weighted_roc(scores, ref * w, (1.0 - ref) * w)
    except ValueError:
        return math.nan
    return _auc(fpr, tpr)


def top_fraction_auc(scores, reference, *, top: float = 0.1, sample_weight=None) -> float:
    """AUC of ``scores`` against the top ``top`` fraction of ``reference`` taken as object.

    The reference (e.g. the pooled estimate of other observers) is thresholded so that a
    fraction ``top`` of the total ``sample_weight`` (pixels, with superpixel areas) lies at or
    above the threshold. Unlike :func:`soft_auc`, a dense estimate does not agree with the
    dense, low-confidence parts of the reference.

    Parameters
    ----------
    scores, reference : (M,) array_like of float
    top : float in (0, 1), default 0.1
    sample_weight : (M,) array_like, optional

    Returns
    -------
    float
        NaN when the thresholded reference has no positive or no negative.
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    w = np.ones_like(ref) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    order = np.argsort(-ref, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, top * cum[-1]))
    thr = ref[order[min(k, ref.size - 1)]]
    positive = (ref >= thr).astype(np.float64)
    return soft_auc(scores, positive, sample_weight=w)


@dataclass
class RocMetrics:
    """Pixel-wise scores of one estimate against reference masks.

    Attributes
    ----------
    auc : float
        ROC AUC.
    f1 : float
        Maximum F1 over thresholds (the authors' scoring).
    f1_fpr5 : float
        F1 at the threshold giving 5% false-positive rate (the paper's figures).
    fpr, tpr : (K,) ndarray
        The ROC curve.
    """

    auc: float
    f1: float
    f1_fpr5: float
    fpr: np.ndarray
    tpr: np.ndarray


def roc_metrics(scores, pos_weight, neg_weight) -> RocMetrics:
    """AUC, max F1, F1 at 5% FPR and the ROC curve of ``scores``.

    Parameters
    ----------
    scores : (M,) array_like of float
        Per superpixel (with ``pos_weight``/``neg_weight`` from :func:`truth_counts`) or per
        pixel (with ``pos_weight = truth`` and ``neg_weight = ~truth``).
    pos_weight, neg_weight : (M,) array_like of float >= 0
    """
    fpr, tpr, _, tp, fp = weighted_roc(scores, pos_weight, neg_weight)
    P = tp[-1]
    fn = P - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    # The last point at or below 5% FPR (the curve is a step function between thresholds).
    k = int(np.searchsorted(fpr, 0.05, side="right") - 1)
    return RocMetrics(
        auc=_auc(fpr, tpr), f1=float(f1.max()), f1_fpr5=float(f1[k]), fpr=fpr, tpr=tpr
    )


def truth_counts(labels, truth, n_segments: int | None = None):
    """Object and background pixel counts of each superpixel.

    Parameters
    ----------
    labels : (T, H, W) array_like of int
        Superpixel labels numbered 0..N-1 over the whole sequence.
    truth : (T, H, W) array_like of bool
        Reference masks.
    n_segments : int, optional
        N (default ``labels.max() + 1``).

    Returns
    -------
    pos, neg : (N,) ndarray of float
    """
    labels = np.asarray(labels)
    truth = np.asarray(truth).astype(bool)
    if labels.shape != truth.shape:
        raise ValueError(
            f"reference masks have shape {truth.shape} but the superpixel labels {labels.shape};"
            f" give one mask per frame of the sequence"
        )
    n = int(labels.max()) + 1 if n_segments is None else int(n_segments)
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n).astype(np.float64)
    pos = np.bincount(flat, weights=truth.ravel().astype(np.float64), minlength=n)
    return pos, size - pos


#: False-positive rates at which ROC curves are averaged and stored: 201 even steps plus 100
#: log-spaced ones from 1e-4, because pixel ROCs of small objects rise at tiny rates.
ROC_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 201), np.geomspace(1e-4, 1.0, 100)]))


def mean_roc(curves: Sequence[tuple[np.ndarray, np.ndarray]], *, grid=None):
    """Mean ROC curve over observers with its standard-error band.

    Parameters
    ----------
    curves : sequence of (fpr, tpr) pairs of (K_i,) arrays
    grid : (G,) array_like, optional
        False-positive rates at which to average (default :data:`ROC_GRID`). With one curve
        this resamples it (a compact curve for tables and plots).

    Returns
    -------
    grid, mean, se : (G,) ndarray
        TPR averaged over curves (each interpolated on the grid; at a vertical step the upper
        value) and its standard error (std with ddof 1 over sqrt(count); 0 for one curve).
    """
    grid = ROC_GRID if grid is None else np.asarray(grid, float)
    rows = []
    for fpr, tpr in curves:
        fpr, tpr = np.asarray(fpr, float), np.asarray(tpr, float)
        # np.interp needs increasing x; on vertical steps take the highest TPR at that FPR.
        ux, inv = np.unique(fpr, return_inverse=True)
        uy = np.zeros_like(ux)
        np.maximum.at(uy, inv, tpr)
        rows.append(np.interp(grid, ux, uy))
    tprs = np.array(rows)
    mean = tprs.mean(axis=0)
    se = tprs.std(axis=0, ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else np.zeros_like(mean)
    return grid, mean, se


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (ddof 1) of finite ``values``; SE is NaN for fewer than two."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se


def subset_curve(
    observers: Sequence[str],
    evaluate: Callable[[list[str]], float],
    *,
    max_subsets: int = 10,
    sizes: Sequence[int] | None = None,
    rng=0,
    progress: Callable[[str, float], None] | None = None,
) -> pd.DataFrame:
    """A metric against the number of observers pooled, averaged over subsets (Fig. 5 right).

    Parameters
    ----------
    observers : sequence of str
        Distinct observer names.
    evaluate : callable(list of str) -> float
        Runs the method on the recordings of the given observers and returns the metric
        (e.g. the AUC of pooled EEL).
    max_subsets : int, default 10
        For each size k, all C(n, k) subsets when there are at most this many, otherwise this
        many distinct subsets drawn at random.
    sizes : sequence of int, optional
        Subset sizes (default 1..n).
    rng : int or numpy.random.Generator
    progress : callable(stage, fraction), optional

    Returns
    -------
    pandas.DataFrame
        Columns ``n_observers``, ``mean``, ``se``, ``n_subsets``, ``values`` (list).
    """
    rng = np.random.default_rng(rng)
    obs = list(dict.fromkeys(observers))
    n = len(obs)
    sizes = list(range(1, n + 1)) if sizes is None else [int(k) for k in sizes]
    plan = []
    for k in sizes:
        if not 1 <= k <= n:
            raise ValueError(f"subset size {k} is outside 1..{n} (the number of observers)")
        if math.comb(n, k) <= max_subsets:
            subsets = [list(c) for c in itertools.combinations(obs, k)]
        else:
            seen: set[tuple[int, ...]] = set()
            while len(seen) < max_subsets:
                seen.add(tuple(sorted(rng.choice(n, size=k, replace=False).tolist())))
            subsets = [[obs[i] for i in c] for c in sorted(seen)]
        plan.append((k, subsets))
    total = sum(len(s) for _, s in plan)
    done = 0
    rows = []
    for k, subsets in plan:
        values = []
        for subset in subsets:
            values.append(float(evaluate(subset)))
            done += 1
            if progress is not None:
                progress("subsets", done / total)
        m, se = mean_se(values)
        rows.append({"n_observers": k, "mean": m, "se": se, "n_subsets": len(values),
                     "values": values})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Variance between and within observers.


def _group(observers: Sequence[str]) -> dict[str, np.ndarray]:
    names = [str(o) for o in observers]
    return {o: np.array([i for i, n in enumerate(names) if n == o])
            for o in dict.fromkeys(names)}


def observer_means(estimates, observers: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Each observer's mean estimate over their recordings: names and a (J, N) array."""
    est = np.asarray(estimates, dtype=np.float64)
    groups = _group(observers)
    return list(groups), np.array([est[idx].mean(axis=0) for idx in groups.values()])


def uncertainty_map(estimates, observers: Sequence[str]) -> np.ndarray:
    """Per superpixel (or pixel), the variance of the observers' estimates.

    Parameters
    ----------
    estimates : (R, ...) array_like of float
        One estimate per recording (e.g. (R, N) per superpixel or (R, T, H, W) per pixel).
    observers : sequence of R str

    Returns
    -------
    (...) ndarray
        Variance (ddof 0) over observers of each observer's mean estimate; zeros for one
        observer. Index it with the superpixel labels for a (T, H, W) map.
    """
    _, means = observer_means(estimates, observers)
    return means.var(axis=0)


def variance_components(estimates, observers: Sequence[str], *, sample_weight=None) -> dict:
    """Separate the variance within observers (their repeats) from that between observers.

    At each superpixel, the within-observer variance is the pooled variance of recordings
    around their observer's mean (observers with two or more recordings only, ddof 1 each);
    the between-observer variance is the variance (ddof 1) of the observers' means. Both are
    averaged over superpixels with ``sample_weight`` (e.g. areas: a pixel-wise average).

    Parameters
    ----------
    estimates : (R, N) array_like of float
    observers : sequence of R str
    sample_weight : (N,) array_like, optional

    Returns
    -------
    dict
        ``within`` (float, NaN when no observer has repeats), ``between`` (NaN for one
        observer), ``within_share`` = within / (within + between), ``per_observer_within``
        (observer -> float or NaN without repeats), ``n_observers``, ``n_recordings``,
        ``n_repeated`` (observers with repeats), ``within_map`` and ``between_map`` ((N,)).
    """
    est = np.asarray(estimates, dtype=np.float64)
    R, N = est.shape
    w = np.ones(N) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    w = w / w.sum()
    groups = _group(observers)
    means = np.array([est[idx].mean(axis=0) for idx in groups.values()])
    ss = np.zeros(N)
    dof = 0
    per_obs = {}
    for o, idx in groups.items():
        if len(idx) < 2:
            per_obs[o] = math.nan
            continue
        dev = ((est[idx] - est[idx].mean(axis=0)) ** 2).sum(axis=0)
        per_obs[o] = float(w @ (dev / (len(idx) - 1)))
        ss += dev
        dof += len(idx) - 1
    within_map = ss / dof if dof else np.full(N, np.nan)
    between_map = means.var(axis=0, ddof=1) if len(groups) > 1 else np.full(N, np.nan)
    within = float(w @ within_map) if dof else math.nan
    between = float(w @ between_map) if len(groups) > 1 else math.nan
    share = within / (within + between) if np.isfinite(within + between) and within + between > 0 \
        else math.nan
    return {
        "within": within,
        "between": between,
        "within_share": share,
        "per_observer_within": per_obs,
        "n_observers": len(groups),
        "n_recordings": R,
        "n_repeated": sum(len(i) > 1 for i in groups.values()),
        "within_map": within_map,
        "between_map": between_map,
    }


# --------------------------------------------------------------------------------------------
# Quality without ground truth.


def agreement(
    estimates, observers: Sequence[str], *, pool="mean", sample_weight=None, top=0.1
) -> dict[str, float]:
    """Each observer's agreement with the rest of the crowd.

    For every recording of observer ``j``: the AUC of its estimate against the pooled
    estimate of the *other* observers (all of ``j``'s recordings left out), that pooled
    estimate reduced to its top ``top`` fraction of pixels (:func:`top_fraction_auc`), or
    taken as a soft reference with ``top=None`` (:func:`soft_auc`); an observer's agreement
    is the mean over their recordings.

    Parameters
    ----------
    estimates : (R, N) array_like of float in [0, 1]
    observers : sequence of R str
    pool : str or pool object, default "mean"
        How the others are pooled (a name of :data:`~segmentation.engine.pooling.POOLS` or an
        unfitted pool; it is cloned by name and parameters, not refitted in place).
    sample_weight : (N,) array_like, optional
        Superpixel areas, for a pixel-wise AUC.
    top : float in (0, 1) or None, default 0.1
        Fraction of the pixels taken as the object in the others' pooled estimate. A soft
        reference (None) is dominated by the dense low-confidence background of the pool, in
        which a dense, sloppy estimate agrees well; the thresholded one is not.

    Returns
    -------
    dict
        Observer -> agreement in [0, 1] (NaN when there is no other observer).
    """
    from .pooling import BasePool, make_pool

    est = np.asarray(estimates, dtype=np.float64)
    groups = _group(observers)
    names = [str(o) for o in observers]

    def fresh():
        if isinstance(pool, BasePool):
            return type(pool)(**pool.get_params())
        return make_pool(pool)

    out = {}
    for o, idx in groups.items():
        others = np.setdiff1d(np.arange(len(names)), idx)
        if others.size == 0:
            out[o] = math.nan
            continue
        ref = fresh().fit_predict(est[others], [names[i] for i in others],
                                  sample_weight=sample_weight)
        if top is None:
            values = [soft_auc(est[r], ref, sample_weight=sample_weight) for r in idx]
        else:
            values = [top_fraction_auc(est[r], ref, top=top, sample_weight=sample_weight)
                      for r in idx]
        out[o] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return out


def _frame_centres(df: pd.DataFrame) -> pd.DataFrame:
    """Median valid gaze point per frame (columns frame, x, y)."""
    return df.groupby("frame")[["x", "y"]].median().reset_index()


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
        notes = getattr(pool, "notes_", {})
        table["flagged"] = [o in pool.flagged_ for o in table.index]
        table["flag_reason"] = [pool.flag_reasons_.get(o, "") for o in table.index]
        table["note"] = ["; ".join([*(f"differs from the crowd: {r}" for r in reasons.get(o, [])),
                                    *([notes[o]] if o in notes else [])])
                         for o in table.index]
        return table
    table["flagged"] = [bool(reasons.get(o)) for o in table.index]
    table["flag_reason"] = ["; ".join(reasons.get(o, [])) for o in table.index]
    return table
