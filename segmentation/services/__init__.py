"""Writes of the segmentation app, one module per subject; callers use
``from segmentation import services; services.run_execute(...)``.

=================  =====================================================================
module             what it writes
=================  =====================================================================
``runs``           per-recording estimates (cached), runs and their ground truth and reports
``chunked_runs``   a long sequence's run as many chunk tasks (fan-out, gather, finalize)
``gaze_boxes``     gaze boxes of image collections (computed, stored, queued as a job)
``review``         a run's reviewed threshold, hand-corrected ground-truth versions
=================  =====================================================================

The service that runs a job does all its I/O; Celery tasks (:mod:`segmentation.tasks`) and
management commands only call these functions, and these queue tasks by name
(:func:`crowd.celery.enqueue_on_commit`), so that no import cycle joins them.
"""

from .chunked_runs import run_chunk, run_gather
from .gaze_boxes import (
    GazeBoxes,
    gaze_boxes_compute,
    gaze_boxes_execute,
    gaze_boxes_request,
    gaze_boxes_store,
    gaze_boxes_write,
)
from .review import ground_truth_version_create, threshold_review
from .runs import (
    estimate_get_or_compute,
    prepared_get_or_compute,
    recording_estimate,
    run_create,
    run_execute,
    run_retry,
    sequence_parameters,
    sequence_start_run_at_quorum,
    study_run_create,
)

__all__ = [
    "run_chunk",
    "run_gather",
    "GazeBoxes",
    "estimate_get_or_compute",
    "gaze_boxes_compute",
    "gaze_boxes_execute",
    "gaze_boxes_request",
    "gaze_boxes_store",
    "gaze_boxes_write",
    "ground_truth_version_create",
    "prepared_get_or_compute",
    "recording_estimate",
    "run_create",
    "run_execute",
    "run_retry",
    "sequence_parameters",
    "sequence_start_run_at_quorum",
    "study_run_create",
    "threshold_review",
]
