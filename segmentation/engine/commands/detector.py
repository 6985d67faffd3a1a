"""``python -m segmentation.engine detector``: train a detector on COCO boxes, score it by mAP.

Trains a Faster R-CNN (:mod:`segmentation.engine.detection.detector`) on the images of
``--boxes`` (for example the gaze boxes written by the ``boxes`` command), then detects on the
images of ``--eval-boxes`` (hand labels, or boxes of reference masks) and scores the detections
by average precision at IoU 0.5. Both COCO files name images of ``--images`` by file name.

Writes into ``--out``: ``metrics.json`` (mAP@0.5, image counts, loss per epoch, training time,
device, parameters), ``detector.pt`` (weights, reloadable with ``BoxDetector.load`` or
``--weights``) and ``detections.json`` (COCO, with scores, on the evaluation images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "detector"
HELP = ("Train a Faster R-CNN on COCO boxes (e.g. from gaze) and evaluate it by mAP@0.5 "
        "against other COCO boxes (e.g. hand labels).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..detection import ARCHITECTURES
    from ..detection import DETECTOR_DEFAULTS as D
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder holding the images named in both COCO files")
    parser.add_argument("--boxes", required=True, metavar="COCO_JSON",
                        help="training boxes (COCO detection JSON); its images are the "
                             "training set, those without annotation count as negatives")
    parser.add_argument("--eval-boxes", required=True, metavar="COCO_JSON",
                        help="reference boxes (COCO) of the evaluation images")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created): metrics.json, detector.pt, "
                             "detections.json")
    parser.add_argument("--architecture", default=D["architecture"], choices=ARCHITECTURES,
                        help=f"detector backbone (default: {D['architecture']}: small, for a CPU)")
    parser.add_argument("--epochs", type=int, default=D["epochs"], metavar="N",
                        help=f"training epochs (default: {D['epochs']})")
    parser.add_argument("--batch-size", type=int, default=D["batch_size"], metavar="N",
                        help=f"images per step (default: {D['batch_size']})")
    parser.add_argument("--lr", type=float, default=D["learning_rate"], metavar="LR",
                        help=f"peak AdamW learning rate (default: {D['learning_rate']:g})")
    parser.add_argument("--image-size", type=int, default=D["image_size"], metavar="PX",
                        help=f"images are resized to PX x PX (default: {D['image_size']})")
    parser.add_argument("--no-augment", action="store_true",
                        help="no random flips during training")
    parser.add_argument("--weights", default=None, metavar="FILE",
                        help="local weights to start from (nothing is ever downloaded; "
                             "default: random initialisation)")
    parser.add_argument("--device", default="auto", metavar="DEV",
                        help="auto (CUDA when present), cpu, cuda, cuda:1... (default: auto)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="seed of initialisation, data order and flips (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")


def main(args) -> int:
    from .. import InputError, write_json
    from ..detection import (
        BoxDetector,
        average_precision,
        coco_from_boxes,
        read_coco,
        read_image,
        write_coco,
    )

    folder = Path(args.images)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected the folder of the images)")
    for name, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--image-size", args.image_size)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if not args.lr > 0:
        raise InputError(f"--lr must be positive, got {args.lr}")

    def load(coco_path):
        infos, boxes, _ = read_coco(coco_path)
        if not infos:
            raise InputError(f"{coco_path}: no image")
        images = []
        for info in infos:
            path = folder / info.file_name
            if not path.is_file():
                raise InputError(f"{coco_path}: image {info.file_name!r} is not in {folder}")
            images.append(read_image(path))
        return infos, images, [boxes[i.name] for i in infos]

    train_infos, train_images, train_boxes = load(args.boxes)
    eval_infos, eval_images, eval_boxes = load(args.eval_boxes)
    overlap = len({i.name for i in train_infos} & {i.name for i in eval_infos})
    if overlap:
        print(f"warning: {overlap} evaluation image(s) are also training images",
              file=sys.stderr)

    def progress(stage, fraction):
        print(f"\r{stage} {100 * fraction:5.1f}%", end="", file=sys.stderr)

    det = BoxDetector(architecture=args.architecture, epochs=args.epochs,
                      batch_size=args.batch_size, learning_rate=args.lr,
                      image_size=args.image_size, augment=not args.no_augment,
                      weights=args.weights, device=args.device, rng=args.seed,
                      progress=None if args.quiet else progress)
    det.fit(train_images, train_boxes)
    if not args.quiet:
        print(file=sys.stderr)
    preds = det.predict(eval_images)
    names = [i.name for i in eval_infos]
    ap = average_precision({n: p[0] for n, p in zip(names, preds)},
                           {n: p[1] for n, p in zip(names, preds)},
                           dict(zip(names, eval_boxes)), iou_threshold=0.5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    det.save(out / "detector.pt")
    write_coco(out / "detections.json",
               coco_from_boxes(eval_infos, {n: p[0] for n, p in zip(names, preds)},
                               scores={n: p[1] for n, p in zip(names, preds)}))
    metrics = {
        "map50": ap,
        "train_images": len(train_images),
        "train_boxes": int(sum(len(b) for b in train_boxes)),
        "eval_images": len(eval_images),
        "eval_boxes": int(sum(len(b) for b in eval_boxes)),
        "overlapping_images": overlap,
        "loss_per_epoch": det.loss_history_,
        "fit_seconds": det.fit_seconds_,
        "device": str(det.device_),
        "parameters": {"architecture": args.architecture, "epochs": args.epochs,
                       "batch_size": args.batch_size, "learning_rate": args.lr,
                       "image_size": args.image_size, "augment": not args.no_augment,
                       "weights": args.weights, "seed": args.seed,
                       "boxes": str(args.boxes), "eval_boxes": str(args.eval_boxes)},
    }
    write_json(out / "metrics.json", metrics, final_newline=True)
    print(f"mAP@0.5 = {ap:.3f} on {len(eval_images)} images -> {out / 'metrics.json'}")
    return 0
