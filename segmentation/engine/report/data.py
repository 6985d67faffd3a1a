"""The crowd report as data: tables, curves and summary numbers, from arrays only.

:func:`build_report` takes what a run already has in memory (per-recording estimates, the
superpixel labels, optional reference masks, optional per-observer method scores) and returns
a :class:`ReportData`. It reads and writes no file, so the command line and the web platform
(which loads the same arrays from its database) both call it; :func:`.write_report` then
writes the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..agreement import observer_means, variance_components
from ..compliance import observer_flags, recording_compliance
from ..metrics import mean_roc, mean_se, roc_metrics, truth_counts
from ..pooling import DEFAULT_POOL, BasePool, make_pool
from ..quality import observer_quality

#: Order of the single-observer methods in tables and figures.
METHOD_ORDER = ("probability", "el", "eel", "vilarino")


@dataclass
class ReportData:
    """Everything a crowd report shows, before rendering.

    Attributes
    ----------
    title : str
    observers : pandas.DataFrame
        One row per observer (the ``observers.csv`` table): ``observer``, ``recordings``,
        ``weight``, ``flagged``, ``flag_reason``, ``agreement``, gaze statistics when gaze was
        given, ``within_variance`` and, with reference masks, ``auc_<method>``, ``f1_<method>``
        and ``f1_fpr5_<method>`` for each method run on that observer alone.
    curves : pandas.DataFrame
        Long table (``curves.csv``): ``curve`` ("roc", "roc_mean", "roc_pooled",
        "auc_vs_observers"), ``method``, ``observer`` ("" for aggregates), ``x``, ``y``, ``se``.
        ROC curves are resampled on :data:`~segmentation.engine.metrics.ROC_GRID` (FPR).
    summary : dict
        Scalars: ``pool`` (method, weights, flagged), counts, ``variance`` (within, between,
        within_share), per method ``single`` mean and SE of AUC/F1 over observers and
        ``pooled`` AUC/F1, and ``delivered``: what the user downloads (method, threshold and
        its rule, predicted fraction; with reference masks its Dice and IoU, Dice at other
        cuts and the calibration error of the score map).
    uncertainty : (N,) ndarray
        Per-superpixel variance of the observers' mean estimates.
    pooled : (N,) ndarray
        The pooled estimate.
    labels : (T, H, W) ndarray, lazy stack or None
        A lazy stack (``.shape``, ``.max()``, ``[t]``, ``[list]``) for a chunked run.
    frames : (T, H, W[, 3]) ndarray, lazy stack or None
    truth : SparseMasks or None
        Reference masks as a (T, H, W) stack: ``truth[t]`` is False on frames without one.
    subsets : pandas.DataFrame or None
        :func:`~segmentation.engine.agreement.subset_curve` output, if computed.
    masks : (T, H, W) bool ndarray, lazy stack or None
        The delivered masks (what the user downloads), for the figure that outlines them on
        the frames.
    notes : list of str
        Sentences shown under the summary (what was and was not computed).
    """

    title: str
    observers: pd.DataFrame
    curves: pd.DataFrame
    summary: dict
    uncertainty: np.ndarray
    pooled: np.ndarray
    labels: np.ndarray | None = None
    frames: np.ndarray | None = None
    truth: np.ndarray | None = None
    subsets: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    masks: np.ndarray | None = None


def _scorer(labels, truth, mask_frames, n):
    """Return ``score(values) -> RocMetrics`` for (N,) superpixel or (T, H, W) pixel values,
    scored on the frames ``mask_frames`` that have reference masks ``truth`` (K, H, W)."""
    pos = neg = None
    if isinstance(labels, np.ndarray):
        pos, neg = truth_counts(labels[mask_frames], truth, n)
    elif labels is not None:
        # A lazy stack (a chunked run): one frame at a time, not every reference frame's
        # labels at once.
        pos, neg = np.zeros(n), np.zeros(n)
        for t, mask in zip(mask_frames, truth):
            p, q = truth_counts(labels[t][None], mask[None], n)
            pos += p
            neg += q

    def score(values):
        v = np.asarray(values, dtype=np.float64)
        if pos is not None and v.shape == (n,):
            return roc_metrics(v, pos, neg)
        if v.ndim != 3 or v[mask_frames].shape != truth.shape:
            raise ValueError(
                f"scores of shape {v.shape} fit neither the {n} superpixels nor the reference "
                f"masks {truth.shape} on frames {mask_frames[:5]}..."
            )
        t = truth.ravel()
        return roc_metrics(v[mask_frames].ravel(), t, ~t)

    return score


def _normalise_truth(truth, labels):
    """(K, H, W) bool masks and their frame indices from either accepted form of ``truth``."""
    if isinstance(truth, tuple | list) and len(truth) == 2 and np.ndim(truth[0]) == 3:
        masks, idx = np.asarray(truth[0]).astype(bool), [int(i) for i in truth[1]]
        if len(idx) != masks.shape[0]:
            raise ValueError(
                f"{masks.shape[0]} reference masks but {len(idx)} frame indices; give one index "
                f"per mask"
            )
    else:
        masks = np.asarray(truth).astype(bool)
        idx = list(range(masks.shape[0]))
    if masks.ndim != 3:
        raise ValueError(f"reference masks must be (T, H, W); got shape {masks.shape}")
    if labels is not None:
        T = labels.shape[0]
        if masks.shape[1:] != labels.shape[1:]:
            raise ValueError(
                f"reference masks are {masks.shape[1:]} pixels but the frames "
                f"{labels.shape[1:]}; give masks of the sequence's frames"
            )
        bad = [i for i in idx if not 0 <= i < T]
        if bad:
            raise ValueError(f"reference mask frame {bad[0]} is past the {T} frames")
    return masks, idx


def _ordered_methods(names):
    known = [m for m in METHOD_ORDER if m in names]
    return known + sorted(set(names) - set(known))


def _checked_inputs(estimates, observers, labels, sizes):
    """(R, N) estimates, R names, labels and (N,) superpixel areas, checked against each other."""
    est = np.asarray(estimates, dtype=np.float64)
    if est.ndim != 2:
        raise ValueError(f"estimates must be (R, N), one row per recording; got {est.shape}")
    names = [str(o) for o in observers]
    if len(names) != est.shape[0]:
        raise ValueError(
            f"{len(names)} observer names for {est.shape[0]} recordings; give one per recording"
        )
    n = est.shape[1]
    if labels is not None:
        # An array, or a lazy stack of frames (.shape, .max(), [t]: a chunked run's labels,
        # read frame by frame from disk): never made one array here.
        labels = labels if hasattr(labels, "shape") and hasattr(labels, "max") else np.asarray(labels)
        if int(labels.max()) + 1 != n:
            raise ValueError(
                f"labels number {int(labels.max()) + 1} superpixels but estimates have {n} "
                f"columns; give the labels of the prepared sequence the estimates come from"
            )
    if sizes is None:
        if labels is not None and not isinstance(labels, np.ndarray):
            raise ValueError("lazy labels need the superpixel areas (sizes) given")
        sizes = (np.bincount(labels.ravel(), minlength=n).astype(float) if labels is not None
                 else np.ones(n))
    return est, names, labels, np.asarray(sizes, dtype=np.float64)


def _fitted_pool(pool, est, names, sizes, *, gaze, labels, px_per_degree):
    """``pool`` if already fitted, else the named (or default) pool fitted on ``est``."""
    if pool is not None and not isinstance(pool, str) and hasattr(pool, "weights_"):
        return pool
    # Fitted here: only the recordings' own gaze may cut a weight, as in a run.
    noncompliant = {}
    if gaze is not None and labels is not None:
        for o, g in zip(names, gaze):
            c = recording_compliance(g, n_frames=labels.shape[0], image_shape=labels.shape[1:],
                                     px_per_degree=px_per_degree)
            if c.reasons:
                noncompliant[o] = "; ".join(c.reasons)
    if pool is None or isinstance(pool, str):
        pool = make_pool(pool or DEFAULT_POOL)
    return pool.fit(est, names, sample_weight=sizes, noncompliant=noncompliant)


def _single_observer_scores(score, per_method, obs_names, table, curves) -> dict:
    """Each method run on each observer alone, scored: columns ``auc_<method>``... of
    ``table``, ROC curves (and their mean) appended to ``curves``; returns the summary."""
    single = {}
    for m in _ordered_methods(per_method):
        results = {}
        for o in obs_names:
            if o in per_method[m]:
                r = score(per_method[m][o])
                results[o] = r
                curves.append(_resampled("roc", m, o, r))
        for key in ("auc", "f1", "f1_fpr5"):
            table[f"{key}_{m}"] = pd.Series({o: getattr(r, key) for o, r in results.items()})
        if results:
            grid, mean, se = mean_roc([(r.fpr, r.tpr) for r in results.values()])
            curves.append(pd.DataFrame({"curve": "roc_mean", "method": m, "observer": "",
                                        "x": grid, "y": mean, "se": se}))
            single[m] = {
                key: dict(zip(("mean", "se"),
                              mean_se([getattr(r, key) for r in results.values()])))
                for key in ("auc", "f1", "f1_fpr5")
            }
            single[m]["n"] = len(results)
    return single


def _subset_summary(subsets: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """The metric against the number of observers: its curve, and its table in ``summary``."""
    method = subsets.attrs.get("method", "eel")
    summary["auc_vs_observers"] = {
        int(k): {"mean": float(m), "se": float(s), "n_subsets": int(c)}
        for k, m, s, c in zip(subsets["n_observers"], subsets["mean"], subsets["se"],
                              subsets["n_subsets"])
    }
    return pd.DataFrame({"curve": "auc_vs_observers", "method": method,
                         "observer": "", "x": subsets["n_observers"].astype(float),
                         "y": subsets["mean"], "se": subsets["se"]})


def build_report(
    *,
    estimates,
    observers: Sequence[str],
    labels=None,
    sizes=None,
    frames=None,
    truth=None,
    gaze=None,
    pool: BasePool | str | None = None,
    method_scores: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    pooled_scores: Mapping[str, np.ndarray] | None = None,
    subsets: pd.DataFrame | None = None,
    px_per_degree: float | None = None,
    title: str = "Crowd report",
    delivered: Mapping | None = None,
    delivered_masks=None,
) -> ReportData:
    """Assemble the crowd report of one sequence.

    Parameters
    ----------
    estimates : (R, N) array_like of float in [0, 1]
        One probability estimate per recording (per superpixel).
    observers : sequence of R str
        Observer of each recording; repeats share a name.
    labels : (T, H, W) int ndarray, optional
        Superpixel labels 0..N-1 (for maps, pixel-wise scores and areas).
    sizes : (N,) array_like, optional
        Superpixel areas in pixels (default: counted from ``labels``; all 1 without labels).
    frames : (T, H, W[, 3]) ndarray, optional
        The images, for the map figure.
    truth : (T, H, W) bool ndarray or ((K, H, W) masks, K frame indices), optional
        Reference masks of every frame, or of the listed frames only; enables the
        per-observer AUC/F1, the ROC figure and the pooled scores (on those frames).
    gaze : sequence of R DataFrame, optional
        The recordings' gaze tables (``observer,t_ms,frame,x,y``), for gaze statistics.
    pool : fitted pool, pool name or None
        A fitted pool is reported as is; a name (default ``DEFAULT_POOL``) is fitted here on
        ``estimates`` with area weights.
    method_scores : mapping method -> (observer -> (N,) or (T, H, W) scores), optional
        Scores of a method run on one observer's recordings alone (e.g. "eel", "el"). The
        "probability" method (the observer's mean estimate) is added when absent.
    pooled_scores : mapping method -> (N,) or (T, H, W) scores, optional
        Scores of methods run on the whole crowd (e.g. pooled "eel").
    subsets : pandas.DataFrame, optional
        A metric against the number of observers pooled
        (:func:`~segmentation.engine.agreement.subset_curve`).
    px_per_degree : float, optional
        Image pixels per degree (gaze statistics in degrees).
    title : str
    delivered : mapping, optional
        What the user downloads (see :func:`..pipeline.evaluate`): ``method``, ``threshold``,
        ``threshold_rule``, ``predicted_fraction`` and, with reference masks, ``dice``,
        ``iou``, ``auc``, ``f1``, ``dice_at``, ``calibration_error``. Shown first.
    delivered_masks : (T, H, W) array_like of bool, optional
        The delivered masks, outlined on frames in the report (with the reference where there
        is one).

    Returns
    -------
    ReportData
    """
    est, names, labels, sizes = _checked_inputs(estimates, observers, labels, sizes)
    n = est.shape[1]
    pool = _fitted_pool(pool, est, names, sizes, gaze=gaze, labels=labels,
                        px_per_degree=px_per_degree)
    pooled = np.asarray(pool.pooled_, dtype=np.float64)
    obs_names = list(dict.fromkeys(names))
    notes = []

    table = observer_quality(
        gaze=gaze, estimates=est, observers=names,
        n_frames=None if labels is None else labels.shape[0],
        image_shape=None if labels is None else labels.shape[1:],
        px_per_degree=px_per_degree, sample_weight=sizes, pool=pool,
    )
    table = table.reindex(obs_names)
    var = variance_components(est, names, sample_weight=sizes)
    table["within_variance"] = pd.Series(var["per_observer_within"])
    if var["n_repeated"] == 0:
        notes.append("No observer has repeated recordings: the within-observer variance is "
                     "not defined.")
    _, means = observer_means(est, names)
    uncertainty = means.var(axis=0)

    curves = []
    summary: dict = {
        "delivered": dict(delivered or {}),
        "title": title,
        "n_observers": len(obs_names),
        "n_recordings": len(names),
        "n_superpixels": n,
        "pool": {
            "method": getattr(pool, "name", type(pool).__name__),
            "weights": {o: float(w) for o, w in pool.weights_.items()},
            "flagged": list(pool.flagged_),
        },
        # The run's statement of its flags (compliance.observer_flags): the same list as the
        # run's summary and the results page.
        "flagged": [o for o, said in observer_flags(pool).items() if said["flagged"]],
        "variance": {k: var[k] for k in ("within", "between", "within_share", "n_repeated")},
        "uncertainty_mean": float(np.average(uncertainty, weights=sizes)),
    }

    truth_full = None
    if truth is not None:
        masks, mask_frames = _normalise_truth(truth, labels)
        summary["frames_scored"] = len(mask_frames)
        if labels is not None:
            truth_full = SparseMasks(masks, mask_frames, labels.shape)
        score = _scorer(labels, masks, mask_frames, n)
        per_method: dict[str, dict[str, np.ndarray]] = {
            m: dict(v) for m, v in (method_scores or {}).items()
        }
        if "probability" not in per_method:
            per_method["probability"] = {o: means[i] for i, o in enumerate(obs_names)}
        summary["single"] = _single_observer_scores(score, per_method, obs_names, table, curves)
        pooled_all = {f"pooled estimate ({summary['pool']['method']})": pooled}
        pooled_all.update(pooled_scores or {})
        summary["pooled"] = {}
        for m, values in pooled_all.items():
            r = score(values)
            curves.append(_resampled("roc_pooled", m, "", r))
            summary["pooled"][m] = {"auc": r.auc, "f1": r.f1, "f1_fpr5": r.f1_fpr5}
    else:
        notes.append("No reference masks: per-observer AUC/F1 and ROC curves are not computed; "
                     "observers are judged by agreement with each other only.")
        if method_scores:
            notes.append("Method scores were given without reference masks and are not shown.")

    if subsets is not None and len(subsets):
        curves.append(_subset_summary(subsets, summary))

    table = _order_columns(table.reset_index())
    curves_df = (pd.concat(curves, ignore_index=True) if curves else
                 pd.DataFrame(columns=["curve", "method", "observer", "x", "y", "se"]))
    return ReportData(
        title=title, observers=table, curves=curves_df, summary=_plain(summary),
        uncertainty=uncertainty, pooled=pooled, labels=labels,
        frames=None if frames is None else _frame_stack(frames), truth=truth_full,
        subsets=subsets, notes=notes,
        masks=None if delivered_masks is None else _frame_stack(delivered_masks, bool),
    )


def _frame_stack(frames, dtype=None):
    """An array as an array (of ``dtype``); a lazy stack (``.shape`` and ``[t]``, such as a
    memory map or a chunked run's masks) as is: the figures read a few frames of it."""
    if isinstance(frames, np.ndarray) or not (hasattr(frames, "shape") and hasattr(frames, "__getitem__")):
        out = np.asarray(frames)
        return out.astype(dtype) if dtype is not None else out
    return frames


class SparseMasks:
    """Reference masks on a few frames of a long sequence, read as a (T, H, W) stack.

    ``masks[t]`` is the frame's mask, all False where it has none. Holds the K masks only:
    a (T, H, W) bool array is 410 MB for 1,000 frames of 854x480, where the reference
    covers tens of frames.

    Parameters
    ----------
    masks : (K, H, W) bool ndarray
    frames : sequence of K int
    shape : (T, H, W)
    """

    def __init__(self, masks, frames, shape):
        self.shape = tuple(int(s) for s in shape)
        self.ndim = 3
        self._by_frame = {int(t): np.asarray(m, bool) for t, m in zip(frames, masks)}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t) -> np.ndarray:
        t = int(t)
        if not -self.shape[0] <= t < self.shape[0]:
            raise IndexError(f"frame {t} outside 0..{self.shape[0] - 1}")
        mask = self._by_frame.get(t % self.shape[0])
        return mask if mask is not None else np.zeros(self.shape[1:], bool)

    def frames_with_object(self) -> np.ndarray:
        """Frames whose reference mask has a pixel of the object, in order."""
        return np.array(sorted(t for t, m in self._by_frame.items() if m.any()), np.int64)


def _resampled(curve: str, method: str, observer: str, r) -> pd.DataFrame:
    """One ROC curve on :data:`~segmentation.engine.metrics.ROC_GRID` (a pixel ROC has up to
    one point per superpixel: tens of thousands per curve)."""
    grid, tpr, _ = mean_roc([(r.fpr, r.tpr)])
    return pd.DataFrame({"curve": curve, "method": method, "observer": observer,
                         "x": grid, "y": tpr, "se": np.nan})


def _order_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Name, weight, flag and scores first; gaze statistics after; the reason last."""
    first = ["observer", "recordings", "weight", "flagged", "agreement"]
    scores = [c for c in table.columns if c.startswith(("auc_", "f1_"))]
    last = ["flag_reason", "note", "differs_from_crowd"]
    middle = [c for c in table.columns if c not in first + scores + last]
    return table[[c for c in first + scores + middle + last if c in table.columns]]


def _plain(obj):
    """JSON-ready copy: numpy scalars to Python, NaN to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
