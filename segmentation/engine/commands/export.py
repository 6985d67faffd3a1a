"""``python -m segmentation.engine export``: cut a run's stored score map at another threshold.

A run of ``python -m segmentation.engine run`` keeps each method's pixel score map
(``scores_<method>.npy``); the masks are that map cut at a threshold. This command writes the
masks again at the threshold you choose, without rerunning anything, and records it:

* ``<out>/00000.png ...``: 8-bit PNGs {0, 255};
* ``<out>/threshold.json``: ``{"method", "threshold", "rule": "user" | <the run's rule>,
  "run_threshold", "predicted_fraction"}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "export"
HELP = "Re-derive a run's masks at another threshold from its stored score map (no rerun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_DIR", help="the --out folder of an engine run")
    parser.add_argument("--threshold", default="auto", metavar="T",
                        help="a number in [0, 1], or 'auto' for the run's own choice (default)")
    parser.add_argument("--method", default=None, metavar="NAME",
                        help="whose score map (default: the method the run's masks came from)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: RUN_DIR/masks-<threshold>)")


def main(args) -> int:
    from .. import InputError, load_score_map, masks_at, read_json, write_json, write_mask_pngs
    from .run import _threshold_arg

    run = Path(args.run)
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        raise InputError(f"{run}: no metrics.json here; give the --out folder of an engine run")
    metrics = read_json(metrics_path)
    method = args.method or metrics.get("mask_method") or "eel"
    scores_path = run / f"scores_{method}.npy"
    if not scores_path.is_file():
        have = sorted(p.stem[len("scores_"):] for p in run.glob("scores_*.npy"))
        raise InputError(f"{run}: no score map for method {method!r}; this run has "
                         f"{', '.join(have) or 'none'}")
    scores = load_score_map(scores_path)
    wanted = _threshold_arg(args.threshold)
    run_threshold = metrics.get("mask_threshold")
    if wanted == "auto":
        if method != metrics.get("mask_method") or run_threshold is None:
            raise InputError(f"the run chose a threshold for {metrics.get('mask_method')!r} "
                             f"only; give --threshold for {method!r}")
        threshold, rule = float(run_threshold), metrics.get("threshold_rule", "fixed")
    else:
        threshold, rule = float(wanted), "user"
    masks = masks_at(scores, threshold)
    out = Path(args.out) if args.out else run / f"masks-{threshold:.4g}"
    write_mask_pngs(masks, out)
    info = {"method": method, "threshold": threshold, "rule": rule,
            "run_threshold": run_threshold, "predicted_fraction": float(masks.mean())}
    write_json(out / "threshold.json", info, final_newline=True)
    print(f"{masks.shape[0]} masks of {method} at threshold {threshold:.4g} ({rule}) -> {out}")
    return 0
