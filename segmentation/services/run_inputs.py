"""What a run reads and reports besides the engine's arrays: the reference masks, each
recording's gaze, observer names and accuracies, and JSON-safe summaries.

Shared by the whole-sequence run (:mod:`.runs`) and the chunked run (:mod:`.chunked_runs`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotation import selectors as annotation_selectors
from annotation.models import Recording
from crowd import selectors as crowd_selectors
from crowd.models import Sequence


def sequence_truth(sequence: Sequence) -> tuple[np.ndarray, list[int]] | None:
    """Reference masks (K, H, W) bool and the frame index of each, or None without masks."""
    found = crowd_selectors.sequence_masks(sequence)
    if found is None:
        return None
    frames, masks = found
    return masks, [int(f) for f in frames]


def recording_gaze(recording: Recording):
    """The recording's samples as the engine's canonical gaze table."""
    return annotation_selectors.recording_gaze_frame(recording=recording)


def _engine_accuracy_deg(recording: Recording) -> float | None:
    """The recording's measured accuracy as the engine takes it (degrees, at most 90), or None.

    ``calibration_error_deg`` may reach 180 (the model's bound); the engine refuses more than
    90 degrees, and an error that large already says "nowhere near": cap it there rather
    than fail the run.
    """
    from segmentation import engine

    accuracy = annotation_selectors.recording_accuracy_deg(recording)
    return None if accuracy is None else min(float(accuracy), engine.MAX_ACCURACY_DEG)


def observer_name(recording: Recording) -> str:
    return recording.observer.get_username()


def finished_recordings(sequence: Sequence):
    return annotation_selectors.finished_recordings(sequence=sequence)


def _json_safe(value):
    """Plain JSON: numpy numbers as Python ones, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _observer_summary(result, recordings) -> dict:
    pool = getattr(result, "pool", None)
    offsets = getattr(result, "offsets_px", None)
    summary: dict[str, Any] = {
        # The measured accuracy the engine was given, and the offset (pixels, x and y) the
        # crowd's alignment removed from the recording's gaze (None: not moved).
        "recordings": [{"id": r.pk, "observer": observer_name(r), "repeat": r.repeat,
                        "accuracy_deg": _engine_accuracy_deg(r),
                        "offset_px": (None if offsets is None or not np.any(offsets[i])
                                      else [round(float(v), 2) for v in offsets[i]])}
                       for i, r in enumerate(recordings)],
    }
    if pool is not None:
        summary["pool"] = type(pool).__name__
        summary["weights"] = {k: float(v) for k, v in getattr(pool, "weights_", {}).items()}
        summary["flagged"] = list(getattr(pool, "flagged_", []))
        summary["flag_reasons"] = dict(getattr(pool, "flag_reasons_", {}))
        # Said but not acted on (disagreement with the crowd keeps the floor weight).
        summary["notes"] = dict(getattr(pool, "notes_", {}))
    return summary
