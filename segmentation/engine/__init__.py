"""GazeCrowd's segmentation engine: gaze-based ground truth, a pure scientific library.

Only numpy, scipy, scikit-image, scikit-learn, torch and friends: never Django, Celery or the
platform apps (an import-linter contract in ``pyproject.toml`` enforces it). Files are read and
written by :mod:`segmentation.engine.io` (the sub-libraries keep their own io, the report its
renderer: docs/engine.md says which). The command line is ``python -m segmentation.engine``.

The names in ``__all__`` are the engine's public API (docs/engine.md describes each); the
modules behind them are private and may change. Callers import from here::

    from segmentation.engine import prepare_sequence, observer_estimate, segment, evaluate

    prepared = prepare_sequence(frames, px_per_degree=12.0)       # once per sequence
    estimates = [observer_estimate(prepared, frames, g) for g in gaze_tables]
    result = segment(prepared, frames, estimates, method="eel")
    evaluate(result, truth)

Two sub-libraries keep their own public API and are imported as packages:
:mod:`segmentation.engine.detection` (gaze on still images: boxes, masks, detectors) and
:mod:`segmentation.engine.trackers` (eye-tracker files to the canonical gaze table).

Names load lazily (PEP 562, as scipy and scikit-image do): importing the package costs no
numpy, scikit-learn or torch, so the web server can read :data:`METHODS` when it starts; the
first use of a name imports the module that defines it.
"""

from __future__ import annotations

from ._lazy import attach

#: Private module -> the public names it defines. Every public name is listed exactly once.
_API: dict[str, tuple[str, ...]] = {
    "defaults": ("DEFAULT_PX_PER_DEGREE", "LEVELS", "METHODS", "N_BAGS", "N_ROUNDS",
                 "PAPER_BOOSTER"),
    "errors": ("InputError", "InputTooLarge"),
    "pipeline": ("ALIGN", "FEATURES", "MASK_THRESHOLD", "SegmentationResult", "align_estimates",
                 "evaluate", "gazed_pixels", "observer_estimate", "prepare_sequence", "segment"),
    "accuracy": ("MAX_ACCURACY_DEG", "check_accuracy_deg", "consensus_offsets",
                 "crowd_accuracy_deg"),
    "prepared": ("PreparedFrames",),
    "estimate": ("ESTIMATES", "EstimateResult", "estimate_params"),
    "superpixels": ("guess_px_per_degree",),
    "compliance": ("Compliance", "observer_flags", "recording_compliance"),
    "pooling": ("ACCURACY_NOTE_DEG", "DEFAULT_POOL", "POOLS", "BasePool", "MeanPool", "RobustPool", "WeightedPool",
                "make_pool"),
    "masks": ("THRESHOLD_RULES", "ThresholdChoice", "choose_threshold", "logit", "masks_at",
              "refine_scores"),
    "metrics": ("ROC_GRID", "RocMetrics", "calibration_error", "delivered_scores",
                "dequantise", "dice_at_thresholds", "mean_roc", "mean_se", "quantise",
                "roc_metrics", "roc_points", "segmentation_scores", "soft_auc",
                "top_fraction_auc", "truth_counts", "weighted_roc"),
    "agreement": ("observer_means", "subset_curve", "uncertainty_map", "variance_components"),
    "quality": ("FLAG_RULES", "gaze_quality", "observer_quality"),
    "simulate": ("PANELS", "PLACEMENTS", "Panel", "SimulatedObserver", "core_unlike_rim",
                 "make_panel", "object_radius_deg", "panel_from_dict", "salient_part",
                 "simulate_gaze", "simulate_panel", "validation_accuracy_deg"),
    "io": ("GAZE_COLUMNS", "IMAGE_SUFFIXES", "MAX_ABS_COORDINATE", "MAX_ABS_T_MS", "MAX_FRAME",
           "LazySequence", "SequenceData", "check_gaze_frames", "gaze_csv_observers",
           "open_sequence", "read_chunk_array", "read_chunk_json", "write_chunk_json",
           "write_npz_blocks", "load_prepared", "read_gaze_csv", "read_masks",
           "read_panel", "read_sequence", "save_prepared", "validate_gaze", "write_mask_pngs",
           "load_score_map", "load_torch_state", "read_json", "save_score_map", "write_json"),
    "report": ("ReportData", "build_figures", "build_report", "crowd_analysis",
               "delivered_summary", "render_html", "write_chunked_report", "write_report",
               "write_run_report"),
    "datasets": ("SAMPLES", "Sample", "load_sample"),
    "chunks": ("CHUNKED_METHODS", "DEFAULT_CHUNK_FRAMES", "MAX_CHUNK_FRAMES", "MIN_CHUNK_FRAMES",
               "ChunkLayout", "ChunkedResult", "TrainResult", "chunk_bounds", "chunk_layout",
               "CHUNK_OUTPUTS", "chunk_estimates", "chunk_masks", "chunk_method_result", "chunk_methods",
               "chunk_offsets", "chunks_done", "chunk_scores", "estimate_chunk", "finish_chunks",
               "fit_booster", "step_size",
               "paint_chunk", "plan_estimates", "prepare_chunk", "read_layout", "reset_after_prepare",
               "segment_chunked",
               "train_chunks"),
}
#: Sub-libraries with their own ``__all__``, imported as packages.
_SUBLIBRARIES = ("detection", "trackers")

__getattr__, __dir__, __all__ = attach(__name__, _API, subpackages=_SUBLIBRARIES)
