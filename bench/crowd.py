"""Crowd benchmark: pooling and observer reliability on the development sequences.

For each development sequence of ``../shared/data`` (brats pat0001-0003, six DAVIS videos)
with its seven simulated observers (``gaze/<set>-<seq>/observer-K.csv``; observer-7 is the
sloppy one): EEL AUC with each pool (mean = the paper, weighted, robust), mean +- SE of the
EEL AUC of each observer alone, the weighted pool's rank of observer-7's weight (1 = lowest)
and whether it is flagged (by the pool; by the quality checks without ground truth).

Usage::

    nice .venv/bin/python bench/crowd.py [--sequences brats-pat0001,...] [--cache DIR]
        [--pools mean,weighted,robust] [--seed 0] [--evaluation]

``--cache DIR`` keeps the prepared sequences and estimates between runs. ``--evaluation``
runs the evaluation sequences instead (never tune on them). The engine's defaults are used
everywhere (hand features, default estimate, EEL with the default booster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segmentation import engine  # noqa: E402
from segmentation.engine import (  # noqa: E402  # noqa: E402
    POOLS,
    EstimateResult,  # noqa: E402
    make_pool,
    observer_estimate,
    prepare_sequence,
    segment,
)

DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEVELOPMENT = ["brats-pat0001", "brats-pat0002", "brats-pat0003", "davis-blackswan",
               "davis-bmx-trees", "davis-car-roundabout", "davis-dog", "davis-goat",
               "davis-parkour"]
SLOPPY = "observer-7"


def load(seq: str, cache: Path | None):
    """Prepared sequence, estimates (list of EstimateResult), truth and gaze tables."""
    kind, name = seq.split("-", 1)
    if kind == "brats":
        frames = engine.read_sequence(DATA / f"brats/{name}/flair.nii.gz").frames
        truth = engine.read_masks(DATA / f"brats/{name}/tumour.nii.gz")
    else:
        frames = engine.read_sequence(DATA / f"davis/{name}/frames").frames
        truth = engine.read_masks(DATA / f"davis/{name}/masks")
    folder = DATA / "gaze" / seq
    ppd = json.loads((folder / "recording.json").read_text())["image_px_per_degree"]
    gaze = [engine.read_gaze_csv(p) for p in sorted(folder.glob("observer-*.csv"))]
    c = None if cache is None else cache / seq
    if c is not None and (c / "estimates.npz").is_file():
        prepared = engine.load_prepared(c / "prepared.npz")
        d = np.load(c / "estimates.npz")
        estimates = [EstimateResult(scores=s, gazed=g, gaze_points=p, observer=str(n))
                     for s, g, p, n in zip(d["scores"], d["gazed"], d["points"], d["names"])]
        return prepared, frames, estimates, truth, gaze, ppd
    prepared = prepare_sequence(frames, px_per_degree=ppd)
    estimates = [observer_estimate(prepared, frames, g) for g in gaze]
    if c is not None:
        c.mkdir(parents=True, exist_ok=True)
        engine.save_prepared(prepared, c / "prepared.npz")
        np.savez(c / "estimates.npz", scores=np.array([e.scores for e in estimates]),
                 gazed=np.array([e.gazed for e in estimates]),
                 points=np.array([e.gaze_points for e in estimates]),
                 names=np.array([e.observer for e in estimates]))
    return prepared, frames, estimates, truth, gaze, ppd


def parse_pool(spec: str):
    """``name`` or ``name:param=value,...`` (e.g. ``weighted:power=2``) -> a new pool."""
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    return make_pool(name, **params)


def bench_sequence(seq: str, pools: list[str], seed: int, cache: Path | None,
                   single: bool = True) -> dict:
    t0 = time.perf_counter()
    prepared, frames, estimates, truth, gaze, ppd = load(seq, cache)
    pos, neg = engine.truth_counts(prepared.labels, truth, prepared.n_superpixels)

    def auc(sp):
        return engine.roc_metrics(sp, pos, neg).auc

    row = {"sequence": seq}
    for p in pools:
        res = segment(prepared, frames, estimates, method="eel", pool=parse_pool(p), rng=seed)
        row[f"eel_{p}"] = auc(res.sp_scores)
        row[f"estimate_{p}"] = auc(res.pooled)
        if p == "weighted" or (p.startswith("weighted") and "rank7" not in row):
            w = res.pool.weights_
            row["weights"] = w
            # 1 + the observers weighted strictly less: observers tied at the floor weight
            # (all at or below chance) share the lowest rank.
            row["rank7"] = 1 + sum(v < w[SLOPPY] for v in w.values())
            row["pool_flagged"] = list(res.pool.flagged_)
    scores = [auc(segment(prepared, frames, [e], method="eel", rng=seed).sp_scores)
              for e in estimates] if single else []
    row["single"] = dict(zip([e.observer for e in estimates], scores))
    row["single_mean"], row["single_se"] = engine.mean_se(scores)
    table = engine.observer_quality(
        gaze=gaze, estimates=np.array([e.scores for e in estimates]),
        observers=[e.observer for e in estimates], n_frames=prepared.n_frames,
        image_shape=prepared.shape, px_per_degree=ppd, sample_weight=prepared.sizes)
    row["quality_flagged"] = table.index[table["flagged"]].tolist()
    row["quality_reasons"] = table.loc[table["flagged"], "flag_reason"].to_dict()
    row["seconds"] = time.perf_counter() - t0
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", default=None)
    parser.add_argument("--pools", default="mean,weighted,robust",
                        help="comma-separated pools, each NAME or NAME:param=value;... "
                             "(e.g. weighted:power=2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--skip-single", action="store_true",
                        help="skip the single-observer EEL runs (pool comparisons only)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"real data folder {DATA} is absent (set GAZECROWD_SHARED_DATA)", file=sys.stderr)
        return 2
    seqs = args.sequences.split(",") if args.sequences else DEVELOPMENT
    pools = [p for p in args.pools.split(",") if p]
    for p in pools:
        if p.partition(":")[0] not in POOLS:
            parser.error(f"unknown pool {p}; choose among {', '.join(POOLS)}")
    print(f"# machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cpus, python {platform.python_version()}, seed {args.seed}")
    head = ["sequence"] + [f"EEL {p}" for p in pools] + [
        "single EEL mean ± SE", "obs-7 rank (1=lowest)", "obs-7 flagged pool/quality",
        "pooled > single", "s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = []
    for seq in seqs:
        r = bench_sequence(seq, pools, args.seed, args.cache, single=not args.skip_single)
        rows.append(r)
        cells = [seq] + [f"{r[f'eel_{p}']:.4f}" for p in pools] + [
            f"{r['single_mean']:.4f} ± {r['single_se']:.4f}",
            str(r.get("rank7", "-")),
            f"{'yes' if SLOPPY in r.get('pool_flagged', []) else 'no'}/"
            f"{'yes' if SLOPPY in r['quality_flagged'] else 'no'}",
            "yes" if min(r[f"eel_{p}"] for p in pools) > r["single_mean"] else "no",
            f"{r['seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |", flush=True)
    n = len(rows)
    avg = ["average"] + [f"{np.mean([r[f'eel_{p}'] for r in rows]):.4f}" for p in pools] + [
        f"{np.mean([r['single_mean'] for r in rows]):.4f}",
        f"lowest on {sum(r.get('rank7') == 1 for r in rows)}/{n}",
        f"{sum(SLOPPY in r.get('pool_flagged', []) for r in rows)}/"
        f"{sum(SLOPPY in r['quality_flagged'] for r in rows)} of {n}",
        f"{sum(min(r[f'eel_{p}'] for p in pools) > r['single_mean'] for r in rows)}/{n}", ""]
    print("| " + " | ".join(avg) + " |")
    print("\nflagged observers (pool weighted | quality checks):")
    for r in rows:
        print(f"  {r['sequence']}: {r.get('pool_flagged', [])} | {r['quality_flagged']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
