"""Benchmark of the segmentation engine on the development sequences of ../shared/data.

For every development sequence (BRATS pat0001-0003, DAVIS blackswan, bmx-trees,
car-roundabout, dog, goat, parkour): prepare once, estimate per observer, then segment with
every method with the 7 observers pooled and with observer-1 alone; print pixel-wise AUC and
max-F1 per method, the stage timings, seconds per frame of a whole 7-observer EEL run, its ratio
to the superpixel step, and the peak memory of the process. Each sequence runs in its own
process so that the peak memory is that sequence's.

Evaluation sequences have no gaze in ../shared/data: ``--eval`` only times their preparation
(superpixels + features) and measures the memory, never a score.

    nice .venv/bin/python bench/engine.py                       # all dev sequences
    nice .venv/bin/python bench/engine.py --seqs davis-dog --estimate paper
    nice .venv/bin/python bench/engine.py --features autoencoder --methods eel,probability
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEV = ["brats-pat0001", "brats-pat0002", "brats-pat0003", "davis-blackswan", "davis-bmx-trees",
       "davis-car-roundabout", "davis-dog", "davis-goat", "davis-parkour"]
EVAL = ["brats-pat0004", "brats-pat0005", "brats-pat0006", "davis-camel", "davis-cows",
        "davis-dance-twirl", "davis-horsejump-high", "davis-kite-surf", "davis-soapbox"]
DAVIS_PPD = 26.687  # ../shared/data/gaze/davis-*/recording.json
BRATS_PPD = 12.0


#: ``--simulate``: the development panel whose observers' parameters are simulated, per set.
SIMULATION_PANELS = {"brats": "brats-pat0001", "davis": "davis-blackswan"}


def load(name: str, *, gaze: bool = True, simulate: bool = False):
    from segmentation import engine

    kind, seq = name.split("-", 1)
    if kind == "brats":
        frames = engine.read_sequence(DATA / f"brats/{seq}/flair.nii.gz").frames
        truth = engine.read_masks(DATA / f"brats/{seq}/tumour.nii.gz")
        ppd = BRATS_PPD
    else:
        frames = engine.read_sequence(DATA / f"davis/{seq}/frames").frames
        truth = engine.read_masks(DATA / f"davis/{seq}/masks")
        ppd = DAVIS_PPD
    tables = []
    folder = DATA / "gaze" / name
    if simulate:  # simulated observers from the masks (evaluation sequences have no gaze)
        from segmentation.engine import simulate_panel

        panel = engine.read_panel(DATA / "gaze" / SIMULATION_PANELS[kind] / "recording.json")
        ppd = panel.px_per_degree
        tables = simulate_panel(np.asarray(truth), panel)
    elif gaze and folder.is_dir():
        ppd = json.loads((folder / "recording.json").read_text())["image_px_per_degree"]
        tables = [engine.read_gaze_csv(p) for p in sorted(folder.glob("observer-*.csv"))]
    return frames, truth, ppd, tables


#: ``--ablation``: what each change of the default estimate does (name -> estimate, overrides).
ABLATION = {
    "paper": ("paper", {}),
    "paper, no propagation": ("paper", {"propagate": False}),
    "mean of peak-normalised Gaussians, no propagation": (
        "paper", {"combine": "mean", "density": False, "cov_floor": 4.0, "propagate": False}),
    "mean of densities + propagation": ("paper", {"combine": "mean"}),
    "trusted + max of densities + propagation": ("paper", {"trust": True}),
    "trusted + mean of densities, no propagation": ("default", {"propagate": False}),
    "default (trusted + mean of densities + propagation)": ("default", {}),
    "default, random-walk propagation": ("default", {"normalisation": "random_walk"}),
    "default, optical-flow theta": ("default", {"theta": "flow"}),
}


def run_ablation(name: str, args) -> dict:
    """Pooled probability / EEL AUC and observer-1 EEL AUC of every ABLATION variant."""
    from segmentation.engine import evaluate, observer_estimate, prepare_sequence, segment

    frames, truth, ppd, tables = load(name)
    prep = prepare_sequence(frames, px_per_degree=ppd, flow=True, rng=args.seed)
    out = {"name": name, "variants": {}}
    for label, (est, opts) in ABLATION.items():
        ests = [observer_estimate(prep, frames, g, estimate=est, **opts) for g in tables]
        row = {"single_estimate": float(np.mean([evaluate(e.scores, truth, prep)["auc"]
                                                 for e in ests]))}
        for m in ("probability", "eel"):
            r = segment(prep, frames, ests, method=m, pool=args.pool, rng=args.seed)
            row[m] = evaluate(r, truth, prep)["auc"]
        r1 = segment(prep, frames, ests[:1], method="eel", pool=args.pool, rng=args.seed)
        row["eel_observer1"] = evaluate(r1, truth, prep)["auc"]
        out["variants"][label] = row
    return out


def print_ablation(results: list[dict], args) -> None:
    print(f"\nEstimate ablation (pool={args.pool or 'default'}): AUC of the mean single-observer "
          "estimate / pooled probability / pooled EEL / observer-1 EEL")
    print(f"{'variant':52s} " + " ".join(f"{r['name'][:13]:>13s}" for r in results)
          + f" {'mean BRATS':>22s} {'mean DAVIS':>22s}")
    for label in ABLATION:
        cells = []
        for r in results:
            v = r["variants"][label]
            cells.append(f"{v['probability']:.3f}/{v['eel']:.3f}")
        means = []
        for kind in ("brats", "davis"):
            sub = [r["variants"][label] for r in results if r["name"].startswith(kind)]
            if sub:
                means.append("/".join(f"{np.mean([v[k] for v in sub]):.3f}" for k in
                                      ("single_estimate", "probability", "eel", "eel_observer1")))
            else:
                means.append("-")
        print(f"{label[:52]:52s} " + " ".join(f"{c:>13s}" for c in cells)
              + " " + " ".join(f"{m:>22s}" for m in means))


def run_one(name: str, args) -> dict:
    """Everything for one sequence; returns a JSON-able dict."""
    from segmentation.engine import evaluate, observer_estimate, prepare_sequence, segment

    frames, truth, ppd, tables = load(name, gaze=not args.eval, simulate=args.simulate)
    out = {"name": name, "frames": int(frames.shape[0]), "shape": list(frames.shape[1:3])}
    # CPU seconds of this process as well as wall seconds: the benchmark machine is shared, and
    # CPU time is what the run would take on otherwise idle cores.
    cpu0 = time.process_time()
    t = time.perf_counter()
    prep = prepare_sequence(frames, px_per_degree=ppd, features=args.features, rng=args.seed)
    out["prepare_s"] = time.perf_counter() - t
    out["superpixels_s"] = prep.timings["superpixels"]
    out["features_s"] = prep.timings["features"]
    out["n_superpixels"] = prep.n_superpixels
    if (args.eval and not args.simulate) or not tables:
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out
    cpu_prepare = time.process_time() - cpu0
    t = time.perf_counter()
    cpu1 = time.process_time()
    ests = [observer_estimate(prep, frames, g, estimate=args.estimate) for g in tables]
    out["estimate_s"] = time.perf_counter() - t
    cpu_estimate = time.process_time() - cpu1
    out["observers"] = [e.observer for e in ests]
    out["pooled"], out["single"], out["timings"] = {}, {}, {}
    for m in args.methods:
        t = time.perf_counter()
        cpu2 = time.process_time()
        r = segment(prep, frames, ests, method=m, pool=args.pool, rng=args.seed, **args.booster)
        out["timings"][m] = {"segment_s": time.perf_counter() - t,
                             "segment_cpu_s": time.process_time() - cpu2, **r.timings}
        out["pooled"][m] = _scores(evaluate(r, truth))
        if m == "eel":
            out["pool"] = {"method": getattr(r.pool, "name", type(r.pool).__name__),
                           "flagged": list(r.pool.flagged_)}
        r1 = segment(prep, frames, ests[:1], method=m, pool=args.pool, rng=args.seed,
                     **args.booster)
        out["single"][m] = _scores(evaluate(r1, truth))
        if args.seed_list:
            out.setdefault("seeds", {})[m] = [
                evaluate(segment(prep, frames, ests, method=m, pool=r.pool, refit_pool=False,
                                 rng=seed, **args.booster), truth, prep)["auc"]
                for seed in args.seed_list]
    if "eel" in args.methods:
        eel = out["timings"]["eel"]
        total = out["superpixels_s"] + out["features_s"] + out["estimate_s"] + eel["segment_s"]
        out["eel_run_s"] = total
        out["eel_s_per_frame"] = total / out["frames"]
        out["ratio_to_superpixels"] = total / out["superpixels_s"]
        out["eel_run_cpu_s"] = cpu_prepare + cpu_estimate + eel["segment_cpu_s"]
        out["eel_cpu_s_per_frame"] = out["eel_run_cpu_s"] / out["frames"]
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _scores(d: dict) -> dict:
    """The JSON-able figures of :func:`evaluate` (delivered first)."""
    keep = ("dice", "iou", "threshold", "auc", "f1", "f1_fpr5", "predicted_fraction",
            "true_fraction", "calibration_error")
    return {k: float(d[k]) for k in keep if k in d}


def _fmt(x, nd=3):
    return "  -  " if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def print_tables(results: list[dict], args) -> None:
    methods = args.methods
    if not args.eval or args.simulate:
        print(f"\nDelivered Dice / AUC / oracle max-F1, 7 observers pooled "
              f"(pool={results[0].get('pool', {}).get('method')},"
              f" estimate={args.estimate}, features={args.features}, "
              f"booster={args.booster or 'engine defaults'}); Dice of the masks as delivered "
              "(cut without the reference)")
        print(f"{'sequence':22s} " + " ".join(f"{m:>19s}" for m in methods) + "  flagged")
        for r in results:
            cells = [f"{_fmt(r['pooled'][m].get('dice'), 2)}/{_fmt(r['pooled'][m]['auc'])}/"
                     f"{_fmt(r['pooled'][m]['f1'], 2)}" for m in methods]
            print(f"{r['name']:22s} " + " ".join(f"{c:>19s}" for c in cells) + "  "
                  + ",".join(r.get("pool", {}).get("flagged", [])))
        for kind in ("brats", "davis"):
            sub = [r for r in results if r["name"].startswith(kind)]
            if sub:
                cells = [f"{np.mean([r['pooled'][m].get('dice', np.nan) for r in sub]):.2f}/"
                         f"{np.mean([r['pooled'][m]['auc'] for r in sub]):.3f}" for m in methods]
                print(f"{'mean ' + kind:22s} " + " ".join(f"{c:>19s}" for c in cells))
        if results and "seeds" in results[0]:
            print(f"\nAUC mean over seeds {args.seeds}, 7 observers pooled "
                  "(margin: eel minus the best other method)")
            print(f"{'sequence':22s} " + " ".join(f"{m:>13s}" for m in methods) + "   margin")
            for r in results:
                mean = {m: float(np.mean(r["seeds"][m])) for m in methods}
                others = [mean[m] for m in methods if m != "eel"]
                margin = mean["eel"] - max(others) if "eel" in mean and others else float("nan")
                print(f"{r['name']:22s} " + " ".join(f"{mean[m]:13.4f}" for m in methods)
                      + f" {margin:+8.4f}")
        print("\nDelivered Dice / AUC / oracle max-F1, observer-1 alone")
        print(f"{'sequence':22s} " + " ".join(f"{m:>19s}" for m in methods))
        for r in results:
            cells = [f"{_fmt(r['single'][m].get('dice'), 2)}/{_fmt(r['single'][m]['auc'])}/"
                     f"{_fmt(r['single'][m]['f1'], 2)}" for m in methods]
            print(f"{r['name']:22s} " + " ".join(f"{c:>19s}" for c in cells))
        for kind in ("brats", "davis"):
            sub = [r for r in results if r["name"].startswith(kind)]
            if sub:
                cells = [f"{np.mean([r['single'][m]['auc'] for r in sub]):.3f}" for m in methods]
                print(f"{'mean ' + kind:22s} " + " ".join(f"{c:>13s}" for c in cells))
    print("\nTimings (s); eel run = superpixels + features + 7 estimates + EEL (pool, train, "
          "predict, paint)")
    print(f"{'sequence':22s} {'T':>4s} {'HxW':>8s} {'N':>7s} {'superpx':>8s} {'features':>8s} "
          f"{'estim':>7s} {'train':>6s} {'predict':>7s} {'eel run':>8s} {'s/frame':>8s} "
          f"{'ratio':>6s} {'cpu s/frame':>11s} {'peak MB':>8s}")
    for r in results:
        eel = r.get("timings", {}).get("eel", {})
        print(f"{r['name']:22s} {r['frames']:4d} {r['shape'][0]:>4d}x{r['shape'][1]:<4d}"
              f"{r['n_superpixels']:7d} {r['superpixels_s']:8.2f} {r['features_s']:8.2f} "
              f"{_fmt(r.get('estimate_s'), 2):>7s} {_fmt(eel.get('train'), 2):>6s} "
              f"{_fmt(eel.get('predict'), 2):>7s} {_fmt(r.get('eel_run_s'), 1):>8s} "
              f"{_fmt(r.get('eel_s_per_frame'), 3):>8s} {_fmt(r.get('ratio_to_superpixels'), 2):>6s}"
              f" {_fmt(r.get('eel_cpu_s_per_frame'), 3):>11s} {r['peak_mb']:8.0f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqs", default=None, help="comma-separated names (default: all dev)")
    parser.add_argument("--eval", action="store_true",
                        help="evaluation sequences: time preparation only (they have no gaze)")
    parser.add_argument("--methods", default="eel,el,probability,vilarino")
    parser.add_argument("--estimate", default="default")
    parser.add_argument("--features", default="hand")
    parser.add_argument("--pool", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=None,
                        help="boosting rounds of eel/el (default: the engine's; paper: 50)")
    parser.add_argument("--bags", type=int, default=None,
                        help="boosters averaged per eel/el run (default: the engine's; paper: 1)")
    parser.add_argument("--paper", action="store_true",
                        help="the published pipeline: --estimate paper --rounds 50 --bags 1")
    parser.add_argument("--seeds", default=None, metavar="LIST",
                        help="also run the pooled methods with these seeds (training sample, "
                             "SVM) and print the mean AUC per method, e.g. 0,1,2")
    parser.add_argument("--simulate", action="store_true",
                        help="simulated observers (segmentation.engine.simulate_panel) from the "
                             "masks, with the parameters of the brats-pat0001 / davis-blackswan "
                             "panels; with --eval this scores the evaluation sequences")
    parser.add_argument("--ablation", action="store_true",
                        help="compare estimate variants (ABLATION) instead of the methods")
    parser.add_argument("--json", default=None, help="also write all results to this file")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    if args.paper:
        args.estimate, args.rounds, args.bags = "paper", args.rounds or 50, args.bags or 1
    args.booster = {k: v for k, v in (("n_rounds", args.rounds), ("n_bags", args.bags))
                    if v is not None}
    args.seed_list = [int(x) for x in args.seeds.split(",")] if args.seeds else []
    if args.one:  # child process: one sequence, JSON on stdout
        fn = run_ablation if args.ablation else run_one
        print(json.dumps(fn(args.one, args)))
        return 0
    if not DATA.is_dir():
        print(f"real data folder {DATA} is absent (set GAZECROWD_SHARED_DATA)", file=sys.stderr)
        return 1
    names = args.seqs.split(",") if args.seqs else (EVAL if args.eval else DEV)
    results = []
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    skip = False
    child_args = []
    for a in passthrough:  # forward the options except --seqs/--json
        if skip:
            skip = False
            continue
        if a in ("--seqs", "--json"):
            skip = True
            continue
        if a.startswith(("--seqs=", "--json=")):
            continue
        child_args.append(a)
    for name in names:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--one", name, *child_args],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{name}: done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs "
          f"(shared), python {platform.python_version()}; command: python bench/engine.py "
          + " ".join(passthrough))
    if args.ablation:
        print_ablation(results, args)
    else:
        print_tables(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
