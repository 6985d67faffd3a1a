"""``python -m segmentation.engine boxes``: gaze fixations on still images -> boxes and masks.

Reads a folder of images and a fixation table ``image,observer,t_ms,x,y,duration_ms`` (``image``
is the file name without extension; the fixations of all observers of an image are pooled) and
writes into ``--out``:

- ``boxes.json``: COCO detection file, one box per blob of each image's mask, the parameters
  in its ``info`` block;
- ``masks/<image>.png``: one binary mask per image (0/255), empty where no one looked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "boxes"
HELP = ("Gaze on still images: fixations -> duration-weighted heat map -> blobs -> boxes (COCO) "
        "and binary masks, refined with the image unless --no-refine.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..detection import DEFAULT_SIGMA_PX, PUBLISHED_FACTOR, RefineParams

    rp = RefineParams()
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder of images (.png, .jpg, .jpeg, .tif, .tiff, .bmp)")
    parser.add_argument("--fixations", required=True, metavar="CSV",
                        help="fixation table image,observer,t_ms,x,y,duration_ms (x = column, "
                             "y = row in image pixels; image = file name without extension)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created): boxes.json and masks/<image>.png")
    parser.add_argument("--sigma", type=float, default=None, metavar="PX",
                        help=f"Gaussian standard deviation in image pixels (default: "
                             f"{DEFAULT_SIGMA_PX:g})")
    parser.add_argument("--sigma-deg", type=float, default=None, metavar="DEG",
                        help="the same in degrees of visual angle (needs --px-per-degree)")
    parser.add_argument("--px-per-degree", type=float, default=None, metavar="N",
                        help="image pixels per degree of visual angle (for --sigma-deg)")
    parser.add_argument("--factor", type=float, default=PUBLISHED_FACTOR, metavar="F",
                        help=f"coarse threshold = F x mean non-zero heat (default: "
                             f"{PUBLISHED_FACTOR:g}, as published); used as is with --no-refine")
    parser.add_argument("--min-area", type=int, default=0, metavar="PX",
                        help="blobs of fewer pixels give no box and are dropped from the "
                             "coarse mask (default: 0, keep all)")
    parser.add_argument("--no-refine", action="store_true",
                        help="write the coarse (published) labels instead of the refined ones")
    parser.add_argument("--prior-factor", type=float, default=rp.prior_factor, metavar="F",
                        help=f"refinement: heat level of even odds, x mean non-zero heat "
                             f"(default: {rp.prior_factor:g})")
    parser.add_argument("--colour-weight", type=float, default=rp.beta, metavar="W",
                        help=f"refinement: weight of the colour model (default: {rp.beta:g}; "
                             "0 turns it off)")
    parser.add_argument("--superpixels", type=int, default=rp.n_segments, metavar="N",
                        help=f"refinement: SLIC superpixels per image (default: {rp.n_segments})")
    parser.add_argument("--crf-weight", type=float, default=rp.crf_weight, metavar="W",
                        help=f"refinement: strength of the CRF smoothing (default: "
                             f"{rp.crf_weight:g}; 0 turns it off)")
    parser.add_argument("--category", default="target", metavar="NAME",
                        help="COCO category name (default: target)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="random seed of the colour model (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")


def main(args) -> int:
    import zlib
    from dataclasses import asdict, replace

    import numpy as np

    from .. import InputError
    from ..detection import (
        GazeBoxParams,
        ImageInfo,
        coco_from_boxes,
        label_image,
        list_images,
        read_fixations_csv,
        read_image,
        sigma_pixels,
        write_coco,
        write_mask,
    )

    paths = list_images(args.images)
    fixations = read_fixations_csv(args.fixations)
    sigma = sigma_pixels(args.sigma, sigma_deg=args.sigma_deg, px_per_degree=args.px_per_degree)
    for name, value in (("--factor", args.factor), ("--prior-factor", args.prior_factor)):
        if not value > 0:
            raise InputError(f"{name} must be positive, got {value}")
    params = GazeBoxParams(sigma=sigma, factor=args.factor, min_area=args.min_area,
                           refine=not args.no_refine)
    params = replace(params, refine_params=replace(
        params.refine_params, prior_factor=args.prior_factor, beta=args.colour_weight,
        n_segments=args.superpixels, crf_weight=args.crf_weight))

    unknown = sorted(set(fixations["image"]) - set(paths))
    if unknown:
        print(f"warning: {len(unknown)} image name(s) of {args.fixations} are not in "
              f"{args.images} and are ignored (e.g. {unknown[0]!r})", file=sys.stderr)
    groups = {str(k): g for k, g in fixations.groupby("image", sort=False)}
    out = Path(args.out)
    infos, boxes = [], {}
    n_boxes = 0
    for k, (name, path) in enumerate(paths.items()):
        image = read_image(path)
        g = groups.get(name)
        pts = np.zeros((0, 2)) if g is None else g[["x", "y"]].to_numpy(dtype=np.float64)
        dur = None if g is None else g["duration_ms"].to_numpy(dtype=np.float64)
        seed = (args.seed + zlib.crc32(name.encode())) % 2**32  # as in labels.label_images
        labels = label_image(image, pts, dur, params=params, rng=seed)
        write_mask(out / "masks" / f"{name}.png", labels.mask)
        infos.append(ImageInfo(name, path.name, image.shape[1], image.shape[0]))
        boxes[name] = labels.boxes
        n_boxes += len(labels.boxes)
        if not args.quiet:
            print(f"\r{k + 1}/{len(paths)} images, {n_boxes} boxes", end="", file=sys.stderr)
    if not args.quiet:
        print(file=sys.stderr)
    info = {"description": "boxes from gaze fixations (GazeCrowd)",
            "fixations": str(args.fixations),
            "parameters": asdict(params)}
    write_coco(out / "boxes.json", coco_from_boxes(infos, boxes, category=args.category,
                                                   info=info))
    print(f"{len(infos)} images, {n_boxes} boxes -> {out / 'boxes.json'}, {out / 'masks'}/")
    return 0
