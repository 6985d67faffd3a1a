"""How observers agree: with the rest of the crowd, within and between observers, by crowd size.

* :func:`agreement`: the AUC of each observer's estimate against the pooled estimate of
  everyone else, that pool reduced to its top fraction (the likely object) or taken as a soft
  reference: a quality measure that needs no reference masks;
* :func:`variance_components` separates the variance within an observer (their repeats) from
  the variance between observers, and :func:`uncertainty_map` is the per-superpixel variance
  of the observers' estimates;
* :func:`subset_curve` gives a metric against the number of observers pooled, averaged over
  subsets (the paper's Fig. 5 right).

The AUCs themselves are :mod:`segmentation.engine.metrics`' (one ROC for the whole engine).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .metrics import leave_out_auc, mean_se
from .pooling import BasePool, make_pool

__all__ = [
    "agreement",
    "observer_means",
    "subset_curve",
    "uncertainty_map",
    "variance_components",
]


def agreement(
    estimates, observers: Sequence[str], *, pool="mean", sample_weight=None, top=0.1
) -> dict[str, float]:
    """Each observer's agreement with the rest of the crowd.

    For every recording of observer ``j``: the AUC of its estimate against the pooled
    estimate of the *other* observers (all of ``j``'s recordings left out), that pooled
    estimate reduced to its top ``top`` fraction of pixels
    (:func:`~segmentation.engine.metrics.top_fraction_auc`), or taken as a soft reference with
    ``top=None`` (:func:`~segmentation.engine.metrics.soft_auc`); an observer's agreement is
    the mean over their recordings (:func:`~segmentation.engine.metrics.leave_out_auc`).

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
    est = np.asarray(estimates, dtype=np.float64)
    names = [str(o) for o in observers]

    def reference(others):
        # A fresh pool each time: cloned by name and parameters, never refitted in place.
        fresh = type(pool)(**pool.get_params()) if isinstance(pool, BasePool) else make_pool(pool)
        return fresh.fit_predict(est[others], [names[i] for i in others],
                                 sample_weight=sample_weight)

    aucs = leave_out_auc(est, _group(observers), reference, top=top, sample_weight=sample_weight)
    return {o: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            for o, v in aucs.items()}


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
