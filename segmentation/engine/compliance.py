"""Is a recording usable? Judged from its own gaze only, never from agreement with others.

A crowd may share a mistake while one observer is right, so disagreeing with the others is no
evidence against an observer. What a recording's own samples can show is non-compliance: the
tracker lost the eye most of the time, the gaze left the images, it wandered away from where
the observer was looking on that frame again and again, or it never settled. Pools may weigh a
recording down to (almost) nothing only for such a reason (see :mod:`.pooling`); otherwise its
weight stays bounded away from zero.

:func:`recording_compliance` measures one recording and applies absolute rules
(:data:`RULES`); the reasons are sentences for reports, the results page and the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RULES", "Compliance", "observer_flags", "recording_compliance"]

#: Own-data rules: statistic, limit, direction ("low": below the limit is non-compliant) and the
#: reason shown. Absolute limits, not relative to the crowd: one observer's quality must not
#: depend on the others'. Limits in degrees apply when the pixels per degree are known. They
#: mark an observer who was not doing the task, not a sloppy one: with glances away limited at
#: 10% instead of 30%, the simulated sloppy observer (0.6 glances away per second, 10-14% of its
#: samples) was cut on 16 of 99 development sequence-panels and each time the pooled estimate
#: lost AUC (up to 0.018): its remaining samples still carry the object (bench/delivered.py).
RULES: tuple[tuple[str, float, str, str], ...] = (
    ("valid_fraction", 0.5, "low", "only {value:.0%} of the samples are valid (eye lost)"),
    ("frames_with_gaze", 0.5, "low", "a gaze point on only {value:.0%} of the frames"),
    ("off_image_fraction", 0.25, "high", "{value:.0%} of the valid samples fall outside the images"),
    ("lapse_fraction", 0.30, "high",
     "{value:.0%} of the valid samples are glances away (over {lapse_deg:g} degrees from where "
     "the observer looked on that frame)"),
    ("dispersion_deg", 2.5, "high", "the gaze never settles (dispersion {value:.1f} degrees "
                                     "within a frame)"),
)
#: A valid sample this far (degrees) from its frame's median point counts as a glance away.
LAPSE_DEG = 4.0
#: Without the pixels per degree, distances are judged in fractions of the image diagonal
#: (a degree is taken as 1/30 of it: a sequence filling about 30 degrees of view).
DEGREES_PER_DIAGONAL = 30.0


@dataclass
class Compliance:
    """Own-data statistics of one recording and the rules it breaks.

    Attributes
    ----------
    stats : dict
        ``samples``, ``valid_fraction``, ``frames_with_gaze``, ``off_image_fraction``,
        ``lapse_fraction``, ``dispersion_deg`` (NaN when not measurable).
    reasons : list of str
        One sentence per broken rule; empty when the recording is compliant.
    """

    stats: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict:
        return {"stats": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in self.stats.items()},
                "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: dict | None) -> Compliance:
        data = data or {}
        stats = {k: (math.nan if v is None else v) for k, v in (data.get("stats") or {}).items()}
        return cls(stats=stats, reasons=list(data.get("reasons") or []))


def recording_compliance(gaze: pd.DataFrame, *, n_frames: int, image_shape: tuple[int, int],
                         px_per_degree: float | None = None) -> Compliance:
    """Own-data statistics of one recording and the :data:`RULES` it breaks.

    Parameters
    ----------
    gaze : DataFrame
        One recording: ``frame, x, y`` (x = column, y = row in image pixels; NaN = lost).
    n_frames : int
        Frames of the sequence.
    image_shape : (H, W)
    px_per_degree : float, optional
        Image pixels per degree; without it a degree is 1/30 of the image diagonal.

    Returns
    -------
    Compliance
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    ppd = float(px_per_degree) if px_per_degree else math.hypot(h, w) / DEGREES_PER_DIAGONAL
    x = gaze["x"].to_numpy(float)
    y = gaze["y"].to_numpy(float)
    frame = gaze["frame"].to_numpy()
    samples = int(x.size)
    finite = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        inside = finite & (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    stats = {
        "samples": samples,
        "valid_fraction": float(finite.mean()) if samples else math.nan,
        "off_image_fraction": float((finite & ~inside).sum() / finite.sum()) if finite.any()
        else math.nan,
        "frames_with_gaze": math.nan,
        "lapse_fraction": math.nan,
        "dispersion_deg": math.nan,
    }
    if inside.any():
        v = pd.DataFrame({"frame": frame[inside], "x": x[inside], "y": y[inside]})
        stats["frames_with_gaze"] = float(v["frame"].nunique() / max(int(n_frames), 1))
        med = v.groupby("frame")[["x", "y"]].transform("median")
        dist = np.hypot(v["x"] - med["x"], v["y"] - med["y"]) / ppd
        lapse = dist > LAPSE_DEG
        stats["lapse_fraction"] = float(lapse.mean())
        steady = dist[~lapse]
        if steady.size:
            rms = np.sqrt((steady ** 2).groupby(v["frame"][~lapse]).mean())
            stats["dispersion_deg"] = float(rms.median())
    reasons = []
    for key, limit, direction, text in RULES:
        value = stats.get(key, math.nan)
        if not isinstance(value, float) or not math.isfinite(value):
            continue
        if (direction == "low" and value < limit) or (direction == "high" and value > limit):
            reasons.append(text.format(value=value, lapse_deg=LAPSE_DEG))
    if samples == 0 or not finite.any():
        reasons.append("no valid gaze sample")
    return Compliance(stats=stats, reasons=reasons)


def observer_flags(source) -> dict[str, dict]:
    """What a run says of each observer: the one statement the report, the run's summary (API)
    and the results page all show.

    A pool applies :data:`RULES` when it is fitted (a recording that breaks one is cut, its
    observer flagged with the reason); this reads its verdict back, from the fitted pool or
    from a run's stored summary of it, so that no caller re-derives flags its own way (a
    report that marked observers who differ from the crowd while the page did not was the
    bug this replaced).

    Parameters
    ----------
    source : fitted pool or mapping
        A pool (``weights_``, ``flagged_``, ``flag_reasons_``, ``notes_``) or a run's observer
        summary (``weights``, ``flagged``, ``flag_reasons``, ``notes``).

    Returns
    -------
    dict
        ``{observer: {"flagged": bool, "reason": str, "note": str}}`` for every observer with
        a weight or a flag, in the pool's order. ``reason`` is empty unless flagged; ``note``
        is what is said but not acted on (disagreement with the crowd, poor accuracy).
    """
    if isinstance(source, dict):
        weights, flagged = source.get("weights") or {}, source.get("flagged") or []
        reasons, notes = source.get("flag_reasons") or {}, source.get("notes") or {}
    else:
        weights, flagged = getattr(source, "weights_", {}) or {}, getattr(source, "flagged_", []) or []
        reasons, notes = getattr(source, "flag_reasons_", {}) or {}, getattr(source, "notes_", {}) or {}
    names = list(dict.fromkeys([*weights, *flagged]))
    return {str(o): {"flagged": o in flagged, "reason": str(reasons.get(o, "")) if o in flagged else "",
                     "note": str(notes.get(o, ""))}
            for o in names}
