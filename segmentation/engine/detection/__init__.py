"""Gaze on still images: fixations -> boxes and masks, refinement, detectors, labelling time.

The second system of GazeCrowd (Mariam et al., IEEE JBHI 2022): an observer fixates every
instance of a target on still images; a duration-weighted Gaussian heat map of the fixations
is thresholded into blobs, one box per blob (:mod:`.heatmap`); the coarse masks are refined
with image evidence (:mod:`.refine`); a Faster R-CNN is trained on the boxes
(:mod:`.detector`) and scored by mAP@0.5 (:mod:`.metrics`); :mod:`.timing` reports how long
each labelling mode takes; :mod:`.shapes` turns hand-drawn outlines and boxes into masks.
Defaults live in :mod:`.params`, the per-image pipeline in :mod:`.labels`; reading and writing
files in :mod:`.io` and :mod:`.coco`. Method notes: ``docs/gaze_boxes.md``.

This is a sub-library of the engine with its own public API (the names below; the modules are
private): callers import ``from segmentation.engine.detection import ...``. It shares only
:mod:`segmentation.engine.errors` with the rest of the engine (an import-linter contract in
``pyproject.toml`` says so). Names load lazily: torch is imported only with the detector.
"""

from __future__ import annotations

from .._lazy import attach

_API: dict[str, tuple[str, ...]] = {
    "params": ("ARCHITECTURES", "DEFAULT_SIGMA_PX", "DETECTOR_DEFAULTS", "PUBLISHED_FACTOR",
               "TRUNCATE", "RefineParams"),
    "heatmap": ("GazeLabels", "fixation_heatmap", "gaze_labels", "heat_threshold",
                "mask_to_boxes", "remove_small_blobs", "sigma_pixels"),
    "refine": ("BOX_REFINE_PARAMS", "RefinedMask", "refine_box_mask", "refine_gaze_mask",
               "refine_with_prior"),
    "labels": ("GazeBoxParams", "ImageLabels", "label_image", "label_images"),
    "shapes": ("boxes_to_mask", "outline_to_mask"),
    "detector": ("BoxDetector", "TinyBackbone", "build_detector"),
    "metrics": ("average_precision", "best_match_iou", "box_iou", "dice"),
    "timing": ("MODES", "TimingReport", "timing_report"),
    "io": ("FIXATION_COLUMNS", "IMAGE_EXTENSIONS", "list_images", "load_model_file",
           "read_fixations_csv", "read_image", "read_mask", "save_model_file", "write_mask"),
    "coco": ("DEFAULT_CATEGORY", "ImageInfo", "coco_from_boxes", "read_coco", "write_coco"),
}

__getattr__, __dir__, __all__ = attach(__name__, _API)
