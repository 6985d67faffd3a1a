"""COCO object-detection JSON: writing gaze-derived boxes, reading boxes to train or evaluate.

Only the parts of the format that boxes need: ``images`` (``id``, ``file_name``, ``width``,
``height``), ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox`` = ``[x, y, width,
height]`` in pixels, ``area``, ``iscrowd``, and ``score`` for detections) and ``categories``.
Images are matched to files by ``file_name`` without its extension (the image's *name*).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

DEFAULT_CATEGORY = "target"


@dataclass(frozen=True)
class ImageInfo:
    """One image of a COCO file: ``name`` is the file name without extension."""

    name: str
    file_name: str
    width: int
    height: int


def coco_from_boxes(
    images: Sequence[ImageInfo],
    boxes: Mapping[str, np.ndarray],
    *,
    scores: Mapping[str, np.ndarray] | None = None,
    category: str = DEFAULT_CATEGORY,
    info: Mapping | None = None,
) -> dict:
    """A COCO detection dictionary with one category.

    Parameters
    ----------
    images : sequence of ImageInfo
        Every image, including those without a box (ids are 1.. in this order).
    boxes : mapping name -> (K, 4) array_like
        COCO boxes ``(x, y, width, height)`` per image name; missing names have none.
    scores : mapping name -> (K,) array_like, optional
        Confidences (written as ``score``, as in COCO results files).
    category : str
        The name of the single category (id 1).
    info : mapping, optional
        Written as the ``info`` block (parameters, provenance).

    Returns
    -------
    dict
        Ready for ``json.dump``.
    """
    out_images, annotations = [], []
    ann_id = 1
    for image_id, im in enumerate(images, start=1):
        out_images.append({"id": image_id, "file_name": im.file_name,
                           "width": int(im.width), "height": int(im.height)})
        b = np.asarray(boxes.get(im.name, np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)
        s = None if scores is None else np.asarray(scores.get(im.name, []), dtype=np.float64)
        for k, (x, y, w, h) in enumerate(b):
            ann = {"id": ann_id, "image_id": image_id, "category_id": 1,
                   "bbox": [round(float(x), 3), round(float(y), 3),
                            round(float(w), 3), round(float(h), 3)],
                   "area": round(float(w * h), 3), "iscrowd": 0}
            if s is not None:
                ann["score"] = round(float(s[k]), 6)
            annotations.append(ann)
            ann_id += 1
    coco = {"images": out_images, "annotations": annotations,
            "categories": [{"id": 1, "name": category, "supercategory": category}]}
    if info is not None:
        coco["info"] = dict(info)
    return coco


def write_coco(path: str | Path, coco: Mapping) -> None:
    """Write a COCO dictionary as indented JSON (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")


def read_coco(path: str | Path) -> tuple[list[ImageInfo], dict[str, np.ndarray],
                                         dict[str, np.ndarray]]:
    """Read the boxes of a COCO detection file, keyed by image name.

    Every category counts as the one target class (the detector here is class-agnostic).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    images : list of ImageInfo
        In file order.
    boxes : dict name -> (K, 4) float64 ndarray
        Every image is present (``(0, 4)`` when it has no box).
    scores : dict name -> (K,) float64 ndarray
        The ``score`` of each box, 1 where absent.

    Raises
    ------
    InputError
        Not JSON, a required key missing, an annotation pointing to an unknown image, or a box
        that is not four numbers with positive width and height (the message says which).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: COCO file not found")
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(coco, dict) or "images" not in coco or "annotations" not in coco:
        raise InputError(f"{path}: expected a COCO object with 'images' and 'annotations'")
    images: list[ImageInfo] = []
    by_id: dict = {}
    for k, im in enumerate(coco["images"]):
        try:
            file_name = str(im["file_name"])
            info = ImageInfo(Path(file_name).stem, file_name, int(im["width"]), int(im["height"]))
            by_id[im["id"]] = info
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: images[{k}] needs id, file_name, width and height "
                             f"({exc!r})") from exc
        images.append(info)
    boxes: dict[str, list] = {im.name: [] for im in images}
    scores: dict[str, list] = {im.name: [] for im in images}
    for k, ann in enumerate(coco["annotations"]):
        where = f"{path}: annotations[{k}] (id {ann.get('id')!r})" if isinstance(ann, dict) \
            else f"{path}: annotations[{k}]"
        if not isinstance(ann, dict) or ann.get("image_id") not in by_id:
            raise InputError(f"{where}: image_id does not name an image of 'images'")
        bbox = ann.get("bbox")
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}") \
                from exc
        if not (w > 0 and h > 0) or not np.isfinite([x, y, w, h]).all():
            raise InputError(f"{where}: bbox {bbox!r} needs finite values and positive "
                             "width and height")
        name = by_id[ann["image_id"]].name
        boxes[name].append((x, y, w, h))
        scores[name].append(float(ann.get("score", 1.0)))
    return (images,
            {n: np.asarray(b, dtype=np.float64).reshape(-1, 4) for n, b in boxes.items()},
            {n: np.asarray(s, dtype=np.float64) for n, s in scores.items()})
