"""Benchmark: gaze on still images (kvasir, real EyeLink fixations of one expert).

Labels from gaze against the reference masks (and the boxes of their blobs):

- mask Dice and box agreement of the coarse labels with the published threshold (4 x mean
  non-zero heat), of the coarse labels at the threshold tuned on development images (1.5 x),
  and of the refined labels (colour model + superpixel dense CRF, defaults of
  ``RefineParams``);
- a CPU-sized Faster R-CNN (``tiny`` backbone) trained on gaze boxes and, for comparison, on
  the boxes of the reference masks, of the same development training images; mAP@0.5 against
  the reference boxes of held-out development images and of the evaluation split.

Development split: image names before ``cju5`` (every fifth of them, by name, held out for the
detector); evaluation split: the rest, measured once with the settings fixed on development.

Usage::

    nice .venv/bin/python bench/gaze_boxes.py [--data ../shared/data/kvasir] [--split dev|eval|both]
        [--skip-detector] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segmentation.engine.detection import (  # noqa: E402  # noqa: E402  # noqa: E402
    BoxDetector,  # noqa: E402
    GazeBoxParams,
    average_precision,
    box_iou,
    boxes_to_mask,  # noqa: E402
    dice,
    label_images,
    list_images,
    mask_to_boxes,  # noqa: E402
    read_fixations_csv,
    read_image,
    read_mask,
    refine_box_mask,  # noqa: E402
)

SPLIT_AT = "cju5"
#: The detector of the benchmark: sized for a shared 2-core CPU (10-15 min per training).
DETECTOR = dict(architecture="tiny", epochs=5, batch_size=8, learning_rate=2e-3,
                image_size=128, rng=0)


def box_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, int, int, int]:
    """Sum over reference boxes of their best IoU, references matched at 0.5, predictions
    matching a reference at 0.5."""
    iou = box_iou(pred, truth)
    if iou.size == 0:
        return 0.0, 0, 0
    return float(iou.max(axis=0).sum()), int((iou.max(axis=0) >= 0.5).sum()), \
        int((iou.max(axis=1) >= 0.5).sum())


def cached_labels(cache, images, names, fixations, params):
    """Refined labels, read from / written to ``cache`` (a folder) when one is given."""
    if cache is None:
        return label_images(images, names, fixations, params=params)
    import hashlib
    import pickle

    key = hashlib.sha1(repr((params, names)).encode()).hexdigest()[:12]
    path = Path(cache) / f"labels-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    labels = label_images(images, names, fixations, params=params)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(labels))
    return labels


def label_rows(names, masks, labels_by_variant):
    rows = {}
    ref_boxes = {n: mask_to_boxes(masks[n]) for n in names}
    for variant, labels in labels_by_variant.items():
        d, iou_sum, rec, prec, n_ref, n_pred = [], 0.0, 0, 0, 0, 0
        for n in names:
            lab = labels[n]
            d.append(dice(lab[0], masks[n]))
            boxes = lab[1]
            s, r, p = box_scores(boxes, ref_boxes[n])
            iou_sum += s
            rec += r
            prec += p
            n_ref += len(ref_boxes[n])
            n_pred += len(boxes)
        rows[variant] = dict(dice=float(np.mean(d)), dice_median=float(np.median(d)),
                             box_iou=iou_sum / max(n_ref, 1), recall50=rec / max(n_ref, 1),
                             precision50=prec / max(n_pred, 1), boxes_per_image=n_pred / len(names))
    return rows, ref_boxes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data / "kvasir")
    parser.add_argument("--split", choices=["dev", "eval", "both"], default="both")
    parser.add_argument("--skip-detector", action="store_true")
    parser.add_argument("--limit", type=int, default=0,
                        help="only the first N images of each split (a quick smoke run)")
    parser.add_argument("--detector-epochs", type=int, default=DETECTOR["epochs"])
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping the refined labels between runs")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared CPU)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    t_start = time.time()
    paths = list_images(args.data / "images")
    fixations = read_fixations_csv(args.data / "fixations.csv")
    all_names = sorted(paths)
    dev = [n for n in all_names if n < SPLIT_AT]
    ev = [n for n in all_names if n >= SPLIT_AT]
    if args.limit:
        dev, ev = dev[: args.limit], ev[: args.limit]
    det_train = [n for k, n in enumerate(dev) if k % 5 != 0]
    det_val = [n for k, n in enumerate(dev) if k % 5 == 0]
    splits = {"dev": dev, "eval": ev}
    wanted = ["dev", "eval"] if args.split == "both" else [args.split]
    needed = sorted({n for s in wanted for n in splits[s]} | set(det_val))
    images = {n: read_image(paths[n]) for n in needed}
    masks = {n: read_mask(args.data / "masks" / f"{n}.png") for n in needed}

    published = GazeBoxParams(refine=False)
    tuned = GazeBoxParams(refine=False, factor=1.5)
    refined = GazeBoxParams()
    t0 = time.time()
    lab_pub = label_images(images, needed, fixations, params=published)
    lab_tun = label_images(images, needed, fixations, params=tuned)
    t1 = time.time()
    lab_ref = cached_labels(args.cache, images, needed, fixations, refined)
    t2 = time.time()
    print(f"labels of {len(needed)} images: coarse {(t1 - t0) / 2 / len(needed):.3f} s/image, "
          f"refined {(t2 - t1) / len(needed):.3f} s/image", flush=True)

    variants = {
        "coarse, published (4x mean heat)": {n: (lab_pub[n].mask, lab_pub[n].boxes) for n in needed},
        "coarse, tuned (1.5x mean heat)": {n: (lab_tun[n].mask, lab_tun[n].boxes) for n in needed},
        "refined (colour + superpixel CRF)": {n: (lab_ref[n].mask, lab_ref[n].boxes)
                                              for n in needed},
    }
    header = (f"{'split':5} {'labels':36} {'images':>6} {'Dice':>6} {'med':>6} {'boxIoU':>6} "
              f"{'R@.5':>6} {'P@.5':>6} {'box/im':>6}")
    lines = [header, "-" * len(header)]
    ref_boxes = {}
    for split in wanted:
        names = splits[split]
        rows, rb = label_rows(names, masks,
                              {v: {n: lab[n] for n in names} for v, lab in variants.items()})
        ref_boxes.update(rb)
        for v, r in rows.items():
            lines.append(f"{split:5} {v:36} {len(names):6d} {r['dice']:6.3f} "
                         f"{r['dice_median']:6.3f} {r['box_iou']:6.3f} {r['recall50']:6.3f} "
                         f"{r['precision50']:6.3f} {r['boxes_per_image']:6.2f}")
    print("\n".join(lines), flush=True)

    # Hand boxes -> masks (the web's manual box mode): the filled box against the GrabCut-like
    # refinement, on the held-out development images and every fifth evaluation image.
    box_sets = {"dev held-out": det_val}
    if "eval" in wanted:
        box_sets["eval (every 5th)"] = ev[::5]
    box_lines = [f"{'reference boxes -> mask':24} {'images':>6} {'filled box':>10} "
                 f"{'refined':>8}"]
    for label, names in box_sets.items():
        filled, refined_d = [], []
        for n in names:
            rb = mask_to_boxes(masks[n])
            filled.append(dice(boxes_to_mask(rb, masks[n].shape), masks[n]))
            refined_d.append(dice(refine_box_mask(images[n], rb, rng=0).mask, masks[n]))
        box_lines.append(f"{label:24} {len(names):6d} {np.mean(filled):10.3f} "
                         f"{np.mean(refined_d):8.3f}")
    print("\n".join(box_lines), flush=True)

    det_lines = []
    if not args.skip_detector:
        for n in dev:
            ref_boxes.setdefault(n, mask_to_boxes(masks[n]))
        eval_sets = {"dev held-out": det_val}
        if "eval" in wanted:
            eval_sets["eval"] = ev
        det_header = (f"{'detector trained on':32} {'train':>5} "
                      + " ".join(f"{'mAP@.5 ' + k:>18}" for k in eval_sets) + f" {'fit s':>7}")
        det_lines = [det_header, "-" * len(det_header)]
        sources = {"gaze boxes (refined)": {n: lab_ref[n].boxes for n in det_train},
                   "mask boxes (reference)": {n: ref_boxes[n] for n in det_train}}
        for label, boxes in sources.items():
            det = BoxDetector(**{**DETECTOR, "epochs": args.detector_epochs}).fit([images[n] for n in det_train],
                                              [boxes[n] for n in det_train])
            aps = []
            for names in eval_sets.values():
                preds = det.predict([images[n] for n in names])
                aps.append(average_precision({n: p[0] for n, p in zip(names, preds)},
                                             {n: p[1] for n, p in zip(names, preds)},
                                             {n: ref_boxes[n] for n in names}))
            det_lines.append(f"{label:32} {len(det_train):5d} "
                             + " ".join(f"{a:18.3f}" for a in aps)
                             + f" {det.fit_seconds_:7.0f}")
            print(det_lines[-1], flush=True)
        print("\n".join(det_lines))
        print(f"detector: {DETECTOR | {'epochs': args.detector_epochs}}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s); total "
          f"{time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
