"""Reads for reviewing observers: gaze replay data and the per-observer data-quality panel.

The replay plays recordings over their sequence (samples, I-DT fixations); the panel says, for
each observer of a run, the weight and flag the run gave and the own-data statistics behind
them. The statistics are recomputed with the engine's :func:`recording_compliance` on the same
inputs the run gave it (the recording's gaze, the sequence's size and the run's pixels per
degree), so the reasons listed are the run's reasons, word for word; the weight, flag and flag
reason are read from the run (``run.observers``), as the results page and the report show them.
"""

from __future__ import annotations

import math

import numpy as np

from annotation import selectors as annotation_selectors
from annotation.models import Recording
from crowd.models import Sequence
from segmentation.engine import DEFAULT_PX_PER_DEGREE

from .fixations import DISPERSION_DEG, MIN_FIXATION_MS, idt_fixations
from .models import Run

__all__ = ["MAX_RECORDINGS", "MAX_SAMPLES", "STAT_LABELS", "observer_panel", "replay_data"]

#: At most this many recordings are replayed at once (the page's colours stay distinct).
MAX_RECORDINGS = 12
#: At most this many samples per recording are sent; longer ones are thinned evenly (the
#: fixations are detected on all samples first). 20 000 is 5.5 min at 60 Hz.
MAX_SAMPLES = 20_000

#: The compliance statistics as the panel names them, with how each is shown.
STAT_LABELS = {
    "samples": ("samples", "{:,.0f}"),
    "valid_fraction": ("valid samples (eye found)", "{:.0%}"),
    "frames_with_gaze": ("frames with a gaze point", "{:.0%}"),
    "off_image_fraction": ("valid samples outside the images", "{:.0%}"),
    "lapse_fraction": ("glances away", "{:.0%}"),
    "dispersion_deg": ("dispersion within a frame", "{:.1f} degrees"),
}


def _finite_round(values: np.ndarray, digits: int) -> list:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def replay_data(*, sequence: Sequence, recording_ids: list[int] | None = None) -> dict:
    """Samples and fixations of the sequence's finished recordings, for the replay page.

    Parameters
    ----------
    recording_ids : the recordings to replay (of this sequence); all finished ones when None.
        At most :data:`MAX_RECORDINGS` are returned, oldest first.

    Returns
    -------
    dict
        ``{"frames", "width", "height", "fps", "truncated", "recordings": [{"id", "observer",
        "repeat", "samples": {"t", "frame", "x", "y"}, "thinned", "fixations": [[t_ms, x, y,
        duration_ms, frame]]}]}``; x = column, y = row in image pixels, None = lost sample.
    """
    qs = annotation_selectors.finished_recordings(sequence=sequence)
    if recording_ids is not None:
        qs = qs.filter(pk__in=recording_ids)
    recordings = list(qs[: MAX_RECORDINGS + 1])
    truncated = len(recordings) > MAX_RECORDINGS
    out = []
    for recording in recordings[:MAX_RECORDINGS]:
        samples = annotation_selectors.recording_samples(recording)
        ppd = annotation_selectors.recording_image_px_per_degree(recording) or DEFAULT_PX_PER_DEGREE
        fixations = []
        if len(samples):
            for t0, fx, fy, dur in idt_fixations(samples[:, [0, 2, 3]], dispersion_px=DISPERSION_DEG * ppd,
                                                 min_duration_ms=MIN_FIXATION_MS):
                frame = int(samples[np.searchsorted(samples[:, 0], t0), 1])
                fixations.append([round(float(t0), 1), round(float(fx), 1), round(float(fy), 1),
                                  round(float(dur), 1), frame])
        thinned = len(samples) > MAX_SAMPLES
        if thinned:
            samples = samples[np.linspace(0, len(samples) - 1, MAX_SAMPLES).astype(np.int64)]
        out.append({
            "id": recording.pk, "observer": recording.observer.get_username(), "repeat": recording.repeat,
            "samples": {"t": _finite_round(samples[:, 0], 1), "frame": [int(f) for f in samples[:, 1]],
                        "x": _finite_round(samples[:, 2], 1), "y": _finite_round(samples[:, 3], 1)},
            "thinned": thinned, "fixations": fixations,
        })
    return {"frames": sequence.n_frames, "width": sequence.width, "height": sequence.height,
            "fps": sequence.playback_fps(), "truncated": truncated, "recordings": out}


def observer_panel(*, run: Run) -> list[dict]:
    """Per observer of ``run``: weight, flag, reasons and each recording's own-data statistics.

    Returns a list, highest weight first, of ``{"observer", "weight", "flagged", "flag_reason",
    "note", "recordings": [{"id", "repeat", "accuracy_deg", "offset_px", "stats": [(label,
    text)], "reasons": [str]}]}``. Observers with recordings in the run but no weight (a pool
    without weights) come last with ``weight`` None.
    """
    from segmentation.engine import recording_compliance

    observers = run.observers or {}
    weights = observers.get("weights") or {}
    flagged = set(observers.get("flagged") or [])
    flag_reasons = observers.get("flag_reasons") or {}
    notes = observers.get("notes") or {}
    used = {r["id"]: r for r in observers.get("recordings") or [] if isinstance(r, dict) and "id" in r}
    sequence = run.sequence
    ppd = (run.parameters or {}).get("px_per_degree")
    ppd = float(ppd) if isinstance(ppd, (int, float)) and ppd > 0 else None
    per_observer: dict[str, list] = {}
    for recording in Recording.objects.filter(pk__in=list(used), sequence=sequence).select_related(
            "observer").order_by("id"):
        compliance = recording_compliance(
            annotation_selectors.recording_gaze(recording), n_frames=sequence.n_frames,
            image_shape=(sequence.height, sequence.width), px_per_degree=ppd)
        stats = []
        for key, (label, fmt) in STAT_LABELS.items():
            value = compliance.stats.get(key)
            shown = fmt.format(value) if isinstance(value, (int, float)) and math.isfinite(value) else "not measurable"
            stats.append((label, shown))
        info = used[recording.pk]
        per_observer.setdefault(recording.observer.get_username(), []).append({
            "id": recording.pk, "repeat": recording.repeat, "accuracy_deg": info.get("accuracy_deg"),
            "offset_px": info.get("offset_px"), "stats": stats, "reasons": list(compliance.reasons),
        })
    names = sorted(set(weights) | set(per_observer), key=lambda n: (-weights.get(n, -1.0), n))
    return [{"observer": name, "weight": weights.get(name), "flagged": name in flagged,
             "flag_reason": flag_reasons.get(name, ""), "note": notes.get(name, ""),
             "recordings": per_observer.get(name, [])} for name in names]
