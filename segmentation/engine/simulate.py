"""Simulated observers: gaze recordings made from reference masks, for measuring the engine.

The evaluation sequences of ``../shared/data`` come without gaze, so the engine can only be
scored there on simulated observers. :func:`simulate_gaze` makes one recording in the gaze CSV
format (``observer, t_ms, frame, x, y``) from a sequence's masks and an observer's parameters,
the same parameters ``recording.json`` gives for the development panels (read with
:func:`segmentation.engine.io.read_panel`):

* ``bias_deg``: a constant calibration offset (random direction, seeded);
* ``noise_deg``: Gaussian sample noise;
* ``lapse_per_s``: glances away (to a random point of the image) per second;
* ``blink_per_s``: blinks (lost samples) per second;
* ``lag_ms``: the eye follows the object this late (smooth pursuit lag).

Between lapses the observer fixates points inside the object, a new one every
``fixation_ms`` or so (exponentially distributed), preferring the interior (probability
proportional to the distance to the border), and follows the object's motion during a
fixation. This is our model, not the generator of the shipped recordings; how close the engine's
scores come to those on the real development panels is measured in docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from .errors import InputError


@dataclass(frozen=True)
class SimulatedObserver:
    """Parameters of one simulated observer (degrees of visual angle, events per second)."""

    name: str
    bias_deg: float = 0.4
    noise_deg: float = 0.35
    lapse_per_s: float = 0.08
    blink_per_s: float = 0.3
    lag_ms: float = 150.0
    seed: int = 0


@dataclass(frozen=True)
class Panel:
    """A panel of observers and the viewing conditions of their recordings."""

    fps: float
    px_per_degree: float
    sample_hz: float
    observers: tuple[SimulatedObserver, ...]


def panel_from_dict(data: dict, *, source: str = "panel") -> Panel:
    """A panel from the content of a ``recording.json`` (read it with :func:`io.read_panel`).

    Raises
    ------
    InputError
        A field is missing or has the wrong type (named in the message, with ``source``).
    """
    try:
        observers = tuple(
            SimulatedObserver(name=str(o["name"]), bias_deg=float(o["bias_deg"]),
                              noise_deg=float(o["noise_deg"]), lapse_per_s=float(o["lapse_per_s"]),
                              blink_per_s=float(o["blink_per_s"]), lag_ms=float(o["lag_ms"]),
                              seed=int(o["seed"]))
            for o in data["observers"])
        return Panel(fps=float(data["fps"]), px_per_degree=float(data["image_px_per_degree"]),
                     sample_hz=float(data.get("sample_hz", 60.0)), observers=observers)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{source}: a panel needs fps, image_px_per_degree and observers with "
                         f"name, bias_deg, noise_deg, lapse_per_s, blink_per_s, lag_ms, seed "
                         f"({type(exc).__name__}: {exc})") from exc


def _events(rng, rate_per_s: float, duration_ms: float, length_ms: float, t: np.ndarray):
    """Boolean mask of the samples ``t`` inside events of a Poisson process."""
    inside = np.zeros(t.size, bool)
    if rate_per_s <= 0:
        return inside
    n = rng.poisson(rate_per_s * duration_ms / 1000.0)
    for start in rng.uniform(0, duration_ms, n):
        inside |= (t >= start) & (t < start + length_ms)
    return inside


def simulate_gaze(masks, *, fps: float, px_per_degree: float, observer: SimulatedObserver,
                  sample_hz: float = 60.0, fixation_ms: float = 300.0, lapse_ms: float = 250.0,
                  blink_ms: float = 150.0) -> pd.DataFrame:
    """One simulated recording of a sequence played at ``fps``.

    Parameters
    ----------
    masks : (T, H, W) array
        The object in every frame (non-zero = object); frames without object keep the last
        fixation point.
    fps, px_per_degree, sample_hz : float
        Playback frame rate, image pixels per degree of visual angle, tracker rate.
    observer : SimulatedObserver
    fixation_ms, lapse_ms, blink_ms : float
        Mean fixation duration, duration of a glance away, duration of a blink.

    Returns
    -------
    DataFrame
        ``observer, t_ms, frame, x, y`` (x = column, y = row; NaN = lost sample), one row per
        tracker sample; deterministic for ``observer.seed``.
    """
    masks = np.asarray(masks) != 0
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise InputError(f"masks must be (T, H, W) with T >= 1; got shape {masks.shape}")
    if fps <= 0 or px_per_degree <= 0 or sample_hz <= 0:
        raise InputError(f"fps, px_per_degree and sample_hz must be positive; got {fps}, "
                         f"{px_per_degree}, {sample_hz}")
    rng = np.random.default_rng(observer.seed)
    n_frames, height, width = masks.shape
    duration = n_frames * 1000.0 / fps
    t = np.arange(0.0, duration, 1000.0 / sample_hz)
    frame = np.minimum((t * fps / 1000.0).astype(int), n_frames - 1)
    seen = np.clip(((t - observer.lag_ms) * fps / 1000.0).astype(int), 0, n_frames - 1)
    centroids = np.array([ndimage.center_of_mass(m) if m.any() else (np.nan, np.nan)
                          for m in masks])  # (T, 2) row, col

    target = np.empty((t.size, 2))
    last = np.array([height / 2.0, width / 2.0])
    offset, next_fixation = None, 0.0  # offset: fixated point - object centroid
    for i, (ti, k) in enumerate(zip(t, seen)):
        if ti >= next_fixation and masks[k].any():
            dist = ndimage.distance_transform_edt(masks[k]).ravel()
            pick = rng.choice(dist.size, p=dist / dist.sum())
            offset = np.array(divmod(pick, width), dtype=float) - centroids[k]
            next_fixation = ti + rng.exponential(fixation_ms)
        if offset is not None and np.isfinite(centroids[k]).all():
            last = centroids[k] + offset  # pursuit: the fixated point moves with the object
        target[i] = last

    angle = rng.uniform(0, 2 * np.pi)
    bias = observer.bias_deg * px_per_degree * np.array([np.sin(angle), np.cos(angle)])
    gaze = target + bias + rng.normal(0, observer.noise_deg * px_per_degree, target.shape)
    away = _events(rng, observer.lapse_per_s, duration, lapse_ms, t)
    gaze[away] = np.c_[rng.uniform(0, height, away.sum()), rng.uniform(0, width, away.sum())]
    lost = _events(rng, observer.blink_per_s, duration, blink_ms, t)
    gaze[lost] = np.nan
    return pd.DataFrame({"observer": observer.name, "t_ms": np.round(t, 1), "frame": frame,
                         "x": np.round(gaze[:, 1], 2), "y": np.round(gaze[:, 0], 2)})


def simulate_panel(masks, panel: Panel) -> list[pd.DataFrame]:
    """One recording per observer of ``panel`` (see :func:`simulate_gaze`)."""
    return [simulate_gaze(masks, fps=panel.fps, px_per_degree=panel.px_per_degree,
                          observer=o, sample_hz=panel.sample_hz) for o in panel.observers]
