"""``python -m segmentation.engine run``: gaze recordings -> pixel-wise segmentation of a sequence.

Writes into ``--out``:

* ``scores_<method>.npy``: float32 (T, H, W) in [0, 1], one per method: the edge-aware pixel
  score map (16-bit levels, as the platform stores it);
* ``masks/00000.png ...``: the delivered masks of EEL (or of the first method when eel is not
  run) as 8-bit PNGs {0, 255}: the score map cut at ``--threshold``, by default chosen from
  the map and the gaze without any reference (``gaze-contrast``);
* ``metrics.json``: ``{"methods": {m: {"dice", "iou", "threshold", "auc", "f1", ...}},
  "mask_threshold", "threshold_rule", "observers": [...], "timings_s": {...},
  "pool": {"method", "weights", "flagged"}, "parameters": {...}}`` (``methods`` scores only
  with ``--truth``; ``dice``/``iou`` are those of the masks as written, ``f1`` the oracle
  max-F1 over thresholds chosen with the reference).

``python -m segmentation.engine export OUT --threshold T`` cuts the stored map again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

NAME = "run"
HELP = "Segment a sequence from observers' gaze (EEL and baselines); write scores, masks, metrics."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import ESTIMATES, FEATURES, METHODS, N_BAGS, N_ROUNDS
    from .inputs import PX_PER_DEGREE_HELP

    parser.add_argument("--frames", required=True, metavar="PATH",
                        help="the sequence: a folder of images (sorted by name), a DICOM folder, "
                             "a .nii/.nii.gz volume (frames along --axis) or a video file")
    parser.add_argument("--gaze", required=True, nargs="+", metavar="CSV",
                        help="gaze CSV file(s) observer,t_ms,frame,x,y (x = column, y = row, "
                             "pixels; empty x,y = lost sample); each file is one recording")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--truth", metavar="PATH",
                        help="reference masks in any --frames form; adds AUC/F1 to metrics.json")
    parser.add_argument("--methods", default="eel,el,probability,vilarino", metavar="LIST",
                        help=f"comma-separated methods among {','.join(METHODS)} "
                             "(default: all)")
    parser.add_argument("--px-per-degree", type=float, default=None, metavar="N",
                        help=PX_PER_DEGREE_HELP)
    parser.add_argument("--threshold", default="auto", metavar="T",
                        help="cut of the delivered masks: 'auto' (chosen from the score map "
                             "and the gaze, never from --truth) or a number in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="random seed (training subsample, SVM, autoencoder; default 0)")
    parser.add_argument("--estimate", default="default", choices=ESTIMATES,
                        help="per-observer estimate: 'default' (robust to stray gaze) or "
                             "'paper' (exactly as published)")
    parser.add_argument("--features", default="hand", metavar="KIND",
                        help=f"superpixel features: {', '.join(FEATURES)} (default: hand)")
    parser.add_argument("--pool", default=None, metavar="NAME",
                        help="how observers' estimates are pooled: a name of "
                             "segmentation.engine.pooling.POOLS (default: its DEFAULT_POOL)")
    parser.add_argument("--rounds", type=int, default=N_ROUNDS, metavar="N",
                        help=f"boosting rounds of eel and el (default {N_ROUNDS}; the paper: 50)")
    parser.add_argument("--bags", type=int, default=N_BAGS, metavar="N",
                        help="eel and el average this many boosters, each on its own 10%% "
                             f"sample of the non-gazed superpixels (default {N_BAGS}; the "
                             "paper: 1)")
    parser.add_argument("--temporal", action="store_true",
                        help="supervoxels across frames instead of per-frame superpixels")
    parser.add_argument("--axis", type=int, default=-1,
                        help="volume axis along which frames are taken (default: -1, the last)")
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")


class _Progress:
    """One updating line on stderr: ``[stage] 42%``."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr is not None
        self.last = (None, -1)

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        pct = int(fraction * 100)
        if (stage, pct // 5) == self.last:
            return
        self.last = (stage, pct // 5)
        sys.stderr.write(f"\r{stage:<14} {pct:3d}%")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def _clean(d: dict) -> dict:
    """JSON-safe: NaN and infinities become None, nested dicts included."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _clean(v)
        elif isinstance(v, (float, np.floating)):
            v = float(v) if np.isfinite(v) else None
        out[k] = v
    return out


def _threshold_arg(value: str):
    """``--threshold``: 'auto' or a number in [0, 1]."""
    from .. import InputError

    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        t = float(value)
    except ValueError:
        raise InputError(f"--threshold must be 'auto' or a number in [0, 1], got {value!r}") from None
    if not np.isfinite(t) or not 0.0 <= t <= 1.0:
        raise InputError(f"--threshold must be 'auto' or a number in [0, 1], got {value!r}")
    return t


def main(args) -> int:
    from .. import (
        METHODS,
        InputError,
        evaluate,
        observer_estimate,
        prepare_sequence,
        save_score_map,
        segment,
        write_json,
        write_mask_pngs,
    )

    t0 = time.perf_counter()
    progress = _Progress(not args.quiet)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InputError(f"--methods: unknown {', '.join(bad) or '(empty)'}; choose among "
                         f"{','.join(METHODS)}")
    threshold = _threshold_arg(args.threshold)
    from .inputs import px_per_degree_arg, read_inputs

    inputs = read_inputs(args)
    seq, frames, truth, recordings = inputs.sequence, inputs.frames, inputs.truth, inputs.recordings
    t_count = frames.shape[0]
    progress.note(f"{seq.source}: {t_count} frames {frames.shape[1]}x{frames.shape[2]}"
                  f"{' colour' if frames.ndim == 4 else ''}; {len(recordings)} recording(s)")
    ppd, ppd_source = px_per_degree_arg(args.px_per_degree, frames.shape[1:3])

    prepared = prepare_sequence(frames, px_per_degree=ppd, features=args.features,
                                temporal=args.temporal, rng=args.seed, progress=progress)
    progress.note(f"{prepared.n_superpixels} superpixels, {prepared.features.shape[1]} features")
    estimates = []
    for i, (name, part) in enumerate(recordings):
        estimates.append(observer_estimate(prepared, frames, part, estimate=args.estimate,
                                           observer=name))
        progress("estimates", (i + 1) / len(recordings))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {"superpixels": prepared.timings["superpixels"],
               "features": prepared.timings["features"],
               "estimate": float(sum(e.timings["estimate"] for e in estimates)),
               "train": 0.0, "predict": 0.0}
    per_method_timings = {}
    scores_out = {}
    mask_result = None
    pool_info = None
    fitted_pool = None  # fitted by the first method, reused by the others
    for m in methods:
        result = segment(prepared, frames, estimates, method=m,
                         pool=fitted_pool if fitted_pool is not None else args.pool,
                         refit_pool=fitted_pool is None, rng=args.seed,
                         n_rounds=args.rounds, n_bags=args.bags, threshold=threshold,
                         progress=progress)
        fitted_pool = result.pool
        save_score_map(out / f"scores_{m}.npy", result.scores)
        per_method_timings[m] = {k: round(float(v), 4) for k, v in result.timings.items()}
        if m == "eel":
            timings["train"] = result.timings["train"]
            timings["predict"] = result.timings["predict"]
        if truth is not None:
            scores_out[m] = _clean(evaluate(result, truth))
        if m == "eel" or mask_result is None:
            mask_result = result
        if pool_info is None and result.pool is not None:
            p = result.pool
            pool_info = {"method": getattr(p, "name", type(p).__name__),
                         "weights": {str(k): float(v) for k, v in p.weights_.items()},
                         "flagged": [str(o) for o in getattr(p, "flagged_", [])]}
    if "eel" not in methods:
        timings["train"] = sum(t["train"] for t in per_method_timings.values())
        timings["predict"] = sum(t["predict"] for t in per_method_timings.values())
    write_mask_pngs(mask_result.masks, out / "masks")
    timings["total"] = time.perf_counter() - t0
    metrics = {
        "methods": scores_out,
        "observers": [e.observer for e in estimates],
        "timings_s": {k: round(float(v), 4) for k, v in timings.items()},
        "pool": pool_info,
        "mask_method": mask_result.method,
        "mask_threshold": float(mask_result.threshold),
        "threshold_rule": mask_result.threshold_rule,
        "threshold_details": mask_result.threshold_details,
        "method_timings_s": per_method_timings,
        "n_frames": int(t_count),
        "n_superpixels": int(prepared.n_superpixels),
        "parameters": {"px_per_degree": ppd, "px_per_degree_source": ppd_source,
                       "seed": args.seed,
                       "estimate": args.estimate, "features": args.features,
                       "pool": pool_info["method"] if pool_info else args.pool,
                       "temporal": bool(args.temporal), "methods": methods},
    }
    write_json(out / "metrics.json", metrics)
    progress.note(f"masks ({mask_result.method}) at threshold {mask_result.threshold:.3f} "
                  f"({mask_result.threshold_rule})")
    if truth is not None:
        for m, s in scores_out.items():
            progress.note(f"{m:<12} delivered Dice {s['dice']:.3f}  IoU {s['iou']:.3f}  "
                          f"(AUC {s['auc']:.3f}, oracle max-F1 {s['f1']:.3f})")
    progress.note(f"wrote {out} in {timings['total']:.1f} s")
    return 0
