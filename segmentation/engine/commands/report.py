"""``python -m segmentation.engine report``: the crowd report of one sequence.

Writes into ``--out``: ``report.html`` (self-contained, figures embedded), ``observers.csv``
(one row per observer: name, recordings, weight, flagged, reason, agreement, gaze statistics
and, with ``--truth``, AUC/F1 of each method run on that observer alone), ``curves.csv`` (ROC
curves, mean ROC with standard error, AUC against the number of observers pooled),
``summary.json`` and the figures as PNG and SVG (``roc.png`` always).

The observer of a recording is the ``observer`` column of its gaze file; several files (or
several recordings) of one observer are repeats.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "report"
HELP = ("Crowd report of a sequence: observer weights and flags, agreement, ROC with "
        "standard-error bands, AUC vs observers pooled, variance maps (HTML, CSV, PNG, SVG).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import DEFAULT_POOL, ESTIMATES, FEATURES, N_BAGS, N_ROUNDS, POOLS
    from .inputs import PX_PER_DEGREE_HELP

    parser.add_argument("--frames", required=True, metavar="PATH",
                        help="the sequence: a folder of images (sorted by name), a DICOM folder, "
                             "a .nii/.nii.gz volume (frames along --axis) or a video file")
    parser.add_argument("--gaze", required=True, nargs="+", metavar="CSV",
                        help="gaze CSV file(s) observer,t_ms,frame,x,y, one recording per file "
                             "(and observer); files of one observer are repeated recordings")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--truth", metavar="PATH",
                        help="reference masks in any --frames form: adds per-observer AUC/F1, "
                             "ROC curves and AUC against the number of observers")
    parser.add_argument("--pool", default=DEFAULT_POOL, choices=sorted(POOLS),
                        help=f"how observers are pooled (default: {DEFAULT_POOL})")
    parser.add_argument("--methods", default="eel,el", metavar="LIST",
                        help="methods run on each observer alone, with --truth (default: eel,el;"
                             " the probability estimate is always scored)")
    parser.add_argument("--subsets", type=int, default=5, metavar="N",
                        help="with --truth: pooled EEL on up to N subsets of each size 1..all "
                             "(default 5; 0 skips the AUC-vs-observers curve)")
    parser.add_argument("--px-per-degree", type=float, default=None, metavar="N",
                        help=PX_PER_DEGREE_HELP)
    parser.add_argument("--estimate", default="default", choices=ESTIMATES,
                        help="per-observer estimate (default: 'default')")
    parser.add_argument("--features", default="hand", metavar="KIND",
                        help=f"superpixel features: {', '.join(FEATURES)} (default: hand)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed")
    parser.add_argument("--rounds", type=int, default=N_ROUNDS, metavar="N",
                        help=f"boosting rounds of eel and el (default {N_ROUNDS}; the paper: 50)")
    parser.add_argument("--bags", type=int, default=N_BAGS, metavar="N",
                        help=f"boosters averaged per eel/el run (default {N_BAGS}; the paper: 1)")
    parser.add_argument("--axis", type=int, default=-1,
                        help="volume axis along which frames are taken (default: -1, the last)")
    parser.add_argument("--title", default=None, help="report title (default: from --frames)")
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")


def main(args) -> int:
    from .. import (
        METHODS,
        InputError,
        build_report,
        crowd_analysis,
        delivered_summary,
        observer_estimate,
        prepare_sequence,
        write_report,
    )
    from .run import _Progress

    t0 = time.perf_counter()
    progress = _Progress(not args.quiet)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS or m == "probability"]
    if bad:
        raise InputError(f"--methods: cannot run {', '.join(bad)} per observer; choose among "
                         f"{','.join(m for m in METHODS if m != 'probability')}")
    if args.subsets < 0:
        raise InputError(f"--subsets must be 0 or more, got {args.subsets}")
    from .inputs import px_per_degree_arg, read_inputs

    inputs = read_inputs(args)
    seq, frames, truth, recordings = inputs.sequence, inputs.frames, inputs.truth, inputs.recordings
    t_count = frames.shape[0]
    progress.note(f"{seq.source}: {t_count} frames; {len(recordings)} recording(s) of "
                  f"{len({n for n, _ in recordings})} observer(s)")

    ppd, _ = px_per_degree_arg(args.px_per_degree, frames.shape[1:3])
    prepared = prepare_sequence(frames, px_per_degree=ppd,
                                features=args.features, rng=args.seed, progress=progress)
    estimates = []
    for i, (name, part) in enumerate(recordings):
        estimates.append(observer_estimate(prepared, frames, part, estimate=args.estimate,
                                           observer=name))
        progress("estimates", (i + 1) / len(recordings))
    analysis = crowd_analysis(prepared, frames, estimates, truth=truth, methods=methods,
                              pool=args.pool, subsets=args.subsets > 0,
                              max_subsets=max(args.subsets, 1), rng=args.seed,
                              booster={"n_rounds": args.rounds, "n_bags": args.bags},
                              progress=progress)
    result = analysis.pop("result")
    title = args.title or f"Crowd report: {Path(seq.source).name or seq.source}"
    report = build_report(**analysis, frames=frames, truth=truth,
                          gaze=[part for _, part in recordings],
                          px_per_degree=ppd, title=title, delivered=delivered_summary(result, truth))
    files = write_report(report, args.out)
    s = report.summary
    progress.note(f"pool {s['pool']['method']}: weights "
                  + ", ".join(f"{o} {w:.3f}" for o, w in s["pool"]["weights"].items()))
    progress.note(f"flagged: {', '.join(s['flagged']) or 'none'}")
    for m, d in s.get("single", {}).items():
        progress.note(f"{m:<12} single observer AUC {d['auc']['mean']:.3f} "
                      f"± {d['auc']['se'] or 0:.3f}")
    for m, d in s.get("pooled", {}).items():
        progress.note(f"{m:<24} pooled AUC {d['auc']:.3f}")
    progress.note(f"wrote {len(files)} files to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
