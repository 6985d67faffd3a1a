"""Benchmark of what a user downloads: the delivered masks, on every sequence and observer panel.

For each sequence of ``../shared/data`` (development by default, ``--eval`` for the evaluation
ones) and each observer panel: the shipped recordings (``real``, development only) and the
simulated panels of :data:`segmentation.engine.PANELS` (placements, webcam-grade
accuracy, two and three observers, a shared mistake) plus ``core-centre`` (frames whose object
has a core unlike its rim, watched by centre-fixating observers), the engine runs with its
defaults and no reference (prepare, estimate, pool, EEL, refine, cut) and the masks as
delivered are scored: Dice, IoU, the threshold and its rule, predicted vs true fraction of
pixels, and beside them the score map's AUC and the oracle max-F1 (threshold picked with the
reference) and the gap between the two. The pooled estimate's AUC is given for the default
pool, the plain mean and the agreement-weighted pool.

Each (sequence, panel) writes ``<out>/<sequence>.<panel>.json`` and ``.npz`` (histograms of the
refined map's log-odds over object / background pixels, and the rule's inputs), so runs resume
and ``--loso`` can choose the cut rule's ``k`` by leave-one-sequence-out afterwards without
rerunning anything.

    nice .venv/bin/python bench/delivered.py                        # all dev sequences, panels
    nice .venv/bin/python bench/delivered.py --panels real,webcam --seqs davis-dog
    nice .venv/bin/python bench/delivered.py --loso                 # choose k, report held-out
    nice .venv/bin/python bench/delivered.py --eval                 # measure, never tune
    nice .venv/bin/python bench/delivered.py --ppd guess --panels real --tag guess
    nice .venv/bin/python bench/delivered.py --panels webcam --variants "base;acc;acc,sa=0,align=0"

``--variants`` runs several settings on the same prepared sequence and gaze, each written as
``<sequence>.<panel>.<variant>.json``: ``base`` is the engine without measured accuracies; a
variant naming ``acc`` passes each recording's measured accuracy (the simulator's
``attrs["accuracy_deg"]``, a simulated 9-point validation and drift check; for ``real``, the
same simulated from ``recording.json``'s bias and noise), and may set ``sa=K`` (the estimate's
``spatial_accuracy``), ``align=0|1`` (the crowd's alignment) and ``pool=mean|weighted|
mean-acc`` (``mean-acc``: the mean pool weighing recordings by their accuracy). ``--loso-variants``
chooses among stored variants by leave-one-sequence-out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
#: The development panel whose observers are simulated, per set (as bench/engine.py).
BASE_PANELS = {"brats": "brats-pat0001", "davis": "davis-blackswan"}
#: Log-odds bins of the stored histograms (the map is clipped to [1e-4, 1 - 1e-4]).
EDGES = np.linspace(-9.3, 9.3, 2049)


def all_panels(evaluation: bool) -> list[str]:
    from segmentation.engine import PANELS

    return ([] if evaluation else ["real"]) + list(PANELS) + ["core-centre"]


def load(name: str):
    from segmentation import engine

    kind, seq = name.split("-", 1)
    if kind == "brats":
        frames = engine.read_sequence(DATA / f"brats/{seq}/flair.nii.gz").frames
        truth = engine.read_masks(DATA / f"brats/{seq}/tumour.nii.gz")
    else:
        frames = engine.read_sequence(DATA / f"davis/{seq}/frames").frames
        truth = engine.read_masks(DATA / f"davis/{seq}/masks")
    return np.asarray(frames), np.asarray(truth).astype(bool)


def real_accuracy(folder: Path, tables) -> None:
    """Simulated validation accuracy of the shipped recordings (their bias and noise)."""
    from segmentation.engine import validation_accuracy_deg

    params = {o["name"]: o for o in json.loads((folder / "recording.json").read_text())["observers"]}
    for t in tables:
        o = params.get(str(t["observer"].iloc[0])) if len(t) else None
        if o is not None:
            t.attrs["accuracy_deg"] = validation_accuracy_deg(
                [o["bias_deg"], 0.0], o["noise_deg"], samples=60, rng=[int(o["seed"]), 20])


def parse_variant(text: str) -> dict:
    """``base`` / ``acc[,sa=K][,align=0|1][,pool=NAME]`` -> options."""
    out = {"name": text, "acc": False, "options": {}, "align": None, "pool": None}
    for part in filter(None, text.split(",")):
        if part == "acc":
            out["acc"] = True
        elif part == "base":
            pass
        elif part.startswith("sa="):
            out["options"]["spatial_accuracy"] = float(part[3:])
        elif part.startswith("align="):
            out["align"] = bool(int(part[6:]))
            if out["align"]:
                out.setdefault("amin", 0.0)  # align=1: every recording with an accuracy moves
        elif part.startswith("amin="):
            out["amin"] = float(part[5:])
        elif part.startswith("pool="):
            out["pool"] = part[5:]
        else:
            raise SystemExit(f"unknown variant part {part!r}")
    return out


def panel_tables(name: str, panel: str, frames, truth):
    """(frames, gaze tables, true px per degree) of a panel; core-centre changes the frames."""
    from segmentation import engine
    from segmentation.engine import (
        core_unlike_rim,
        make_panel,
        object_radius_deg,
        simulate_panel,
    )

    kind = name.split("-", 1)[0]
    if panel == "real":
        folder = DATA / "gaze" / name
        ppd = json.loads((folder / "recording.json").read_text())["image_px_per_degree"]
        tables = [engine.read_gaze_csv(p) for p in sorted(folder.glob("observer-*.csv"))]
        real_accuracy(folder, tables)
        return frames, tables, ppd
    base = engine.read_panel(DATA / "gaze" / BASE_PANELS[kind] / "recording.json")
    if panel == "core-centre":
        changed = core_unlike_rim(frames, truth)
        frames = np.clip(changed, 0, 255).astype(np.uint8) if frames.dtype == np.uint8 else changed
        panel = "centre"
    p = make_panel(base, panel, object_radius_deg=object_radius_deg(truth, base.px_per_degree))
    return frames, simulate_panel(truth, p, frames=frames), p.px_per_degree


def run_sequence(name: str, panels: list[str], args) -> None:
    """Every panel of one sequence; writes one JSON + NPZ per panel into ``args.out``."""
    from segmentation.engine import (
        MeanPool,
        WeightedPool,
        align_estimates,
        evaluate,
        gazed_pixels,
        guess_px_per_degree,
        observer_estimate,
        prepare_sequence,
        segment,
        segmentation_scores,
    )
    from segmentation.engine import logit as to_logit

    frames0, truth = load(name)
    prepared_cache = {}
    variants = [parse_variant(v) for v in (args.variants.split(";") if args.variants else [""])]
    for panel in panels:
        todo = [v for v in variants
                if not (Path(args.out) / (_stem(name, panel, v) + ".json")).exists()]
        if not todo:
            continue
        t_panel = time.perf_counter()
        frames, tables, true_ppd = panel_tables(name, panel, frames0, truth)
        ppd = {"true": true_ppd, "guess": guess_px_per_degree(frames.shape[1:3]),
               "12": 12.0}[args.ppd]
        key = (panel == "core-centre", ppd)
        if key not in prepared_cache:
            prepared_cache[key] = prepare_sequence(frames, px_per_degree=ppd)
        prep = prepared_cache[key]
        accuracy = [t.attrs.get("accuracy_deg") for t in tables]
        for v in todo:
            t0 = time.perf_counter()
            stem = str(Path(args.out) / _stem(name, panel, v))
            acc = accuracy if v["acc"] else [None] * len(tables)
            ests = [observer_estimate(prep, frames, g, accuracy_deg=a, **v["options"])
                    for g, a in zip(tables, acc)]
            pool = v["pool"]
            if pool == "mean-acc":
                pool = MeanPool(accuracy_ref=1.0)
            kw = {} if v["align"] is None else {"align": v["align"]}
            if "amin" in v:
                # The alignment with another floor, then segment without aligning again.
                ests, offsets = align_estimates(prep, ests, min_accuracy_deg=v["amin"])
                kw = {"align": False}
            result = segment(prep, frames, ests, method=args.method, pool=pool, **kw)
            if "amin" in v:
                result.offsets_px = offsets
            out = {"sequence": name, "panel": panel, "variant": v["name"], "method": result.method,
                   "px_per_degree": ppd, "true_px_per_degree": true_ppd, "observers": len(ests),
                   "accuracy_deg": acc, "pool": type(result.pool).__name__,
                   "flagged": list(result.pool.flagged_), "notes": dict(result.pool.notes_),
                   "offsets_deg": (None if result.offsets_px is None
                                   else (np.asarray(result.offsets_px) / ppd).round(3).tolist()),
                   **{k: v for k, v in evaluate(result, truth).items()}}
            names = [e.observer for e in ests]
            est = np.array([e.scores for e in ests])
            acc_kw = {"accuracy_deg": acc} if v["acc"] else {}
            pooled = {"default": result.pooled,
                      "mean": MeanPool().fit_predict(est, names),
                      "weighted": WeightedPool().fit_predict(est, names, **acc_kw),
                      "mean-acc": MeanPool(accuracy_ref=1.0).fit_predict(est, names, **acc_kw)}
            out["pooled_auc"] = {k: segmentation_scores(p, truth, labels=prep.labels)["auc"]
                                 for k, p in pooled.items()}
            out["estimate_auc"] = [segmentation_scores(e.scores, truth, labels=prep.labels)["auc"]
                                   for e in ests]
            out["seconds"] = time.perf_counter() - t0
            logit = to_logit(result.scores)
            gz = gazed_pixels(prep, ests)
            hist_pos, _ = np.histogram(logit[truth], EDGES)
            hist_neg, _ = np.histogram(logit[~truth], EDGES)
            np.savez_compressed(stem + ".npz", hist_pos=hist_pos, hist_neg=hist_neg,
                                background=np.median(logit[:, ::4, ::4]),
                                gazed=np.median(logit[gz]) if gz.any() else np.nan)
            Path(stem + ".json").write_text(json.dumps(_plain(out), indent=1))
            print(f"{name} {panel} {v['name'] or 'default'}: Dice {out['dice']:.3f} (oracle "
                  f"{out['f1']:.3f}, AUC {out['auc']:.3f}) in {out['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
        del t_panel


def _stem(name: str, panel: str, variant: dict) -> str:
    return f"{name}.{panel}" + (f".{variant['name']}" if variant["name"] else "")


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def load_results(out: Path, names, panels, variant: str = ""):
    rows = []
    for name in names:
        for panel in panels:
            f = out / (f"{name}.{panel}" + (f".{variant}" if variant else "") + ".json")
            if f.exists():
                rows.append(json.loads(f.read_text()))
    return rows


def print_variants(out: Path, names, panels, variants) -> None:
    """Per panel and variant: delivered Dice mean / worst (BRATS, DAVIS), pooled AUC; then the
    leave-one-sequence-out choice among the variants (best mean Dice on the other sequences)."""
    table = {v: {(r["sequence"], r["panel"]): r for r in load_results(out, names, panels, v)}
             for v in variants}
    # The reference of issue 13's guarantee: the plain mean pool of the estimates made without
    # accuracies (the ``base`` variant's), else each row's own plain mean.
    base = table.get("base", {})
    for rows in table.values():
        for key, r in rows.items():
            r["plain_mean_auc"] = (base[key]["pooled_auc"]["mean"] if key in base
                                   else r["pooled_auc"]["mean"])
    print("\n| panel | variant | BRATS Dice mean / worst | DAVIS Dice mean / worst | all mean | "
          "oracle mean | AUC mean | pooled est. AUC mean (default) | default pool below plain "
          "mean (no accuracy) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for panel in panels:
        for v in variants:
            sub = [r for (n, p), r in table[v].items() if p == panel]
            if not sub:
                continue
            cells = []
            for kind in ("brats", "davis"):
                d = [r["dice"] for r in sub if r["sequence"].startswith(kind)]
                cells.append(f"{np.mean(d):.3f} / {min(d):.3f}" if d else "-")
            below = sum(r["pooled_auc"]["default"] < r["plain_mean_auc"] - 1e-4 for r in sub)
            print(f"| {panel} | {v} | {cells[0]} | {cells[1]} | "
                  f"{np.mean([r['dice'] for r in sub]):.3f} | "
                  f"{np.mean([r['f1'] for r in sub]):.3f} | {np.mean([r['auc'] for r in sub]):.3f} | "
                  f"{np.mean([r['pooled_auc']['default'] for r in sub]):.3f} | {below} of {len(sub)} |")
    if len(variants) < 2:
        return
    _loso_variants(table, names, variants, "Leave-one-sequence-out choice among the variants "
                   "(mean delivered Dice over the other sequences x panels)", lambda v, n: True)

    # The same choice among the variants that keep issue 13's guarantee on the training
    # sequences: the pooled estimate never below the plain mean pool of the estimates made
    # without accuracies (the old pipeline).
    def keeps_pool(v, held_out):
        return all(r["pooled_auc"]["default"] >= r["plain_mean_auc"] - 1e-4
                   for (n, p), r in table[v].items() if n != held_out)

    _loso_variants(table, names, variants, "The same, among variants whose pooled estimate is "
                   "never below the plain mean pool on the other sequences", keeps_pool)


def _loso_variants(table, names, variants, title, allowed) -> None:
    """Leave-one-sequence-out: per held-out sequence, the allowed variant with the best mean
    delivered Dice on the other sequences, scored on the held-out one."""
    print(f"\n{title}")
    print("| held-out sequence | variant chosen | held-out mean Dice | worst (panel) |")
    print("|---|---|---|---|")
    held = []
    for name in names:
        def score(v, held_out=name):
            vals = [r["dice"] for (n, p), r in table[v].items() if n != held_out]
            return np.mean(vals) if vals else -1.0
        best = max([v for v in variants if allowed(v, name)] or variants, key=score)
        test = [(p, r["dice"]) for (n, p), r in table[best].items() if n == name]
        if not test:
            continue
        held += [d for _, d in test]
        worst = min(test, key=lambda x: x[1])
        print(f"| {name} | {best} | {np.mean([d for _, d in test]):.3f} | {worst[1]:.3f} "
              f"({worst[0]}) |")
    if held:
        best_all = max([v for v in variants if allowed(v, None)] or variants,
                       key=lambda v: np.mean([r["dice"] for r in table[v].values()])
                       if table[v] else -1.0)
        print(f"\nheld out over {len(held)} sequence-panels: mean {np.mean(held):.3f}, worst "
              f"{min(held):.3f}; chosen on all: {best_all}")


def print_table(rows) -> None:
    print("\n| sequence | panel | delivered Dice | IoU | cut (rule) | predicted / true % | AUC | "
          "oracle max-F1 | gap | pooled est. AUC default / mean / weighted |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["pooled_auc"]
        print(f"| {r['sequence']} | {r['panel']} | **{r['dice']:.3f}** | {r['iou']:.3f} | "
              f"{r['threshold']:.3f} ({r['threshold_rule']}) | "
              f"{100 * r['predicted_fraction']:.1f} / {100 * r['true_fraction']:.1f} | "
              f"{r['auc']:.3f} | {r['f1']:.3f} | {r['f1'] - r['dice']:+.3f} | "
              f"{p['default']:.3f} / {p['mean']:.3f} / {p['weighted']:.3f} |")
    print("\nPer panel (mean / worst over sequences): delivered Dice, oracle max-F1, gap; "
          "BRATS and DAVIS apart")
    print("| panel | BRATS Dice mean / worst | DAVIS Dice mean / worst | oracle mean | gap mean | "
          "pooled est. AUC worst (default) | default pool below mean |")
    print("|---|---|---|---|---|---|---|")
    for panel in dict.fromkeys(r["panel"] for r in rows):
        sub = [r for r in rows if r["panel"] == panel]
        cells = []
        for kind in ("brats", "davis"):
            d = [r["dice"] for r in sub if r["sequence"].startswith(kind)]
            cells.append(f"{np.mean(d):.3f} / {min(d):.3f}" if d else "-")
        below = sum(r["pooled_auc"]["default"] < r["pooled_auc"]["mean"] - 1e-4 for r in sub)
        print(f"| {panel} | {cells[0]} | {cells[1]} | {np.mean([r['f1'] for r in sub]):.3f} | "
              f"{np.mean([r['f1'] - r['dice'] for r in sub]):+.3f} | "
              f"{min(r['pooled_auc']['default'] for r in sub):.3f} | {below} of {len(sub)} |")


def loso(out: Path, names, panels, ks) -> None:
    """Choose the gaze-contrast k by leave-one-sequence-out; report held-out Dice."""
    data = {}
    for name in names:
        for panel in panels:
            f = out / f"{name}.{panel}.npz"
            if f.exists():
                with np.load(f) as z:
                    data[(name, panel)] = {k: z[k] for k in z.files}

    def dice(h, k):
        cut = h["background"] + k * (h["gazed"] - h["background"])
        i = np.searchsorted(EDGES, cut)
        tp, fp, t = h["hist_pos"][i:].sum(), h["hist_neg"][i:].sum(), h["hist_pos"].sum()
        return 2 * tp / (tp + fp + t)

    table = {k: {key: dice(h, k) for key, h in data.items()} for k in ks}
    held = []
    print("\nLeave-one-sequence-out choice of the cut rule's k (mean delivered Dice over the "
          "other sequences' panels)")
    print("| held-out sequence | k chosen | held-out mean Dice | worst (panel) |")
    print("|---|---|---|---|")
    for name in names:
        train = [key for key in data if key[0] != name]
        test = [key for key in data if key[0] == name]
        if not test or not train:
            continue
        k = max(ks, key=lambda v: np.mean([table[v][key] for key in train]))
        vals = [table[k][key] for key in test]
        held += vals
        worst = test[int(np.argmin(vals))][1]
        print(f"| {name} | {k:.2f} | {np.mean(vals):.3f} | {min(vals):.3f} ({worst}) |")
    if not held:
        print("(needs results of at least two sequences)")
        return
    k_all = max(ks, key=lambda v: np.mean(list(table[v].values())))
    print(f"\nheld out over {len(held)} sequence-panels: mean {np.mean(held):.3f}, worst "
          f"{min(held):.3f}; k chosen on all: {k_all:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqs", default=None)
    parser.add_argument("--panels", default=None, help="comma-separated (default: all)")
    parser.add_argument("--eval", action="store_true", help="evaluation sequences (measure only)")
    parser.add_argument("--ppd", default="true", choices=("true", "guess", "12"),
                        help="superpixel scale: the recording's geometry, the engine's guess "
                             "from the frame size, or the old fixed 12")
    parser.add_argument("--method", default="eel",
                        help="what makes the masks (eel, el, probability, vilarino)")
    parser.add_argument("--out", default=None, help="result folder (default bench/out/delivered"
                                                     "[-TAG])")
    parser.add_argument("--tag", default="", help="suffix of the default result folder")
    parser.add_argument("--loso", action="store_true", help="analyse stored results only")
    parser.add_argument("--variants", default=None,
                        help="semicolon-separated settings run on the same data (see the top)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.seqs.split(",") if args.seqs else (EVAL if args.eval else DEV)
    panels = args.panels.split(",") if args.panels else all_panels(args.eval)
    if args.eval and "real" in panels:
        panels.remove("real")  # the evaluation sequences have no recordings
    tag = args.tag or "-".join(t for t in (
        "eval" if args.eval else "",
        "" if args.ppd == "true" else f"ppd-{args.ppd}",
        "" if args.method == "eel" else args.method) if t)
    args.out = args.out or str(ROOT / "bench" / "out" / ("delivered" + (f"-{tag}" if tag else "")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.one:
        run_sequence(args.one, panels, args)
        return 0
    if not DATA.is_dir():
        print(f"real data folder {DATA} is absent (set GAZECROWD_SHARED_DATA)", file=sys.stderr)
        return 1
    if not args.loso:
        for name in names:  # one process per sequence: memory is returned between them
            cmd = [sys.executable, __file__, "--one", name, "--panels", ",".join(panels),
                   "--out", str(out), "--ppd", args.ppd, "--method", args.method]
            if args.variants:
                cmd += ["--variants", args.variants]
            if subprocess.run(cmd).returncode != 0:
                print(f"{name}: failed", file=sys.stderr)
    if args.variants:
        print(f"machine: {platform.machine()} {os.cpu_count()} CPUs; command: python "
              f"bench/delivered.py {' '.join(argv if argv is not None else sys.argv[1:])}")
        print_variants(out, names, panels, args.variants.split(";"))
        return 0
    rows = load_results(out, names, panels)
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs; command: python "
          f"bench/delivered.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    if rows:
        print_table(rows)
    if not args.eval:
        loso(out, names, panels, np.round(np.arange(0.45, 0.91, 0.05), 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
