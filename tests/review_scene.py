"""A run with a known score map, stored without running the pipeline: the review tools
(threshold slider, corrections, compare) are tested on scores whose masks are known in
advance. The pipeline that writes real ground truth is tested in tests/segmentation.

The map of frame k is a Gaussian hill centred on the moving disc of tests/e2e/scene.py
(or any ``centres``): the mask grows as the threshold falls, one pixel ring at a time.
"""

from __future__ import annotations

import numpy as np
from django.utils import timezone

from crowd import storage
from segmentation.engine import quantise
from segmentation.models import GroundTruth, Run


def hill_scores(n_frames: int, height: int, width: int, centres, sigma: float) -> np.ndarray:
    """(T, H, W) float32 scores in [0, 1]: a Gaussian of ``sigma`` px around each centre."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((n_frames, height, width), np.float32)
    for k in range(n_frames):
        x, y = centres(k)
        out[k] = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2.0 * sigma**2))
    return out


def scored_run(*, study, sequence, scores: np.ndarray, threshold: float = 0.5,
               rule: str = "gaze-contrast") -> Run:
    """A succeeded run of ``sequence`` whose stored ground truth is ``scores`` cut at ``threshold``."""
    levels = quantise(scores)
    masks = (levels.astype(np.float32) / np.float32(65535) >= np.float32(threshold)).astype(np.uint8)
    run = Run.objects.create(study=study, sequence=sequence, status=Run.Status.SUCCEEDED, progress=1.0,
                             stage="done", code_version="review-test", parameters={"method": "eel"},
                             finished_at=timezone.now())
    labels = np.zeros(scores.shape, np.int32)
    gt = storage.save_npz(f"ground_truth/run{run.pk}.npz", scores=levels, masks=masks)
    sp = storage.save_npz(f"ground_truth/run{run.pk}-superpixels.npz", labels=labels,
                          sp_scores=np.array([0.5], np.float32))
    GroundTruth.objects.create(run=run, file=gt, superpixel_file=sp, threshold=threshold,
                               threshold_rule=rule, threshold_details={})
    return Run.objects.select_related("ground_truth", "sequence").get(pk=run.pk)
