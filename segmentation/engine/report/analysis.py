"""Runs behind the crowd report: each method on each observer alone, and on subsets of
observers (the paper's Fig. 5), through :func:`segmentation.engine.segment`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..agreement import subset_curve
from ..metrics import roc_metrics, truth_counts
from ..pooling import DEFAULT_POOL, make_pool


def recording_names(estimates) -> list[str]:
    """Observer name of each :class:`EstimateResult` (``recording-<i>`` when unnamed)."""
    return [str(getattr(e, "observer", "") or f"recording-{i + 1}")
            for i, e in enumerate(estimates)]


def estimate_matrix(estimates) -> np.ndarray:
    """(R, N) array of the recordings' per-superpixel scores."""
    return np.vstack([np.asarray(e.scores, dtype=np.float64) for e in estimates])


def crowd_analysis(
    prepared,
    frames,
    estimates: Sequence,
    *,
    truth=None,
    methods: Sequence[str] = ("eel", "el"),
    pool: str | None = None,
    subsets: bool = True,
    max_subsets: int = 5,
    compare_mean: bool = True,
    rng=0,
    booster: dict | None = None,
    progress: Callable[[str, float], None] | None = None,
    segment: Callable | None = None,
) -> dict:
    """Run what the report needs and return keyword arguments for :func:`.build_report`.

    Parameters
    ----------
    prepared : PreparedFrames
    frames : (T, H, W[, 3]) ndarray
    estimates : sequence of EstimateResult
        One per recording (``.scores`` (N,), ``.observer``); repeats share an observer name.
    truth : optional
        Reference masks (see :func:`.build_report`); without them only the pooled run is
        done (single-observer and subset runs need masks to be scored).
    methods : sequence of str, default ("eel", "el")
        Methods run on each observer alone (their recordings pooled with the mean).
    pool : str, optional
        Pool of the crowd runs (default ``DEFAULT_POOL``).
    subsets : bool, default True
        Also run EEL on subsets of observers (AUC vs number pooled); needs ``truth``.
    max_subsets : int, default 5
        Subsets per size (all of them when there are fewer).
    compare_mean : bool, default True
        When ``pool`` is not the mean, also run pooled EEL with the mean.
    rng : int
        Seed of every run.
    booster : dict, optional
        ``n_rounds`` / ``n_bags`` of every eel and el run (default: the engine's defaults;
        ``PAPER_BOOSTER`` for the paper's).
    progress : callable(stage, fraction), optional
    segment : callable, optional
        Replacement for ``pipeline.segment`` (tests).

    Returns
    -------
    dict
        ``estimates`` (R, N), ``observers``, ``labels``, ``sizes``, ``pool`` (fitted),
        ``method_scores``, ``pooled_scores``, ``subsets`` and ``result`` (the pooled EEL
        :class:`SegmentationResult`).
    """
    if segment is None:
        from ..pipeline import segment
    pool = pool or DEFAULT_POOL
    names = recording_names(estimates)
    est = estimate_matrix(estimates)
    sizes = np.asarray(getattr(prepared, "sizes", None)
                       if getattr(prepared, "sizes", None) is not None
                       else np.bincount(prepared.labels.ravel()), dtype=np.float64)
    obs = list(dict.fromkeys(names))
    cache: dict[tuple, np.ndarray] = {}

    def run(method: str, subset: Sequence[str], pool_name: str) -> np.ndarray:
        key = (method, frozenset(subset), pool_name if len(set(subset)) > 1 else "mean")
        if key not in cache:
            chosen = [e for e, n in zip(estimates, names) if n in set(subset)]
            res = segment(prepared, frames, chosen, method=method, pool=key[2], rng=rng,
                          **(booster or {}))
            cache[key] = np.asarray(res.sp_scores, dtype=np.float64)
            if key == ("eel", frozenset(obs), pool):
                cache["result"] = res
        return cache[key]

    def tell(stage, fraction):
        if progress is not None:
            progress(stage, fraction)

    tell("pooled", 0.0)
    pooled_scores = {f"eel ({pool})": run("eel", obs, pool)}
    if compare_mean and pool != "mean" and len(obs) > 2:
        pooled_scores["eel (mean)"] = run("eel", obs, "mean")
    tell("pooled", 1.0)

    method_scores: dict[str, dict[str, np.ndarray]] = {}
    subset_table = None
    if truth is not None:
        jobs = [(m, o) for m in methods for o in obs]
        for i, (m, o) in enumerate(jobs):
            method_scores.setdefault(m, {})[o] = run(m, [o], "mean")
            tell("single observers", (i + 1) / len(jobs))
        if subsets and len(obs) > 1:
            masks, idx = _truth_frames(truth)
            pos, neg = truth_counts(prepared.labels[idx], masks, est.shape[1])
            subset_table = subset_curve(
                obs, lambda s: roc_metrics(run("eel", s, pool), pos, neg).auc,
                max_subsets=max_subsets, rng=rng,
                progress=lambda _s, f: tell("subsets", f),
            )
            subset_table.attrs["method"] = f"eel ({pool})"
    fitted = make_pool(pool).fit(est, names, sample_weight=sizes)
    result = cache.get("result")
    if result is not None and getattr(result, "pool", None) is not None:
        fitted = result.pool
    return {
        "estimates": est,
        "observers": names,
        "labels": prepared.labels,
        "sizes": sizes,
        "pool": fitted,
        "method_scores": method_scores,
        "pooled_scores": pooled_scores,
        "subsets": subset_table,
        "result": result,
    }


def _truth_frames(truth):
    if isinstance(truth, tuple | list) and len(truth) == 2 and np.ndim(truth[0]) == 3:
        return np.asarray(truth[0]).astype(bool), [int(i) for i in truth[1]]
    masks = np.asarray(truth).astype(bool)
    return masks, list(range(masks.shape[0]))
