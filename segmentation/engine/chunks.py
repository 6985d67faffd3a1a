"""Chunked runs: memory flat in the sequence's length, steps that many workers can share.

:func:`segment` holds the whole sequence (frames, superpixel labels, features, affinities,
pixel scores) in one process: about 13.5 MB per 854x480 frame. The chunked path cuts the
sequence into chunks of ``chunk_frames`` frames and keeps every per-chunk array on disk in a
folder the caller gives (:mod:`segmentation.engine.io.chunkstore`, memory-mapped ``.npy``).
A step holds one chunk (plus its halo frames) in memory, or, for the gather steps, the
per-superpixel vectors of the training sample and of the pool. The steps, in order::

    layout = chunk_layout(folder, frames, px_per_degree=..., chunk_frames=...)   # one call
    for i in range(layout.n_chunks): prepare_chunk(folder, i, frames)            # parallel
    plan_estimates(folder, gaze_tables, accuracies=...)                          # gather
    for i in range(layout.n_chunks): estimate_chunk(folder, i)                   # parallel
    train = train_chunks(folder, method="eel", compare=..., ...)                 # gather
    for k in range(train.n_fits): fit_booster(folder, k)                         # parallel
    for i in range(layout.n_chunks): paint_chunk(folder, i, frames)              # parallel
    choice = finish_chunks(folder)                                               # gather
    finish_chunks(folder, method="el")  # each baseline's own cut (compare)      # gather
    chunk_masks(folder, i)                                                       # any time

:func:`segment_chunked` runs them in one process; the platform runs the parallel ones as
Celery groups. Every step writes its outputs under fixed names (temporary file, then an
atomic rename): re-running a step after a lost worker gives the same files, never two.

What makes it equal to :func:`segment` (same superpixels, same sample, same masks):

* Per-frame superpixels, their statistics and hand features look at one frame at a time
  (adjacency and context within the frame), so a chunk computes exactly its frames' rows.
  Frames other than uint8 are scaled by the whole sequence's percentiles, measured first
  from the same every-4th-pixel sample :func:`superpixels.normalise_frames` uses.
* The estimate's trusted gazed superpixels and their colour models are chosen on the whole
  recording (a gather step, :func:`plan_estimates`); the colour score of a superpixel then
  depends on it and those models only. Label propagation links superpixels of the same
  frame only, and without clamping it is linear in its start vector, so each chunk
  propagates its raw colour score, the gazed indicator and their product, and the gather
  step combines them once the sequence's largest colour score is known (equal up to
  floating-point rounding, about 1e-15).
* The boosters' training samples are drawn in one gather step from the same superpixel
  numbering with the same generator, in the same order (each boosted method from a fresh
  generator of the run's seed, as a whole-sequence run's baselines); the fits are then
  independent tasks (one per method and bag), each scoring every superpixel; a chunk's
  superpixel scores are its method's bags summed in bag order, as :func:`segment` sums them.
* The baselines (``compare``: ``probability``, ``el``, ``eel`` beside the run's method) are
  painted by the same paint tasks from the same pooled estimate, each refined and cut by
  the same rule from its own histograms: :func:`segment` with ``pool=<the run's pool>,
  refit_pool=False`` on the whole sequence.
* The pixel map's edge-aware refinement is per frame, then averaged over
  ``2 REFINE_TEMPORAL + 1`` frames: each chunk paints ``REFINE_TEMPORAL`` halo frames of its
  neighbours, so the seams see the same neighbours as the whole sequence does.
* The delivered cut (:func:`masks.choose_threshold`, ``gaze-contrast``) is two medians of
  the 16-bit stored map: computed exactly from per-chunk histograms of the 65,536 levels.

Not chunked (refused with :class:`InputError`; :func:`segment` does them): temporal
supervoxels, optical-flow orientation, learned features (autoencoder, backbone) that train on
the whole sequence, the ``paper`` estimate (its colour model's maximum is normalised in log
space over the whole sequence) and the ``vilarino`` baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .accuracy import check_accuracy_deg, consensus_offsets, crowd_accuracy_deg, prior_sigma_deg
from .compliance import recording_compliance
from .defaults import DEFAULT_PX_PER_DEGREE, LEVELS, N_BAGS, N_ROUNDS
from .errors import InputError
from .estimate import (
    COLOUR_COV_FLOOR,
    GREY_COV_FLOOR,
    EstimateResult,
    LabelPropagation,
    affinity_matrix,
    colour_likelihood,
    estimate_params,
    spatial_prior,
    trusted_gazed,
)
from .features import hand_features, superpixel_statistics
from .gaze import gaze_points, gazed_superpixels
from .io.chunkstore import (
    read_chunk_array,
    read_chunk_json,
    write_chunk_array,
    write_chunk_json,
)
from .io.gaze_csv import check_gaze_frames, validate_gaze
from .masks import ThresholdChoice, logit, masks_at, refine_scores
from .metrics import dequantise, quantise
from .superpixels import WORK_SIDE_PX, slic_frame, superpixel_side

__all__ = [
    "CHUNKED_METHODS",
    "CHUNK_OUTPUTS",
    "DEFAULT_CHUNK_FRAMES",
    "MAX_CHUNK_FRAMES",
    "MIN_CHUNK_FRAMES",
    "ChunkLayout",
    "ChunkedResult",
    "TrainResult",
    "chunk_bounds",
    "chunk_estimates",
    "chunk_layout",
    "chunk_masks",
    "chunk_method_result",
    "chunk_methods",
    "chunk_offsets",
    "chunks_done",
    "chunk_scores",
    "estimate_chunk",
    "finish_chunks",
    "fit_booster",
    "paint_chunk",
    "plan_estimates",
    "prepare_chunk",
    "read_layout",
    "reset_after_prepare",
    "segment_chunked",
    "step_size",
    "train_chunks",
]

#: Frames per chunk by default: a 854x480 colour chunk of 32 frames peaks near 0.6 GB in the
#: paint step (docs/benchmarks.md, "Scale"), well under a 2 GB worker.
DEFAULT_CHUNK_FRAMES = 32
#: Bounds of ``chunk_frames``: fewer than 4 frames makes the 2-frame halo of the paint step
#: dominate; more than 1,000 is the whole-sequence path's memory again.
MIN_CHUNK_FRAMES, MAX_CHUNK_FRAMES = 4, 1000
#: Methods the chunked path runs (``vilarino`` needs the whole sequence's grey frames).
CHUNKED_METHODS = ("eel", "el", "probability")
#: The parallel steps and the array each writes last: its presence says the chunk (for
#: ``fit``: the booster) is done.
CHUNK_OUTPUTS = {"prepare": "labels", "estimate": "estimate", "fit": "fit-decision",
                 "paint": "scores"}
_HIST_BINS = LEVELS + 1
#: choose_threshold's background sample: every 4th row and column.
_BACKGROUND_STRIDE = 4


def chunk_bounds(n_frames: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` cutting ``n_frames`` frames into chunks of ``chunk_frames``.

    The last chunk takes the remainder when it would be shorter than half a chunk, so no
    chunk is tiny.

    Parameters
    ----------
    n_frames : int
    chunk_frames : int in [MIN_CHUNK_FRAMES, MAX_CHUNK_FRAMES]

    Returns
    -------
    list of (int, int)
    """
    n_frames = int(n_frames)
    chunk_frames = _check_chunk_frames(chunk_frames)
    if n_frames < 1:
        raise InputError(f"a sequence needs at least one frame; got {n_frames}")
    starts = list(range(0, n_frames, chunk_frames))
    if len(starts) > 1 and n_frames - starts[-1] < chunk_frames / 2:
        starts.pop()
    stops = starts[1:] + [n_frames]
    return list(zip(starts, stops))


def _check_chunk_frames(chunk_frames) -> int:
    try:
        value = int(chunk_frames)
    except (TypeError, ValueError):
        raise InputError(f"chunk size must be a whole number of frames; got {chunk_frames!r}") from None
    if value != chunk_frames or not MIN_CHUNK_FRAMES <= value <= MAX_CHUNK_FRAMES:
        raise InputError(f"chunk size must be a whole number of frames in "
                         f"[{MIN_CHUNK_FRAMES}, {MAX_CHUNK_FRAMES}]; got {chunk_frames!r}")
    return value


@dataclass
class ChunkLayout:
    """How a sequence is cut and prepared (``layout.json`` of the chunk folder).

    Attributes
    ----------
    n_frames : int
    shape : (H, W)
    colour : bool
    chunks : list of (start, stop)
    value_range : (lo, hi) or None
        Scaling of frames other than uint8 (the sequence's 0.5-99.5 percentiles); None for
        uint8 (divided by 255).
    px_per_degree, side_px, compactness : float
    stride : int
        Pixel stride of the statistics (see :func:`features.superpixel_statistics`).
    offsets : list of int or None
        First global superpixel number of each chunk, once every chunk is prepared.
    """

    n_frames: int
    shape: tuple
    colour: bool
    chunks: list
    value_range: tuple | None
    px_per_degree: float
    side_px: float
    compactness: float
    stride: int
    offsets: list | None = None

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    @property
    def n_superpixels(self) -> int:
        if self.offsets is None:
            raise InputError("the chunks are not all prepared yet (no superpixel offsets)")
        return int(self.offsets[-1])

    def chunk_of(self, frame: int) -> int:
        for i, (a, b) in enumerate(self.chunks):
            if a <= frame < b:
                return i
        raise IndexError(f"frame {frame} outside 0..{self.n_frames - 1}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def step_size(folder, step: str) -> int:
    """How many tasks parallel step ``step`` has: one per chunk, or for ``fit`` one per
    booster (known once :func:`train_chunks` has run; 0 when no method boosts)."""
    if step not in CHUNK_OUTPUTS:
        raise InputError(f"step must be one of {', '.join(CHUNK_OUTPUTS)}; got {step!r}")
    if step == "fit":
        return len(read_chunk_json(folder, "train")["fits"])
    return read_layout(folder).n_chunks


def chunks_done(folder, step: str) -> list[bool]:
    """Whether each task of parallel step ``step`` (a key of :data:`CHUNK_OUTPUTS`) has
    finished: each chunk, or for ``fit`` each booster."""
    from .io.chunkstore import has_chunk_array

    return [has_chunk_array(folder, CHUNK_OUTPUTS[step], i) for i in range(step_size(folder, step))]


#: What the steps after ``prepare`` write (they depend on the recordings, not only the frames).
_AFTER_PREPARE = ("plan", "plan-points", "plan-gazed", "plan-gazed-all", "plan-means",
                  "plan-covs", "estimate", "estimate-max", "train", "pooled", "fit-train",
                  "fit-target", "fit-decision", "sp_scores", "gazed", "scores", "histograms",
                  "threshold",
                  *(f"{what}-{m}" for m in CHUNKED_METHODS
                    for what in ("scores", "histograms", "threshold")))


def reset_after_prepare(folder) -> int:
    """Forget everything but the prepared chunks (a run starting again: its recordings may
    have changed, its superpixels have not). Returns the number of files removed."""
    from .io.chunkstore import remove_chunk_arrays

    return remove_chunk_arrays(folder, _AFTER_PREPARE)


def read_layout(folder) -> ChunkLayout:
    """The :class:`ChunkLayout` of a chunk folder (with ``offsets`` once all chunks are prepared)."""
    d = read_chunk_json(folder, "layout")
    d["shape"] = tuple(d["shape"])
    d["chunks"] = [tuple(c) for c in d["chunks"]]
    d["value_range"] = None if d["value_range"] is None else tuple(d["value_range"])
    layout = ChunkLayout(**d)
    try:
        layout.offsets = read_chunk_json(folder, "offsets")
    except FileNotFoundError:
        layout.offsets = None
    return layout


def _frames_of(frames, start: int, stop: int) -> np.ndarray:
    return np.asarray(frames[start:stop])


def _value_range(frames, chunks) -> tuple[float, float]:
    """The 0.5 and 99.5 percentiles :func:`superpixels.normalise_frames` takes, chunk by chunk.

    The sample (every 4th row and column) is 1/16 of the sequence's values; it is gathered
    as float32, as there.
    """
    parts = []
    for a, b in chunks:
        f = _frames_of(frames, a, b).astype(np.float32)[:, ::4, ::4].ravel()
        parts.append(f[np.isfinite(f)])
    sample = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if sample.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return (float(lo), float(hi))


def _normalise(frames: np.ndarray, value_range) -> np.ndarray:
    """:func:`superpixels.normalise_frames` with the sequence's range given."""
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / np.float32(255.0)
    if frames.dtype == bool:
        return frames.astype(np.float32)
    lo, hi = value_range
    f = frames.astype(np.float32)
    # np.percentile gives float64 scalars: the same arithmetic (and dtype) as normalise_frames.
    out = (f - np.float64(lo)) / (np.float64(hi) - np.float64(lo))
    np.clip(out, 0.0, 1.0, out=out)
    out[~np.isfinite(out)] = 0.0
    return out


def chunk_layout(folder, frames, *, px_per_degree: float = DEFAULT_PX_PER_DEGREE,
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES, size_degrees: float = 1.0,
                 compactness: float = 10.0, features: str = "hand", temporal: bool = False,
                 flow: bool = False) -> ChunkLayout:
    """Cut a sequence into chunks and write ``layout.json`` (the first step).

    Parameters
    ----------
    folder : path-like
        Where the run's chunk arrays go (created; a run's own folder).
    frames : (T, H, W[, 3]) array-like
        Anything sliceable along its first axis: an array, a memory map, or a lazy reader of
        :mod:`segmentation.engine.io.sequences` (frames are decoded chunk by chunk).
    px_per_degree, size_degrees, compactness
        As :func:`pipeline.prepare_sequence`.
    chunk_frames : int, default :data:`DEFAULT_CHUNK_FRAMES`
        Frames per chunk, in [:data:`MIN_CHUNK_FRAMES`, :data:`MAX_CHUNK_FRAMES`].
    features, temporal, flow
        Only ``"hand"``, False and False are chunked (see the module's notes).

    Returns
    -------
    ChunkLayout
    """
    if features != "hand":
        raise InputError(f"features {features!r} learn from the whole sequence and are not "
                         f"chunked; use 'hand' or the whole-sequence path")
    if temporal or flow:
        raise InputError("temporal supervoxels and optical flow are not chunked; use the "
                         "whole-sequence path")
    shape = tuple(int(s) for s in np.shape(frames))
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] != 3):
        raise InputError(f"frames must be (T, H, W) grey or (T, H, W, 3) colour; got shape {shape}")
    if shape[0] == 0 or shape[1] < 2 or shape[2] < 2:
        raise InputError(f"frames of shape {shape}: need at least one 2x2 frame")
    chunks = chunk_bounds(shape[0], chunk_frames)
    dtype = np.dtype(getattr(frames, "dtype", None) or _frames_of(frames, 0, 1).dtype)
    value_range = None if dtype in (np.uint8, bool) else _value_range(frames, chunks)
    side = superpixel_side(px_per_degree, size_degrees)
    layout = ChunkLayout(n_frames=shape[0], shape=shape[1:3], colour=len(shape) == 4,
                         chunks=chunks, value_range=value_range,
                         px_per_degree=float(px_per_degree), side_px=float(side),
                         compactness=float(compactness),
                         stride=max(1, int(side // WORK_SIDE_PX)))
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_chunk_json(folder, "layout", layout.to_dict())
    return layout


#: Per-superpixel arrays a prepared chunk stores (besides its ``labels``).
_SP_ARRAYS = ("features", "frame_of", "centroids", "colour_mean", "colour_cov", "theta_gradient")


def prepare_chunk(folder, index: int, frames) -> int:
    """Superpixels, statistics and hand features of chunk ``index`` (a parallel step).

    Writes ``labels`` (chunk-local numbers, int32) and the per-superpixel arrays; returns the
    chunk's number of superpixels. When it is the last chunk to finish, the superpixel
    offsets are written too (:func:`chunk_offsets` does it explicitly).

    Parameters
    ----------
    folder : path-like
    index : int
    frames : array-like
        The whole sequence (sliced here) as given to :func:`chunk_layout`.

    Returns
    -------
    int
    """
    layout = read_layout(folder)
    start, stop = layout.chunks[int(index)]
    raw = _frames_of(frames, start, stop)
    if raw.shape[0] != stop - start or tuple(raw.shape[1:3]) != tuple(layout.shape):
        raise InputError(f"frames {start}-{stop - 1} have shape {raw.shape}; the layout says "
                         f"{stop - start} frames of {layout.shape}")
    f01 = _normalise(raw, layout.value_range)
    del raw
    labels = np.empty(f01.shape[:3], dtype=np.int32)
    offset = 0
    for k in range(f01.shape[0]):
        lab = slic_frame(f01[k], side=layout.side_px, compactness=layout.compactness)
        labels[k] = lab + offset
        offset += int(lab.max()) + 1
    stats = superpixel_statistics(f01, labels, stride=layout.stride)
    feats, _ = hand_features(stats)
    arrays = dict(features=np.asarray(feats, np.float32),
                  frame_of=(stats["frame_of"] + start).astype(np.int32),
                  centroids=stats["centroids"], colour_mean=stats["colour_mean"],
                  colour_cov=stats["colour_cov"], theta_gradient=stats["theta_gradient"])
    for name, value in arrays.items():
        write_chunk_array(folder, name, index, value)
    # Labels last: their presence says the chunk is prepared.
    write_chunk_array(folder, "labels", index, labels)
    return int(offset)


def chunk_offsets(folder) -> list[int]:
    """Write and return the first global superpixel number of every chunk (gather step).

    Chunk ``i``'s superpixel ``n`` is superpixel ``offsets[i] + n`` of the sequence: the
    numbering :func:`pipeline.prepare_sequence` gives (frame by frame).
    """
    layout = read_layout(folder)
    counts = []
    for i in range(layout.n_chunks):
        counts.append(int(read_chunk_array(folder, "features", i).shape[0]))
    offsets = [0, *np.cumsum(counts).tolist()]
    write_chunk_json(folder, "offsets", [int(o) for o in offsets])
    return offsets


def _rows(folder, name: str, layout: ChunkLayout, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (sorted global superpixel numbers) of per-chunk array ``name``."""
    idx = np.asarray(idx, dtype=np.int64)
    off = np.asarray(layout.offsets)
    parts = []
    which = np.searchsorted(off, idx, side="right") - 1
    for i in np.unique(which):
        arr = read_chunk_array(folder, name, int(i))
        parts.append(np.asarray(arr[idx[which == i] - off[i]]))
    if not parts:
        arr = read_chunk_array(folder, name, 0)
        return np.zeros((0, *arr.shape[1:]), arr.dtype)
    return np.concatenate(parts)


def _gazed_global(folder, layout: ChunkLayout, points: np.ndarray) -> np.ndarray:
    """Global superpixel under each frame's gaze point (-1 = none), chunk by chunk."""
    out = np.full(layout.n_frames, -1, dtype=np.int64)
    for i, (a, b) in enumerate(layout.chunks):
        local = gazed_superpixels(points[a:b], read_chunk_array(folder, "labels", i))
        out[a:b] = np.where(local >= 0, local + layout.offsets[i], -1)
    return out


def _recording_points(layout: ChunkLayout, gaze_tables: list, observers) -> tuple:
    """Per recording: gaze points (T, 2), observer name, own-data compliance."""
    h, w = layout.shape
    points, names, compliance = [], [], []
    for r, gaze in enumerate(gaze_tables):
        gaze = validate_gaze(gaze, source=gaze.attrs.get("source", "gaze"))
        check_gaze_frames(gaze, layout.n_frames)
        if observers is not None:
            names.append(str(observers[r]))
        else:
            u = gaze["observer"].unique()
            names.append(str(u[0]) if len(u) else "")
        points.append(gaze_points(gaze, layout.n_frames, (h, w), px_per_degree=layout.px_per_degree))
        compliance.append(recording_compliance(gaze, n_frames=layout.n_frames, image_shape=(h, w),
                                               px_per_degree=layout.px_per_degree).to_dict())
    return points, names, compliance


def _align_points(layout: ChunkLayout, points: list, accuracies: list, prior_acc: list,
                  min_accuracy_deg: float) -> np.ndarray:
    """:func:`pipeline.align_estimates` before the estimate: moved recordings' points shift
    (in place) and their priors take the crowd's residual error. Returns (R, 2) offsets."""
    offsets = consensus_offsets(points, accuracies, px_per_degree=layout.px_per_degree,
                                min_accuracy_deg=min_accuracy_deg)
    residual = crowd_accuracy_deg(accuracies)
    for r in range(len(points)):
        if np.hypot(*offsets[r]) >= 0.1 * layout.px_per_degree:
            points[r] = np.asarray(points[r], np.float64) - offsets[r][None, :]
            prior_acc[r] = residual
        else:
            offsets[r] = 0.0
    return offsets


def plan_estimates(folder, gaze_tables: list, *, accuracies: list | None = None,
                   observers: list | None = None, estimate: str = "default",
                   align: bool = True, min_accuracy_deg: float | None = None,
                   **options) -> dict:
    """Gazed superpixels, the trusted ones and their colour models, per recording (gather step).

    The equivalent of the start of :func:`pipeline.observer_estimate` (and of
    :func:`pipeline.align_estimates` when ``align`` and accuracies are given) on the whole
    recording: it needs only the gaze, the labels under it and the gazed superpixels' colour
    statistics, read from the chunk files.

    Parameters
    ----------
    folder : path-like
    gaze_tables : list of R DataFrame
        Canonical gaze tables, one per recording.
    accuracies : list of R (float or None), optional
        Measured accuracies in degrees.
    observers : list of R str, optional
    estimate : str
        Only ``default``-like parameters are chunked (``combine="mean"``, ``density=True``,
        no ``clamp``).
    align : bool
        As :func:`pipeline.segment`.
    **options
        Overrides of the estimate's parameters.

    Returns
    -------
    dict
        What was written to ``plan.json``.
    """
    from .pipeline import ALIGN_MIN_DEG

    layout = read_layout(folder)
    if layout.offsets is None:
        layout.offsets = chunk_offsets(folder)
    if not gaze_tables:
        raise InputError("segment needs at least one observer estimate (no gaze recording given)")
    params = estimate_params(estimate, **options)
    if params["combine"] != "mean" or not params["density"] or params["clamp"] \
            or params["theta"] != "gradient":
        raise InputError("chunked runs compute the default estimate (mean of colour densities, "
                         "propagation without clamping, gradient orientation); "
                         f"estimate {estimate!r} with these options needs the whole-sequence path")
    if params["cov_floor"] == "auto":
        params["cov_floor"] = COLOUR_COV_FLOOR if layout.colour else GREY_COV_FLOOR
    r_count = len(gaze_tables)
    accuracies = [check_accuracy_deg(a) for a in (accuracies or [None] * r_count)]
    points, names, compliance = _recording_points(layout, gaze_tables, observers)
    prior_acc = list(accuracies)
    aligned = align and any(a is not None for a in accuracies)
    offsets = np.zeros((r_count, 2))
    if aligned:
        offsets = _align_points(layout, points, accuracies, prior_acc,
                                ALIGN_MIN_DEG if min_accuracy_deg is None else min_accuracy_deg)
    recs = []
    for r in range(r_count):
        gsp = _gazed_global(folder, layout, points[r])
        idx = np.unique(gsp[gsp >= 0])
        gazed_all = idx.copy()
        if idx.size and params["trust"]:
            means = _rows(folder, "colour_mean", layout, idx)
            covs = _rows(folder, "colour_cov", layout, idx)
            keep = trusted_gazed(means, covs, np.arange(idx.size), trust_ratio=params["trust_ratio"],
                                 cov_floor=params["cov_floor"])
            idx = idx[keep]
        write_chunk_array(folder, "plan-points", r, np.asarray(points[r], np.float64))
        write_chunk_array(folder, "plan-gazed", r, idx.astype(np.int64))
        write_chunk_array(folder, "plan-gazed-all", r, gazed_all.astype(np.int64))
        write_chunk_array(folder, "plan-means", r, _rows(folder, "colour_mean", layout, idx))
        write_chunk_array(folder, "plan-covs", r, _rows(folder, "colour_cov", layout, idx))
        sigma = None
        if params.get("spatial_deg"):
            sigma = prior_sigma_deg(float(params["spatial_deg"]), prior_acc[r],
                                    float(params.get("spatial_accuracy") or 0.0))
        recs.append(dict(observer=names[r], accuracy_deg=accuracies[r], sigma_deg=sigma,
                         compliance=compliance[r],
                         offset_px=[float(offsets[r][0]), float(offsets[r][1])] if aligned
                         and np.any(offsets[r]) else None))
    plan = dict(params={**params, "estimate": estimate}, recordings=recs, aligned=bool(aligned))
    write_chunk_json(folder, "plan", _plain(plan))
    return plan


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def estimate_chunk(folder, index: int) -> None:
    """Every recording's colour score and propagation terms on chunk ``index`` (parallel step).

    Writes ``estimate`` (R, 3, n) float64: the propagated raw colour score ``A``, the
    propagated gazed indicator ``B`` and the propagated product ``C`` (see the module's notes)
    and ``estimate-max`` (R,): the chunk's largest raw colour score per recording.
    """
    layout = read_layout(folder)
    plan = read_chunk_json(folder, "plan")
    params = plan["params"]
    off = layout.offsets[int(index)]
    means = np.asarray(read_chunk_array(folder, "colour_mean", index))
    covs = np.asarray(read_chunk_array(folder, "colour_cov", index))
    centroids = np.asarray(read_chunk_array(folder, "centroids", index))
    frame_of = np.asarray(read_chunk_array(folder, "frame_of", index))
    n = means.shape[0]
    prop = LabelPropagation(alpha=params["alpha"], n_iter=params["n_iter"],
                            normalisation=params["normalisation"], clamp=False)
    omega = None
    if params["propagate"]:
        theta = np.asarray(read_chunk_array(folder, "theta_gradient", index))
        omega = prop.operator(affinity_matrix(centroids, theta, frame_of,
                                              sigma_a=params["sigma_a"],
                                              sigma_d=params["sigma_d"], tau=params["tau"]))
    r_count = len(plan["recordings"])
    out = np.zeros((r_count, 3, n))
    top = np.zeros(r_count)
    for r, rec in enumerate(plan["recordings"]):
        gazed = np.asarray(read_chunk_array(folder, "plan-gazed", r))
        g = gazed.size
        if read_chunk_array(folder, "plan-gazed-all", r).size == 0:
            continue  # no gaze on the sequence: the estimate is zero (as observer_estimate)
        fixed = np.zeros(n)
        local = gazed[(gazed >= off) & (gazed < off + n)] - off
        fixed[local] = 1.0
        # The recording's models appended after the chunk's superpixels: the mean of
        # densities of a superpixel depends on its own colour and the models only.
        p = colour_likelihood(np.concatenate([means, read_chunk_array(folder, "plan-means", r)]),
                              np.concatenate([covs, read_chunk_array(folder, "plan-covs", r)]),
                              np.arange(n, n + g), combine="mean", density=True,
                              cov_floor=params["cov_floor"])[:n]
        if rec["sigma_deg"]:
            # Only the gaze of the chunk's frames and their window: the same nearest points
            # as on the whole sequence, at a cost that does not grow with its length.
            window = int(params.get("spatial_frames", 2))
            start, stop = layout.chunks[int(index)]
            lo, hi = max(0, start - window), min(layout.n_frames, stop + window)
            points = np.asarray(read_chunk_array(folder, "plan-points", r)[lo:hi])
            p = p * spatial_prior(centroids, frame_of - lo, points,
                                  sigma_px=rec["sigma_deg"] * layout.px_per_degree, window=window)
        top[r] = float(p.max()) if n else 0.0
        terms = (p, fixed, fixed * p)
        if omega is not None:
            terms = tuple(prop.iterate(t, omega) for t in terms)
        out[r] = np.stack(terms)
    write_chunk_array(folder, "estimate-max", index, top)
    write_chunk_array(folder, "estimate", index, out)


def _estimate_scores(folder, layout: ChunkLayout, plan: dict) -> tuple[np.ndarray, list]:
    """(R, N) final estimate scores and per-recording trusted gazed masks (N,) bool.

    ``observer_estimate``'s end, from the chunk terms: ``p0 = p / top`` with the gazed fixed at
    1, propagated (``(A - C) / top + B``), rescaled by the largest value (symmetric
    normalisation), clipped, gazed set to 1.
    """
    params = plan["params"]
    r_count = len(plan["recordings"])
    n = layout.n_superpixels
    tops = np.max(np.stack([np.asarray(read_chunk_array(folder, "estimate-max", i))
                            for i in range(layout.n_chunks)]), axis=0)
    scores = np.zeros((r_count, n))
    for i in range(layout.n_chunks):
        a, b = layout.offsets[i], layout.offsets[i + 1]
        terms = np.asarray(read_chunk_array(folder, "estimate", i))
        for r in range(r_count):
            t = tops[r] if tops[r] > 0 else 1.0
            scores[r, a:b] = (terms[r, 0] - terms[r, 2]) / t + terms[r, 1]
    gazed = []
    for r in range(r_count):
        mask = np.zeros(n, bool)
        mask[np.asarray(read_chunk_array(folder, "plan-gazed", r))] = True
        gazed.append(mask)
        if read_chunk_array(folder, "plan-gazed-all", r).size == 0:
            scores[r] = 0.0
            continue
        if params["propagate"] and params["normalisation"] == "symmetric":
            top = scores[r].max() if n else 0.0
            if top > 0:
                scores[r] /= top
        np.clip(scores[r], 0.0, 1.0, out=scores[r])
        scores[r, mask] = 1.0
    return scores, gazed


def chunk_estimates(folder) -> list:
    """Each recording's final estimate, per superpixel, from the chunks' terms.

    Needs the ``estimate`` step done on every chunk. The same values
    :func:`estimate.observer_estimate` gives on the whole sequence (see the module's notes);
    per-superpixel arrays only (R x N floats), no pixel array.

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    list of EstimateResult
        In the order of the plan's recordings.
    """
    layout = read_layout(folder)
    plan = read_chunk_json(folder, "plan")
    scores, gazed = _estimate_scores(folder, layout, plan)
    estimates = []
    for r, rec in enumerate(plan["recordings"]):
        gazed_all = np.zeros(layout.n_superpixels, bool)
        gazed_all[np.asarray(read_chunk_array(folder, "plan-gazed-all", r))] = True
        estimates.append(EstimateResult(
            scores=scores[r], gazed=gazed[r],
            gaze_points=np.asarray(read_chunk_array(folder, "plan-points", r)),
            observer=rec["observer"], gazed_all=gazed_all, params=plan["params"],
            compliance=rec["compliance"], accuracy_deg=rec["accuracy_deg"],
            offset_px=None if rec["offset_px"] is None else tuple(rec["offset_px"])))
    return estimates


@dataclass
class TrainResult:
    """What the gather step that pools and draws the training samples found.

    Attributes
    ----------
    method : str
    pool : fitted pool object
    estimates : list of EstimateResult
        Per recording, per-superpixel (no pixel arrays).
    offsets_px : (R, 2) ndarray or None
    timings : dict
    methods : tuple of str
        The run's method first, then the baselines painted beside it.
    n_fits : int
        Boosters to fit (:func:`fit_booster` ``0 .. n_fits - 1``).
    """

    method: str
    pool: object
    estimates: list
    offsets_px: np.ndarray | None
    timings: dict = field(default_factory=dict)
    methods: tuple = ()
    n_fits: int = 0


#: Methods that boost (one :func:`fit_booster` per bag); ``probability`` is the pooled estimate.
_BOOSTED = ("eel", "el")


def chunk_methods(method: str, compare: bool = False) -> tuple[str, ...]:
    """The methods a chunked run paints: ``method``, then with ``compare`` the other chunked
    methods in the order of :data:`defaults.METHODS` (as a whole-sequence run scores them)."""
    from .defaults import METHODS

    if method not in CHUNKED_METHODS:
        raise InputError(f"method {method!r} is not chunked; chunked runs do "
                         f"{', '.join(CHUNKED_METHODS)}")
    if not compare:
        return (method,)
    return (method, *(m for m in METHODS if m != method and m in CHUNKED_METHODS))


def train_chunks(folder, *, method: str = "eel", pool=None, rng=0, train_fraction: float = 0.1,
                 n_rounds: int = N_ROUNDS, n_bags: int = N_BAGS, backend: str = "numpy",
                 compare: bool = False, compare_frames=None) -> TrainResult:
    """Pool the estimates and draw every booster's training sample (gather step).

    Holds the (R, N) estimates and the (N,) pooled estimate; writes per chunk ``pooled``
    (float64) and ``gazed`` (the union of trusted gazed superpixels), and per booster ``k``
    (one per boosted method and bag) its sample ``fit-train`` (global superpixel numbers)
    and targets ``fit-target``, so that the boosters are fitted in parallel
    (:func:`fit_booster`) on exactly the samples :func:`pipeline.segment` draws.
    Parameters as :func:`pipeline.segment`, and:

    Parameters
    ----------
    compare : bool, default False
        Also paint the chunked baselines (:func:`chunk_methods`), each from the same pooled
        estimate, as a whole-sequence run scores them (``segment(..., pool=run_pool,
        refit_pool=False)``).
    compare_frames : sequence of int, optional
        Frames whose baseline maps are stored (the frames a reference scores); default all.
        Every frame is painted anyway: the baselines' cuts need the whole map's histograms.
    rng : int or Generator
        Each boosted method draws its bags from ``numpy.random.default_rng(rng)``: for an
        int, a fresh generator per method (the samples of a whole-sequence run and of its
        baselines, each ``segment`` call seeded alike); a Generator is drawn on in turn.

    Returns
    -------
    TrainResult
    """
    from .pipeline import _pool_estimates

    methods = chunk_methods(method, compare)
    if int(n_bags) < 1 or int(n_rounds) < 1:
        raise InputError(f"n_bags and n_rounds must be >= 1; got {n_bags} and {n_rounds}")
    if backend not in ("numpy", "torch"):
        raise InputError(f"backend must be 'numpy' or 'torch'; got {backend!r}")
    layout = read_layout(folder)
    if compare_frames is not None:
        compare_frames = sorted({int(f) for f in compare_frames})
        if compare_frames and not 0 <= compare_frames[0] <= compare_frames[-1] < layout.n_frames:
            raise InputError(f"compare_frames must lie in 0..{layout.n_frames - 1}; got "
                             f"{compare_frames[0]}..{compare_frames[-1]}")
    plan = read_chunk_json(folder, "plan")
    timings = {}
    t = time.perf_counter()
    estimates = chunk_estimates(folder)
    timings["estimate"] = time.perf_counter() - t
    t = time.perf_counter()
    pool_obj, pooled = _pool_estimates(estimates, pool, True)
    timings["pool"] = time.perf_counter() - t
    positive = np.zeros(layout.n_superpixels, bool)
    for e in estimates:
        positive |= np.asarray(e.gazed, bool)
    t = time.perf_counter()
    # pipeline._boosted's draws, bag after bag, for each boosted method: the samples only;
    # the fits are parallel tasks.
    others = np.flatnonzero(~positive)
    n_sample = int(round(train_fraction * others.size))
    s = pooled.copy()
    s[positive] = 1.0
    fits = []
    for m in methods:
        if m not in _BOOSTED:
            continue
        gen = np.random.default_rng(rng)
        for bag in range(int(n_bags)):
            sampled = gen.choice(others, size=n_sample, replace=False) if n_sample else others[:0]
            train = np.concatenate([np.flatnonzero(positive), np.sort(sampled)])
            target = s[train] if m == "eel" else (s[train] >= 0.5).astype(np.float64)
            write_chunk_array(folder, "fit-train", len(fits), train.astype(np.int64))
            write_chunk_array(folder, "fit-target", len(fits), np.asarray(target, np.float64))
            fits.append({"method": m, "bag": bag})
    timings["sample"] = time.perf_counter() - t
    for i in range(layout.n_chunks):
        a, b = layout.offsets[i], layout.offsets[i + 1]
        write_chunk_array(folder, "pooled", i, np.asarray(pooled[a:b], np.float64))
        write_chunk_array(folder, "gazed", i, positive[a:b])
    offsets = np.array([e.offset_px or (0.0, 0.0) for e in estimates]) if plan["aligned"] else None
    # Last: its presence says the samples are written (chunks_done("fit") counts from it).
    write_chunk_json(folder, "train", {"method": method, "methods": list(methods), "fits": fits,
                                       "n_bags": int(n_bags), "n_rounds": int(n_rounds),
                                       "backend": backend, "compare_frames": compare_frames,
                                       "timings": timings})
    return TrainResult(method=method, pool=pool_obj, estimates=estimates, offsets_px=offsets,
                       timings=timings, methods=methods, n_fits=len(fits))


def fit_booster(folder, index: int) -> dict:
    """Fit booster ``index`` on its sample and score every superpixel with it (parallel step).

    Writes ``fit-decision`` ``index``: the booster's raw score (N,) float64 of every
    superpixel, computed chunk by chunk (per-superpixel vectors only: the sample's features
    and the N scores). The paint step averages a method's bags from these, so a superpixel is
    scored once per booster, whichever chunks paint it.

    Returns
    -------
    dict
        Seconds: ``fit`` (sample features read and booster fitted), ``predict``.
    """
    from .eel import ExpectedExponentialLoss, ExponentialLoss, StumpBooster

    layout = read_layout(folder)
    train_doc = read_chunk_json(folder, "train")
    index = int(index)
    if not 0 <= index < len(train_doc["fits"]):
        raise InputError(f"booster {index} does not exist: the run fits "
                         f"{len(train_doc['fits'])} (0..{len(train_doc['fits']) - 1})")
    fit = train_doc["fits"][index]
    t = time.perf_counter()
    train = np.asarray(read_chunk_array(folder, "fit-train", index))
    target = np.asarray(read_chunk_array(folder, "fit-target", index))
    order = np.argsort(train, kind="stable")
    x = np.empty((train.size, read_chunk_array(folder, "features", 0).shape[1]), np.float32)
    x[order] = _rows(folder, "features", layout, train[order])
    loss = ExpectedExponentialLoss() if fit["method"] == "eel" else ExponentialLoss()
    booster = StumpBooster(loss, n_rounds=int(train_doc["n_rounds"]), backend=train_doc["backend"])
    booster.fit(x, target)
    del x
    timings = {"fit": time.perf_counter() - t}
    t = time.perf_counter()
    decision = np.empty(layout.n_superpixels)
    for i in range(layout.n_chunks):
        decision[layout.offsets[i]:layout.offsets[i + 1]] = booster.decision_function(
            np.asarray(read_chunk_array(folder, "features", i)))
    write_chunk_array(folder, "fit-decision", index, decision)
    timings["predict"] = time.perf_counter() - t
    return timings


def _sp_scores(folder, layout: ChunkLayout, train_doc: dict, method: str, j: int) -> np.ndarray:
    """``method``'s float32 superpixel scores of chunk ``j``, as :func:`pipeline.segment`
    makes them: the pooled estimate, or the mean raw score of the method's bags through the
    exponential loss's link (summed bag after bag, the same floating-point operations)."""
    from .eel import StumpBooster

    a, b = layout.offsets[j], layout.offsets[j + 1]
    if method == "probability":
        s = np.asarray(read_chunk_array(folder, "pooled", j))
    else:
        f = np.zeros(b - a)
        for k, fit in enumerate(train_doc["fits"]):
            if fit["method"] == method:
                f += read_chunk_array(folder, "fit-decision", k)[a:b]
        s = StumpBooster.proba_from_decision(f / int(train_doc["n_bags"]))
    return np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0).astype(np.float32)


def _method_names(train_doc: dict, method: str) -> tuple[str, str, str]:
    """Names of ``method``'s stored levels, histograms and threshold (the run's method keeps
    the plain names ``scores``, ``histograms``, ``threshold``)."""
    if method not in train_doc.get("methods", [train_doc["method"]]):
        raise InputError(f"method {method!r} was not painted in this run; it painted "
                         f"{', '.join(train_doc.get('methods', [train_doc['method']]))}")
    if method == train_doc["method"]:
        return "scores", "histograms", "threshold"
    return f"scores-{method}", f"histograms-{method}", f"threshold-{method}"


def _stored_frames(train_doc: dict, layout: ChunkLayout, method: str, index: int) -> np.ndarray:
    """Frames of chunk ``index`` whose levels ``method`` stores (global indices)."""
    start, stop = layout.chunks[index]
    keep = train_doc.get("compare_frames")
    if method == train_doc["method"] or keep is None:
        return np.arange(start, stop)
    keep = np.asarray(keep, np.int64)
    return keep[(keep >= start) & (keep < stop)]


def paint_chunk(folder, index: int, frames, *, refine: bool = True) -> dict:
    """The stored (16-bit) pixel score maps of chunk ``index`` and their histograms (parallel step).

    Paints ``REFINE_TEMPORAL`` halo frames on each side from the neighbouring chunks so that
    the temporal average at the seams equals the whole sequence's. For the run's method,
    writes ``sp_scores`` (float32), ``scores`` (uint16 levels, :func:`metrics.quantise`) and
    ``histograms`` (2, 65536): the levels of the background sample (every 4th row and
    column) and of the gazed pixels. Each baseline painted beside it (``compare`` of
    :func:`train_chunks`) writes ``scores-<method>`` (the levels of its stored frames only)
    and ``histograms-<method>`` (of every frame): the same refinement per method, on the
    frames and labels read once.

    Parameters
    ----------
    folder : path-like
    index : int
    frames : array-like
        The whole sequence; only chunk ``index`` and its halo frames are decoded.
    refine : bool, default True
        As :func:`pipeline.segment`.

    Returns
    -------
    dict
        Seconds per method painted (its superpixel scores, refinement, levels, histograms).
    """
    from .pipeline import REFINE_EPS, REFINE_RADIUS, REFINE_TEMPORAL

    timings = {}
    layout = read_layout(folder)
    train_doc = read_chunk_json(folder, "train")
    index = int(index)
    start, stop = layout.chunks[index]
    halo = REFINE_TEMPORAL if refine else 0
    a, b = max(0, start - halo), min(layout.n_frames, stop + halo)
    labels = np.empty((b - a, *layout.shape), np.int32)
    near, gazed_parts, base = sorted({layout.chunk_of(a), index, layout.chunk_of(b - 1)}), [], 0
    for j in near:
        ja, jb = layout.chunks[j]
        lo, hi = max(a, ja), min(b, jb)
        labels[lo - a:hi - a] = np.asarray(read_chunk_array(folder, "labels", j)[lo - ja:hi - ja]) + base
        gazed_parts.append(np.asarray(read_chunk_array(folder, "gazed", j)))
        base += layout.offsets[j + 1] - layout.offsets[j]
    gazed = np.concatenate(gazed_parts)
    keep = slice(start - a, stop - a)
    gazed_px = gazed[labels[keep]]
    f01 = _normalise(_frames_of(frames, a, b), layout.value_range) if refine else None
    main = train_doc["method"]
    # The run's method last: its ``scores`` say the chunk is painted.
    for method in [m for m in train_doc.get("methods", [main]) if m != main] + [main]:
        t = time.perf_counter()
        sp_scores = np.concatenate([_sp_scores(folder, layout, train_doc, method, j) for j in near])
        if refine:
            scores = refine_scores(f01, sp_scores, labels,
                                   radius_px=REFINE_RADIUS * layout.side_px, eps=REFINE_EPS,
                                   temporal=REFINE_TEMPORAL)
        else:
            scores = sp_scores[labels]
        levels = quantise(scores[keep])
        del scores
        hist = np.stack([
            np.bincount(levels[:, ::_BACKGROUND_STRIDE, ::_BACKGROUND_STRIDE].ravel(),
                        minlength=_HIST_BINS),
            np.bincount(levels[gazed_px], minlength=_HIST_BINS)]).astype(np.int64)
        scores_name, hist_name, _ = _method_names(train_doc, method)
        write_chunk_array(folder, hist_name, index, hist)
        if method == main:
            own = slice(layout.offsets[index] - layout.offsets[near[0]],
                        layout.offsets[index + 1] - layout.offsets[near[0]])
            write_chunk_array(folder, "sp_scores", index, sp_scores[own])
        stored = _stored_frames(train_doc, layout, method, index)
        write_chunk_array(folder, scores_name, index, levels[stored - start])
        timings[method] = time.perf_counter() - t
    return timings


def _median_logit(hist: np.ndarray) -> float:
    """``np.median(logit(values))`` of the stored levels counted in ``hist`` (exactly).

    The logit is monotonic, so the middle values are the logits of the middle levels; numpy
    averages the two middle ones of an even count, in float32 as here.
    """
    cum = np.cumsum(hist)
    n = int(cum[-1])
    lo, hi = (n - 1) // 2, n // 2
    levels = np.searchsorted(cum, [lo + 1, hi + 1])  # first level whose count passes rank
    return float(np.median(logit(dequantise(levels))))


def finish_chunks(folder, *, threshold="auto", rule: str = "gaze-contrast",
                  k: float | None = None, method: str | None = None) -> ThresholdChoice:
    """The delivered cut from the chunks' histograms (gather step); writes ``threshold.json``.

    :func:`masks.choose_threshold` on the whole map gives the same value: its two medians are
    computed from the 16-bit levels' histograms, exactly.

    Parameters
    ----------
    folder : path-like
    threshold : "auto" or float in [0, 1]
    rule : {"gaze-contrast", "fixed"}
    k : float in (0, 1), optional
        Default :data:`masks.GAZE_CONTRAST_K`.
    method : str, optional
        A baseline painted beside the run's method (``compare`` of :func:`train_chunks`):
        its own cut, from its own histograms, written to ``threshold-<method>.json``.
        Default: the run's method.

    Returns
    -------
    ThresholdChoice
    """
    from .masks import GAZE_CONTRAST_K, THRESHOLD_RULES, _sigmoid
    from .pipeline import _threshold_choice

    layout = read_layout(folder)
    train_doc = read_chunk_json(folder, "train")
    _, hist_name, threshold_name = _method_names(train_doc, method or train_doc["method"])
    if threshold is not None and threshold != "auto":
        choice = _threshold_choice(None, None, None, threshold, rule)
    elif rule not in THRESHOLD_RULES:
        raise InputError(f"threshold rule must be one of {', '.join(THRESHOLD_RULES)}; got {rule!r}")
    elif rule == "fixed":
        choice = ThresholdChoice(0.5, "fixed", {})
    else:
        k = GAZE_CONTRAST_K if k is None else float(k)
        if not 0.0 < k < 1.0:
            raise InputError(f"k must lie in (0, 1); got {k}")
        hist = sum(np.asarray(read_chunk_array(folder, hist_name, i), np.int64)
                   for i in range(layout.n_chunks))
        if hist[1].sum() == 0:
            choice = ThresholdChoice(0.5, "gaze-contrast", {"fallback": "no gazed pixel"})
        else:
            background = _median_logit(hist[0])
            object_level = _median_logit(hist[1])
            if object_level <= background:
                choice = ThresholdChoice(0.5, "gaze-contrast",
                                         {"fallback": "gazed pixels score no higher than the rest",
                                          "background_logit": background,
                                          "gazed_logit": object_level})
            else:
                cut = background + k * (object_level - background)
                choice = ThresholdChoice(float(_sigmoid(np.array(cut))), "gaze-contrast",
                                         {"k": float(k), "background_logit": background,
                                          "gazed_logit": object_level})
    write_chunk_json(folder, threshold_name, {"threshold": choice.threshold, "rule": choice.rule,
                                              "details": _plain(choice.details)})
    return choice


def chunk_scores(folder, index: int) -> np.ndarray:
    """Chunk ``index``'s stored score map, uint16 levels (memory-mapped)."""
    return read_chunk_array(folder, "scores", index)


def chunk_masks(folder, index: int, threshold: float | None = None) -> np.ndarray:
    """Chunk ``index``'s delivered masks (uint8), cut at ``threshold`` (default: the chosen one)."""
    if threshold is None:
        threshold = read_chunk_json(folder, "threshold")["threshold"]
    return masks_at(dequantise(chunk_scores(folder, index)), threshold)


def chunk_method_result(folder, method: str | None = None, frames=None):
    """``method``'s delivered maps of ``frames`` as a :class:`pipeline.SegmentationResult`.

    What :func:`pipeline.segment` with that method (and the run's fitted pool) gives on those
    frames: the stored map, the masks at the method's own cut (:func:`finish_chunks` with
    ``method`` must have run), the cut and its rule; ``sp_scores`` is empty (per chunk in
    the folder). Scores are float32, one (H, W) map per frame: mind the memory.

    Parameters
    ----------
    folder : path-like
    method : str, optional
        The run's method (default) or a baseline painted beside it.
    frames : sequence of int, optional
        Frame indices (default all). A baseline's stored frames only (``compare_frames``).

    Returns
    -------
    SegmentationResult
    """
    from .pipeline import SegmentationResult

    layout = read_layout(folder)
    train_doc = read_chunk_json(folder, "train")
    method = method or train_doc["method"]
    scores_name, _, threshold_name = _method_names(train_doc, method)
    idx = np.arange(layout.n_frames) if frames is None else np.asarray(frames, np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= layout.n_frames):
        raise InputError(f"frames must lie in 0..{layout.n_frames - 1}")
    levels = np.empty((idx.size, *layout.shape), np.uint16)
    stored = {}
    for n, t in enumerate(idx):
        i = layout.chunk_of(int(t))
        if i not in stored:
            stored[i] = {int(f): r for r, f in
                         enumerate(_stored_frames(train_doc, layout, method, i))}
        if int(t) not in stored[i]:
            raise InputError(f"frame {int(t)} of {method!r} was not stored (only the frames "
                             f"compare_frames names)")
        levels[n] = read_chunk_array(folder, scores_name, i)[stored[i][int(t)]]
    cut = read_chunk_json(folder, threshold_name)
    scores = dequantise(levels)
    return SegmentationResult(sp_scores=np.zeros(0, np.float32), scores=scores,
                              masks=masks_at(scores, cut["threshold"]), threshold=cut["threshold"],
                              method=method, threshold_rule=cut["rule"],
                              threshold_details=cut["details"])


@dataclass
class ChunkedResult:
    """A chunked segmentation: the arrays stay in ``folder``, read chunk by chunk.

    Attributes
    ----------
    folder : Path
    layout : ChunkLayout
    threshold : float
    threshold_rule : str
    threshold_details : dict
    method : str
    pool : fitted pool object
    estimates : list of EstimateResult
    offsets_px : (R, 2) ndarray or None
    timings : dict
    baselines : dict
        Baseline name -> its :class:`ThresholdChoice` (``compare``); :meth:`result` gives
        its maps.
    """

    folder: Path
    layout: ChunkLayout
    threshold: float
    threshold_rule: str
    threshold_details: dict
    method: str
    pool: object = None
    estimates: list = field(default_factory=list)
    offsets_px: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)

    def result(self, method: str | None = None, frames=None):
        """:func:`chunk_method_result`: ``method``'s maps and masks of ``frames`` (default:
        the run's method, all frames)."""
        return chunk_method_result(self.folder, method, frames)

    def scores(self, frames=None) -> np.ndarray:
        """Float32 pixel scores of ``frames`` (indices; default all: mind the memory)."""
        return dequantise(self._gather("scores", frames))

    def masks(self, frames=None) -> np.ndarray:
        """Delivered uint8 masks of ``frames`` (indices; default all)."""
        return masks_at(self.scores(frames), self.threshold)

    def labels(self, frames=None) -> np.ndarray:
        """Global superpixel labels of ``frames`` (indices; default all)."""
        return self._gather("labels", frames, add_offsets=True)

    def _gather(self, name, frames, add_offsets=False) -> np.ndarray:
        idx = np.arange(self.layout.n_frames) if frames is None else np.asarray(frames, np.int64)
        out = None
        for n, t in enumerate(idx):
            i = self.layout.chunk_of(int(t))
            row = np.asarray(read_chunk_array(self.folder, name, i)[int(t) - self.layout.chunks[i][0]])
            if add_offsets:
                row = row + self.layout.offsets[i]
            if out is None:
                out = np.empty((idx.size, *row.shape), row.dtype)
            out[n] = row
        return out


def segment_chunked(frames, gaze_tables: list, folder, *, px_per_degree: float = DEFAULT_PX_PER_DEGREE,
                    chunk_frames: int = DEFAULT_CHUNK_FRAMES, accuracies: list | None = None,
                    observers: list | None = None, method: str = "eel", pool=None, rng=0,
                    train_fraction: float = 0.1, n_rounds: int = N_ROUNDS, n_bags: int = N_BAGS,
                    backend: str = "numpy", refine: bool = True, threshold="auto",
                    threshold_rule: str = "gaze-contrast", align: bool = True,
                    estimate: str = "default", compare: bool = False, compare_frames=None,
                    progress=None) -> ChunkedResult:
    """:func:`prepare_sequence`, :func:`observer_estimate` and :func:`segment` chunk by chunk.

    Memory is one chunk (plus 2 halo frames) and the per-superpixel vectors, whatever the
    length; every array stays in ``folder``. Same masks as the whole-sequence path (see the
    module's notes; tests/engine/test_chunks.py measures it).

    Parameters
    ----------
    frames : (T, H, W[, 3]) array-like
        Sliceable along the first axis (an array, a memory map or a lazy reader of
        :func:`segmentation.engine.io.open_sequence`).
    gaze_tables : list of DataFrame
        One canonical gaze table per recording.
    folder : path-like
        Where the chunk arrays go.
    chunk_frames : int
        Frames per chunk.
    accuracies, observers : list, optional
        Per recording (see :func:`plan_estimates`).
    compare, compare_frames
        Also paint the chunked baselines, each cut by the same rule from its own map (see
        :func:`train_chunks`; ``result.baselines``, ``result.result(method)``).
    progress : callable(stage, fraction), optional
        Stages ``prepare``, ``estimate``, ``fit`` (boosters), ``paint``: fraction done.
    Other parameters
        As :func:`pipeline.segment`.

    Returns
    -------
    ChunkedResult
    """
    report = progress or (lambda stage, fraction: None)
    timings = {}
    t = time.perf_counter()
    layout = chunk_layout(folder, frames, px_per_degree=px_per_degree, chunk_frames=chunk_frames)
    for i in range(layout.n_chunks):
        prepare_chunk(folder, i, frames)
        report("prepare", (i + 1) / layout.n_chunks)
    chunk_offsets(folder)
    timings["prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    plan_estimates(folder, gaze_tables, accuracies=accuracies, observers=observers,
                   estimate=estimate, align=align)
    for i in range(layout.n_chunks):
        estimate_chunk(folder, i)
        report("estimate", (i + 1) / layout.n_chunks)
    timings["estimate"] = time.perf_counter() - t
    t = time.perf_counter()
    trained = train_chunks(folder, method=method, pool=pool, rng=rng, train_fraction=train_fraction,
                           n_rounds=n_rounds, n_bags=n_bags, backend=backend, compare=compare,
                           compare_frames=compare_frames)
    for k in range(trained.n_fits):
        fit_booster(folder, k)
        report("fit", (k + 1) / trained.n_fits)
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(layout.n_chunks):
        paint_chunk(folder, i, frames, refine=refine)
        report("paint", (i + 1) / layout.n_chunks)
    choice = finish_chunks(folder, threshold=threshold, rule=threshold_rule)
    baselines = {m: finish_chunks(folder, threshold=threshold, rule=threshold_rule, method=m)
                 for m in trained.methods[1:]}
    timings["paint"] = time.perf_counter() - t
    return ChunkedResult(folder=Path(folder), layout=read_layout(folder), threshold=choice.threshold,
                         threshold_rule=choice.rule, threshold_details=choice.details,
                         method=method, pool=trained.pool, estimates=trained.estimates,
                         offsets_px=trained.offsets_px, timings=timings, baselines=baselines)
