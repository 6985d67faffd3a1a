"""Agreement measures for gaze-derived labels and detectors: box IoU, Dice, AP at an IoU.

Boxes are COCO ``(x, y, width, height)`` in pixels (see :mod:`.heatmap`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a : (K, 4) array_like
    b : (L, 4) array_like
        COCO boxes ``(x, y, width, height)``.

    Returns
    -------
    iou : (K, L) float64 ndarray
        In [0, 1]; 0 where a box has no area.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax0, ay0, ax1, ay1 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(ax0[:, None], bx0[None]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(ay0[:, None], by0[None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of two binary masks; 1 when both are empty.

    Parameters
    ----------
    pred, truth : (H, W) bool ndarray
    """
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    total = int(pred.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int((pred & truth).sum()) / total


def best_match_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For every reference box, the IoU of the predicted box that overlaps it most.

    Parameters
    ----------
    pred : (K, 4) array_like
    truth : (L, 4) array_like

    Returns
    -------
    (L,) float64 ndarray
        0 for a reference box when there is no prediction.
    """
    iou = box_iou(pred, truth)
    if iou.shape[0] == 0:
        return np.zeros(iou.shape[1])
    return iou.max(axis=0)


def average_precision(
    pred_boxes: Mapping[str, np.ndarray],
    pred_scores: Mapping[str, np.ndarray],
    true_boxes: Mapping[str, np.ndarray],
    *,
    iou_threshold: float = 0.5,
) -> float:
    """Average precision of one class at an IoU threshold (PASCAL VOC, all-point interpolation).

    Detections of all images are ranked by score; each is a true positive when it overlaps a
    not yet matched reference box of its image by at least ``iou_threshold`` (greedy, by
    score, as in VOC and COCO). AP is the area under the precision-recall curve made monotone
    (precision at recall r = the best precision at any recall >= r).

    Parameters
    ----------
    pred_boxes : mapping image -> (K, 4) array_like
        Detections per image (COCO boxes). Images absent here have no detection.
    pred_scores : mapping image -> (K,) array_like
        Their confidences.
    true_boxes : mapping image -> (L, 4) array_like
        Reference boxes per image; images absent here have none.
    iou_threshold : float
        Minimum IoU of a true positive (0.5 for mAP@0.5).

    Returns
    -------
    float
        AP in [0, 1]; ``nan`` when there is no reference box at all.
    """
    n_true = sum(len(np.asarray(b).reshape(-1, 4)) for b in true_boxes.values())
    if n_true == 0:
        return float("nan")
    records = []  # (score, image, index)
    for image, boxes in pred_boxes.items():
        scores = np.asarray(pred_scores[image], dtype=np.float64).reshape(-1)
        if len(scores) != len(np.asarray(boxes).reshape(-1, 4)):
            raise ValueError(f"image {image!r}: {len(scores)} scores for "
                             f"{len(np.asarray(boxes).reshape(-1, 4))} boxes")
        records.extend((float(s), image, i) for i, s in enumerate(scores))
    # Stable order on ties (by image then index) keeps the result deterministic.
    records.sort(key=lambda r: (-r[0], r[1], r[2]))
    matched = {img: np.zeros(len(np.asarray(b).reshape(-1, 4)), dtype=bool)
               for img, b in true_boxes.items()}
    tp = np.zeros(len(records))
    for k, (_, image, i) in enumerate(records):
        truth = np.asarray(true_boxes.get(image, np.zeros((0, 4))), dtype=np.float64)
        truth = truth.reshape(-1, 4)
        if len(truth) == 0:
            continue
        box = np.asarray(pred_boxes[image], dtype=np.float64).reshape(-1, 4)[i]
        iou = box_iou(box[None], truth)[0]
        iou[matched[image]] = -1.0  # a reference box is found once
        j = int(np.argmax(iou))
        if iou[j] >= iou_threshold:
            matched[image][j] = True
            tp[k] = 1.0
    if len(records) == 0:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, len(records) + 1)
    # All-point interpolation: pad, make precision monotone from the right, sum the steps.
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
