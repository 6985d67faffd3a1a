"""Gaze on still images: fixations -> boxes and masks, refinement, detectors, labelling time.

The second system of GazeCrowd (Mariam et al., IEEE JBHI 2022): an observer fixates every
instance of a target on still images; a duration-weighted Gaussian heat map of the fixations
is thresholded into blobs, one box per blob (:mod:`.heatmap`); the coarse masks are refined
with image evidence (:mod:`.refine`); a Faster R-CNN is trained on the boxes
(:mod:`.detector`) and scored by mAP@0.5 (:mod:`.metrics`); :mod:`.timing` reports how long
each labelling mode takes; :mod:`.shapes` turns hand-drawn outlines and boxes into masks.
Defaults live in :mod:`.params`, the per-image pipeline in :mod:`.labels`; reading and writing
files in :mod:`.io` and :mod:`.coco`. Method notes: ``docs/gaze_boxes.md``.
"""
