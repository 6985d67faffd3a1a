"""The engine's entry points: prepare a sequence, estimate per observer, segment, evaluate.

::

    prepared = prepare_sequence(frames, px_per_degree=12.0)          # once per sequence
    estimates = [observer_estimate(prepared, frames, g) for g in gaze_tables]  # once per recording
    result = segment(prepared, frames, estimates, method="eel")        # per run
    result.masks                  # what the user gets: the refined map cut without the reference
    evaluate(result, truth)       # {"dice", "iou", "threshold", "auc", "f1" (oracle), ...}

``progress`` is everywhere an optional callable ``progress(stage: str, fraction: float)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from .accuracy import check_accuracy_deg, consensus_offsets, crowd_accuracy_deg
from .compliance import recording_compliance
from .defaults import DEFAULT_PX_PER_DEGREE, METHODS, N_BAGS, N_ROUNDS
from .errors import InputError
from .estimate import ESTIMATES, EstimateResult, estimate_params, probability_estimate
from .features import autoencoder_features, backbone_features, hand_features, superpixel_statistics
from .gaze import gaze_points, gazed_superpixels
from .io.gaze_csv import check_gaze_frames, validate_gaze
from .masks import ThresholdChoice, choose_threshold, masks_at, refine_scores
from .metrics import dequantise, quantise
from .prepared import PreparedFrames
from .superpixels import (
    WORK_SIDE_PX,
    normalise_frames,
    slic_frame,
    slic_supervoxels,
    superpixel_side,
)

__all__ = [
    "ALIGN",
    "ESTIMATES",
    "FEATURES",
    "METHODS",
    "MASK_THRESHOLD",
    "EstimateResult",
    "PreparedFrames",
    "SEGMENTERS",
    "align_estimates",
    "SegmentationResult",
    "evaluate",
    "observer_estimate",
    "prepare_sequence",
    "segment",
]

#: Whether :func:`segment` aligns recordings with a measured accuracy on the crowd's consensus
#: (:func:`align_estimates`). Webcam panel, nine development sequences, delivered Dice: BRATS
#: 0.230 -> 0.694, DAVIS 0.491 -> 0.709 (docs/method.md, "Webcam-grade observers with measured
#: accuracy"). Without measured accuracies nothing moves.
ALIGN = True
#: Recordings measured better than this (degrees) are not moved by the alignment; they pin the
#: crowd's frame of reference. 1 rather than 0 by leave-one-sequence-out over six panels,
#: among the settings that keep the pooled estimate at or above the plain mean pool on every
#: training sequence-panel: moving lab-grade recordings (0.2-0.9 degree) collapses their gaze
#: onto one path, which loses object coverage (davis-blackswan, shipped recordings: 0.844 ->
#: 0.791 delivered with 0, 0.848 with 1), while webcam-grade ones (2-4 degrees) all move.
ALIGN_MIN_DEG = 1.0
FEATURES = ("hand", "autoencoder", "hand+autoencoder", "backbone:PATH")
#: The ``fixed`` threshold rule: for eel and el f >= 0 (the booster's decision boundary,
#: score = 1 / (1 + e^-2f)); for probability an even chance; for vilarino the SVM margin 0.
#: Not the default: on the development sequences it delivered Dice 0.06-0.47 on BRATS
#: (docs/method.md, "Delivered masks").
MASK_THRESHOLD = 0.5
#: Pixel refinement of the score map (:func:`masks.refine_scores`): guided-filter radius in
#: superpixel sides, its regularisation, and the frames averaged on each side.
REFINE_RADIUS = 1.0
REFINE_EPS = 1e-4
REFINE_TEMPORAL = 1


def _report(progress, stage):
    if progress is None:
        return lambda fraction: None
    return lambda fraction: progress(stage, float(min(max(fraction, 0.0), 1.0)))


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise InputError(f"frames must be (T, H, W) grey or (T, H, W, 3) colour; got shape "
                         f"{frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] < 2 or frames.shape[2] < 2:
        raise InputError(f"frames of shape {frames.shape}: need at least one 2x2 frame")
    return frames


def prepare_sequence(frames, *, px_per_degree: float = DEFAULT_PX_PER_DEGREE, features: str = "hand",
                     temporal: bool = False, flow: bool = False, size_degrees: float = 1.0,
                     compactness: float = 10.0, rng=0, progress=None) -> PreparedFrames:
    """Superpixels, features and colour models of a sequence (no gaze needed).

    Parameters
    ----------
    frames : (T, H, W) or (T, H, W, 3) ndarray
        Grey or RGB frames (uint8, or float of any range: scaled by its percentiles).
    px_per_degree : float, default :data:`DEFAULT_PX_PER_DEGREE` (12)
        Image pixels per degree of visual angle; superpixels are ``size_degrees`` wide.
    features : str, default "hand"
        ``hand``, ``autoencoder``, ``hand+autoencoder`` or ``backbone:PATH`` (a local
        ResNet-18 state_dict; appended to the hand features).
    temporal : bool, default False
        Supervoxels across frames instead of per-frame superpixels.
    flow : bool, default False
        Also compute the optical-flow orientation (``theta="flow"`` in the estimate).
    size_degrees, compactness : float
        Superpixel size in degrees and SLIC compactness (Lab scale).
    rng : int or Generator
        Seed for the autoencoder features.
    progress : callable(stage, fraction), optional

    Returns
    -------
    PreparedFrames
    """
    frames = _check_frames(frames)
    if features not in ("hand", "autoencoder", "hand+autoencoder") and not str(
            features).startswith("backbone:"):
        raise InputError(f"features must be one of {', '.join(FEATURES)}; got {features!r}")
    side = superpixel_side(px_per_degree, size_degrees)
    timings = {}
    t0 = time.perf_counter()
    f01 = normalise_frames(frames)
    report = _report(progress, "superpixels")
    if temporal:
        labels = slic_supervoxels(f01, side=side, compactness=compactness)
        report(1.0)
    else:
        t_count, h, w = frames.shape[:3]
        labels = np.empty((t_count, h, w), dtype=np.int32)
        offset = 0
        for k in range(t_count):
            lab = slic_frame(f01[k], side=side, compactness=compactness)
            labels[k] = lab + offset
            offset += int(lab.max()) + 1
            report((k + 1) / t_count)
    timings["superpixels"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    report = _report(progress, "features")
    # Per-frame SLIC labels are constant on blocks of the shrink factor: sample one pixel per
    # block (supervoxels are made at full resolution).
    stride = 1 if temporal else max(1, int(side // WORK_SIDE_PX))
    stats = superpixel_statistics(f01, labels, flow=flow, stride=stride, progress=report)
    feats, names = hand_features(stats)
    if features in ("autoencoder", "hand+autoencoder"):
        ae = autoencoder_features(f01, labels, rng=rng, progress=_report(progress, "autoencoder"))
        ae_names = [f"ae{i}" for i in range(ae.shape[1])]
        if features == "autoencoder":
            # The learned maps, plus colour mean and position so that the classifier can
            # still tell where and what colour a superpixel is.
            keep = [i for i, nm in enumerate(names) if nm.startswith("mean_") or nm in ("row", "col")]
            feats = np.column_stack([feats[:, keep], ae])
            names = [names[i] for i in keep] + ae_names
        else:
            feats = np.column_stack([feats, ae])
            names = names + ae_names
    elif str(features).startswith("backbone:"):
        bb = backbone_features(f01, labels, str(features)[len("backbone:"):],
                               progress=_report(progress, "backbone"))
        feats = np.column_stack([feats, bb])
        names = names + [f"resnet{i}" for i in range(bb.shape[1])]
    timings["features"] = time.perf_counter() - t1
    return PreparedFrames(
        labels=labels, features=np.asarray(feats, np.float32), feature_names=list(names),
        frame_of=stats["frame_of"], centroids=stats["centroids"], sizes=stats["sizes"],
        colour_mean=stats["colour_mean"], colour_cov=stats["colour_cov"],
        theta_gradient=stats["theta_gradient"], theta_flow=stats["theta_flow"],
        px_per_degree=float(px_per_degree),
        params=dict(features=features, temporal=bool(temporal), flow=bool(flow),
                    size_degrees=float(size_degrees), compactness=float(compactness),
                    side_px=side, stat_stride=stride, colour=frames.ndim == 4),
        timings=timings,
    )


def observer_estimate(prepared: PreparedFrames, frames, gaze: pd.DataFrame, *,
                      estimate: str = "default", observer: str | None = None, progress=None,
                      accuracy_deg: float | None = None, **options) -> EstimateResult:
    """One recording's object probability per superpixel.

    Parameters
    ----------
    prepared : PreparedFrames
    frames : (T, H, W[, 3]) ndarray
        The sequence (only its shape is used; may be None).
    gaze : DataFrame
        Canonical gaze table of one recording (``observer, t_ms, frame, x, y``).
    estimate : {"default", "paper"}
        See :mod:`segmentation.engine.estimate`.
    observer : str, optional
        Name (default: the table's ``observer`` value).
    accuracy_deg : float in [0, 90], optional
        The recording's measured accuracy in degrees of visual angle (the platform's
        validation / drift check); None when not measured. It widens the spatial prior
        (``spatial_accuracy``), is kept on the result for the pool's weights and notes and
        bounds the crowd's alignment (:func:`align_estimates`).
    **options
        Overrides of the estimate's parameters (``propagate``, ``alpha``, ``theta``...).

    Returns
    -------
    EstimateResult
    """
    t0 = time.perf_counter()
    accuracy_deg = check_accuracy_deg(accuracy_deg)
    params = estimate_params(estimate, **options)
    t_count, h, w = prepared.labels.shape
    if frames is not None and tuple(np.shape(frames)[:3]) != (t_count, h, w):
        raise InputError(f"frames {np.shape(frames)} do not match the prepared sequence "
                         f"({t_count}, {h}, {w})")
    gaze = validate_gaze(gaze, source=gaze.attrs.get("source", "gaze"))
    check_gaze_frames(gaze, t_count)
    if observer is None:
        names = gaze["observer"].unique()
        observer = str(names[0]) if len(names) else ""
    points = gaze_points(gaze, t_count, (h, w), px_per_degree=prepared.px_per_degree)
    gazed_sp = gazed_superpixels(points, prepared.labels)
    gazed_all = np.zeros(prepared.n_superpixels, bool)
    gazed_all[gazed_sp[gazed_sp >= 0]] = True
    scores, gazed = probability_estimate(prepared, gazed_sp, params, points=points,
                                         accuracy_deg=accuracy_deg)
    compliance = recording_compliance(gaze, n_frames=t_count, image_shape=(h, w),
                                      px_per_degree=prepared.px_per_degree)
    if progress is not None:
        progress("estimate", 1.0)
    return EstimateResult(scores=scores, gazed=gazed, gaze_points=points, observer=observer,
                            gazed_all=gazed_all, params={"estimate": estimate, **params},
                            timings={"estimate": time.perf_counter() - t0},
                            compliance=compliance.to_dict(), accuracy_deg=accuracy_deg)


def align_estimates(prepared, estimates, *, min_shift_deg: float = 0.1,
                    min_accuracy_deg: float | None = None) -> tuple[list, np.ndarray]:
    """Remove each recording's constant offset (:func:`accuracy.consensus_offsets`) and re-estimate it.

    Recordings without a measured accuracy, and those whose offset is below ``min_shift_deg``,
    are returned as they are. A moved recording's estimate is recomputed from its shifted gaze
    points with its own parameters; its spatial prior is then widened by the crowd's
    remaining error (:func:`accuracy.crowd_accuracy_deg`) instead of its own measured accuracy.

    Parameters
    ----------
    prepared : PreparedFrames
    estimates : list of R EstimateResult
        From ``observer_estimate(..., accuracy_deg=...)``.
    min_shift_deg : float, default 0.1
    min_accuracy_deg : float, optional
        Only recordings measured at least this far off move (default :data:`ALIGN_MIN_DEG`).

    Returns
    -------
    estimates : list of R EstimateResult
        New objects for moved recordings (``offset_px`` set), the same objects otherwise.
    offsets : (R, 2) float ndarray
        (dx, dy) pixels subtracted from each recording's gaze.
    """
    acc = [getattr(e, "accuracy_deg", None) for e in estimates]
    ppd = float(prepared.px_per_degree)
    if min_accuracy_deg is None:
        min_accuracy_deg = ALIGN_MIN_DEG
    offsets = consensus_offsets([e.gaze_points for e in estimates], acc, px_per_degree=ppd,
                                min_accuracy_deg=min_accuracy_deg)
    residual = crowd_accuracy_deg(acc)
    out = []
    for e, off in zip(estimates, offsets):
        if np.hypot(*off) < min_shift_deg * ppd:
            out.append(e)
            continue
        points = np.asarray(e.gaze_points, dtype=np.float64) - off[None, :]
        gazed_sp = gazed_superpixels(points, prepared.labels)
        # Estimates read back from storage may carry no parameters: those of the default.
        base = dict(e.params or {})
        params = estimate_params(base.pop("estimate", "default"), **base)
        scores, gazed = probability_estimate(prepared, gazed_sp, params, points=points,
                                             accuracy_deg=residual)
        gazed_all = np.zeros(prepared.n_superpixels, bool)
        gazed_all[gazed_sp[gazed_sp >= 0]] = True
        out.append(replace(e, scores=scores, gazed=gazed, gaze_points=points, gazed_all=gazed_all,
                           offset_px=(float(off[0]), float(off[1]))))
    return out, offsets


@dataclass
class SegmentationResult:
    """A segmentation of the whole sequence.

    Attributes
    ----------
    sp_scores : (N,) float32 ndarray in [0, 1]
    scores : (T, H, W) float32 ndarray in [0, 1]
    masks : (T, H, W) uint8 ndarray, {0, 1} (``scores >= threshold``): the delivered masks
    threshold : float
        Chosen without the reference (``threshold_rule``) unless the caller gave one.
    method : str
    pool : fitted pool object or None
    pooled : (N,) float ndarray, the pooled estimate used as soft labels
    timings : dict
        Seconds: ``pool``, ``train``, ``predict``, ``paint`` (and ``estimate`` summed over the
        estimates).
    threshold_rule : str
        How the threshold was chosen: a rule of :data:`masks.THRESHOLD_RULES`, or ``user``.
    threshold_details : dict
        What the rule measured.
    refined : bool
        Whether ``scores`` is the edge-aware pixel map (else the painted superpixel scores).
    offsets_px : (R, 2) float ndarray or None
        (dx, dy) pixels removed from each recording's gaze by the alignment
        (:func:`align_estimates`); None when the run did not align.
    """

    sp_scores: np.ndarray
    scores: np.ndarray
    masks: np.ndarray
    threshold: float
    method: str
    pool: object = None
    pooled: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    threshold_rule: str = "fixed"
    threshold_details: dict = field(default_factory=dict)
    refined: bool = False
    offsets_px: np.ndarray | None = None


def _pool_estimates(estimates, pool, refit: bool = True):
    from .pooling import DEFAULT_POOL, make_pool

    if pool is None:
        pool = DEFAULT_POOL
    pool_obj = make_pool(pool) if isinstance(pool, str) else pool
    names = [e.observer or f"recording-{i + 1}" for i, e in enumerate(estimates)]
    if not refit:
        # The caller fitted this pool on these estimates (a run scoring its baselines):
        # reuse it; the weighted pool's EM costs seconds on a long sequence.
        pooled = getattr(pool_obj, "pooled_", None)
        if pooled is None or np.shape(pooled) != np.shape(estimates[0].scores) \
                or list(getattr(pool_obj, "recording_observers_", names)) != names:
            raise InputError("refit_pool=False needs a pool already fitted on these estimates")
        return pool_obj, np.asarray(pooled, dtype=np.float64)
    est = np.vstack([np.asarray(e.scores, dtype=np.float64) for e in estimates])
    # Only a recording's own gaze may cut its weight (see compliance.py); an observer's
    # reasons are those of their recordings.
    reasons: dict[str, list[str]] = {}
    for name, e in zip(names, estimates):
        for reason in (getattr(e, "compliance", None) or {}).get("reasons") or []:
            if reason not in reasons.setdefault(name, []):
                reasons[name].append(reason)
    noncompliant = {name: "; ".join(r) for name, r in reasons.items() if r}
    accuracy = [getattr(e, "accuracy_deg", None) for e in estimates]
    pool_obj.fit(np.clip(est, 0.0, 1.0), names, noncompliant=noncompliant,
                 accuracy_deg=accuracy if any(a is not None for a in accuracy) else None)
    return pool_obj, np.asarray(pool_obj.pooled_, dtype=np.float64)


def _probability(prepared, frames, estimates, pooled, *, timings, **_) -> np.ndarray:
    """The pooled estimate itself."""
    timings["train"] = 0.0
    timings["predict"] = 0.0
    return pooled.copy()


def _boosted(prepared, frames, estimates, pooled, *, soft: bool, gen, train_fraction, n_rounds,
             n_bags, backend, report, timings) -> np.ndarray:
    """Stump boosting on the pooled estimate: EEL on its soft values (``soft``), EL on it
    thresholded at 0.5; the mean of ``n_bags`` boosters' raw scores."""
    from .eel import ExpectedExponentialLoss, ExponentialLoss, StumpBooster

    if int(n_bags) < 1 or int(n_rounds) < 1:
        raise InputError(f"n_bags and n_rounds must be >= 1; got {n_bags} and {n_rounds}")
    n = prepared.n_superpixels
    positive = np.zeros(n, bool)
    for e in estimates:
        positive |= np.asarray(e.gazed, bool)
    others = np.flatnonzero(~positive)
    n_sample = int(round(train_fraction * others.size))
    s = pooled.copy()
    s[positive] = 1.0
    loss = ExpectedExponentialLoss() if soft else ExponentialLoss()
    f = np.zeros(n)
    timings["train"] = timings["predict"] = 0.0
    for bag in range(int(n_bags)):
        t = time.perf_counter()
        sampled = gen.choice(others, size=n_sample, replace=False) if n_sample else others[:0]
        train = np.concatenate([np.flatnonzero(positive), np.sort(sampled)])
        target = s[train] if soft else (s[train] >= 0.5).astype(np.float64)
        booster = StumpBooster(loss, n_rounds=int(n_rounds), backend=backend)
        booster.fit(prepared.features[train], target)
        timings["train"] += time.perf_counter() - t
        t = time.perf_counter()
        f += booster.decision_function(prepared.features)
        timings["predict"] += time.perf_counter() - t
        report(0.1 + 0.8 * (bag + 1) / n_bags)
    # The mean raw score through the exponential loss's link, as predict_proba does.
    return StumpBooster.proba_from_decision(f / n_bags)


def _vilarino(prepared, frames, estimates, pooled, *, gen, report, timings, **_) -> np.ndarray:
    """The gaze-patch RBF SVM baseline (needs the frames)."""
    from .baselines import VilarinoSVM, vilarino_grey

    if frames is None:
        raise InputError("method 'vilarino' needs the frames")
    t = time.perf_counter()
    grey = vilarino_grey(normalise_frames(_check_frames(frames)))
    patch = max(3, int(round(prepared.params.get("side_px", prepared.px_per_degree))))
    svm = VilarinoSVM(patch=patch, rng=gen).fit(grey, [e.gaze_points for e in estimates])
    timings["train"] = time.perf_counter() - t
    report(0.6)
    t = time.perf_counter()
    sp_scores = svm.score(grey, prepared.frame_of, prepared.centroids)
    timings["predict"] = time.perf_counter() - t
    return sp_scores


#: The methods of :func:`segment`: name -> function(prepared, frames, estimates, pooled,
#: **options) returning (N,) superpixel scores in [0, 1]. Its keys are :data:`METHODS`.
SEGMENTERS = {
    "eel": partial(_boosted, soft=True),
    "el": partial(_boosted, soft=False),
    "probability": _probability,
    "vilarino": _vilarino,
}


def _paint(prepared, frames, sp_scores, *, refine: bool, report) -> np.ndarray:
    """(T, H, W) float32 pixel scores: the edge-aware refinement of the superpixel scores when
    ``refine`` and the frames are given, else each superpixel's score on its pixels."""
    if refine and frames is not None:
        scores = refine_scores(normalise_frames(_check_frames(frames)), sp_scores, prepared.labels,
                               radius_px=REFINE_RADIUS * prepared.params.get("side_px", 12.0),
                               eps=REFINE_EPS, temporal=REFINE_TEMPORAL,
                               progress=lambda f: report(0.8 + 0.15 * f))
    else:
        scores = prepared.to_pixels(sp_scores)
    # The map as it is stored (16-bit levels): masks, metrics and exports all see these values.
    return dequantise(quantise(scores))


def segment(prepared: PreparedFrames, frames, estimates: list, *, method: str = "eel",
            pool=None, rng=0, train_fraction: float = 0.1, n_rounds: int = N_ROUNDS,
            n_bags: int = N_BAGS, backend: str = "numpy", refit_pool: bool = True,
            refine: bool = True, threshold="auto", threshold_rule: str = "gaze-contrast",
            align: bool = ALIGN, progress=None) -> SegmentationResult:
    """Pool the observers' estimates and segment every pixel of the sequence.

    Parameters
    ----------
    prepared : PreparedFrames
    frames : (T, H, W[, 3]) ndarray
        Needed by ``vilarino`` only (may be None otherwise).
    estimates : list of EstimateResult
        One per recording (at least one).
    method : {"eel", "el", "probability", "vilarino"}
        ``eel``: boosting with the expected exponential loss on the pooled estimate;
        ``el``: same booster, exponential loss on the estimate thresholded at 0.5;
        ``probability``: the pooled estimate itself; ``vilarino``: gaze-patch RBF SVM.
    pool : str or pool object, optional
        Name in :data:`segmentation.engine.pooling.POOLS` or a pool instance (default:
        ``pooling.DEFAULT_POOL``).
    rng : int or Generator
        Seed for the training subsample (results are deterministic for a given seed).
    train_fraction : float, default 0.1
        Fraction of the non-gazed superpixels used for training (the paper: 10%).
    n_rounds : int, default :data:`N_ROUNDS` (200)
        Boosting rounds of ``eel`` and ``el`` (the paper: 50).
    n_bags : int, default :data:`N_BAGS` (3)
        ``eel`` and ``el`` average the raw scores of this many boosters, each trained on all
        gazed superpixels and its own random ``train_fraction`` of the others (the paper: 1).
        The first bag's sample is the one a single booster would draw for this seed.
    backend : {"numpy", "torch"}
        Booster histograms (torch uses the GPU when present).
    refit_pool : bool, default True
        False: ``pool`` is a pool object already fitted on these same estimates (for
        example ``result.pool`` of an earlier call), used as it is.
    refine : bool, default True
        Turn the superpixel scores into an edge-aware pixel map
        (:func:`segmentation.engine.masks.refine_scores`; needs ``frames``). False, or no
        frames: every pixel gets its superpixel's score.
    threshold : "auto" or float in [0, 1], default "auto"
        The cut of the delivered masks; "auto" chooses it from the map and the gaze with
        ``threshold_rule`` (never with reference masks).
    threshold_rule : str, default "gaze-contrast"
        See :func:`segmentation.engine.masks.choose_threshold`.
    align : bool, default :data:`ALIGN`
        Remove each recording's constant offset from the crowd's consensus, bounded by its
        measured accuracy (:func:`align_estimates`), before pooling. Only recordings with an
        ``accuracy_deg`` move: without measured accuracies nothing changes.

    Returns
    -------
    SegmentationResult
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not estimates:
        raise InputError("segment needs at least one observer estimate (no gaze recording given)")
    n = prepared.n_superpixels
    for i, e in enumerate(estimates):
        if np.shape(e.scores) != (n,):
            raise InputError(f"estimate {i} ({e.observer}) has {np.shape(e.scores)} scores, "
                             f"the prepared sequence {n} superpixels: prepared differently?")
    gen = np.random.default_rng(rng)
    timings = {"estimate": float(sum((e.timings or {}).get("estimate", 0.0) for e in estimates))}
    report = _report(progress, method)
    offsets = None
    if align and any(getattr(e, "accuracy_deg", None) is not None
                                    for e in estimates):
        t = time.perf_counter()
        estimates, offsets = align_estimates(prepared, estimates)
        timings["align"] = time.perf_counter() - t
    t = time.perf_counter()
    pool_obj, pooled = _pool_estimates(estimates, pool, refit_pool)
    timings["pool"] = time.perf_counter() - t
    report(0.1)

    options = dict(gen=gen, train_fraction=train_fraction, n_rounds=n_rounds, n_bags=n_bags,
                   backend=backend, report=report, timings=timings)
    sp_scores = SEGMENTERS[method](prepared, frames, estimates, pooled, **options)
    # float32 like the pixel scores written to disk, so that scoring per superpixel and per
    # pixel see the same ties.
    sp_scores = np.clip(np.asarray(sp_scores, dtype=np.float64), 0.0, 1.0).astype(np.float32)
    t = time.perf_counter()
    scores = _paint(prepared, frames, sp_scores, refine=refine, report=report)
    timings["paint"] = time.perf_counter() - t
    choice = _threshold_choice(scores, prepared, estimates, threshold, threshold_rule)
    masks = masks_at(scores, choice.threshold)
    report(1.0)
    return SegmentationResult(sp_scores=sp_scores, scores=scores, masks=masks,
                              threshold=choice.threshold, method=method, pool=pool_obj,
                              pooled=pooled, timings=timings, threshold_rule=choice.rule,
                              threshold_details=choice.details,
                              refined=bool(refine and frames is not None), offsets_px=offsets)


def gazed_pixels(prepared: PreparedFrames, estimates: list) -> np.ndarray:
    """(T, H, W) bool: pixels of superpixels under any recording's trusted gaze."""
    gazed = np.zeros(prepared.n_superpixels, bool)
    for e in estimates:
        gazed |= np.asarray(e.gazed, bool)
    return gazed[prepared.labels]


def _threshold_choice(scores, prepared, estimates, threshold, rule) -> ThresholdChoice:
    if threshold is None or threshold == "auto":
        return choose_threshold(scores, gazed_pixels(prepared, estimates), rule=rule)
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold must be 'auto' or a number in [0, 1]; got {threshold!r}") from None
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"threshold must be 'auto' or a number in [0, 1]; got {threshold!r}")
    return ThresholdChoice(value, "user", {})


def evaluate(result, truth, prepared: PreparedFrames | None = None, *,
             frames=None) -> dict:
    """Pixel-wise scores against reference masks, the delivered masks' first.

    Parameters
    ----------
    result : SegmentationResult, (N,) superpixel scores, or (T, H, W) pixel scores
    truth : (T, H, W) bool ndarray, or (K, H, W) with ``frames``
    prepared : PreparedFrames, optional
        Needed for superpixel scores.
    frames : sequence of K int, optional
        Score only these frames of a SegmentationResult (the frames that have a reference).

    Returns
    -------
    dict
        ``auc``, ``f1`` (the oracle: maximum F1 over thresholds chosen with the reference),
        ``f1_fpr5``, ``f1_threshold``; for a SegmentationResult also what the user gets:
        ``dice``, ``iou``, ``threshold``, ``threshold_rule``, ``predicted_fraction``,
        ``true_fraction``, plus ``dice_at`` (Dice at cuts 0.1-0.9) and ``calibration_error``
        of the score map.
    """
    from .metrics import (
        calibration_error,
        delivered_scores,
        dice_at_thresholds,
        segmentation_scores,
    )

    truth = np.asarray(truth).astype(bool)
    if isinstance(result, SegmentationResult):
        scores, masks = result.scores, result.masks
        if frames is not None:
            idx = np.asarray(frames, dtype=np.int64)
            scores, masks = scores[idx], masks[idx]
        if truth.shape != scores.shape:
            raise InputError(f"truth {truth.shape} and scores {scores.shape} differ in shape")
        out = segmentation_scores(scores, truth)
        out.update(delivered_scores(masks, truth))
        out.update(threshold=float(result.threshold), threshold_rule=result.threshold_rule,
                   dice_at=dice_at_thresholds(scores, truth),
                   calibration_error=calibration_error(scores, truth))
        return out
    result = np.asarray(result)
    if result.ndim == 1:
        if prepared is None:
            raise ValueError("superpixel scores need the prepared sequence to be evaluated")
        if truth.shape != prepared.labels.shape:
            raise InputError(f"truth {truth.shape} and sequence {prepared.labels.shape} differ")
        return segmentation_scores(result, truth, labels=prepared.labels)
    if truth.shape != result.shape:
        raise InputError(f"truth {truth.shape} and scores {result.shape} differ in shape")
    return segmentation_scores(result, truth)
