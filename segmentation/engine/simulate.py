"""Simulated observers: gaze recordings made from reference masks, for measuring the engine.

The evaluation sequences of ``../shared/data`` come without gaze, and the development panels
show only one way of looking, so the engine is measured on simulated observers as well.
:func:`simulate_gaze` makes one recording in the gaze CSV format (``observer, t_ms, frame, x,
y``) from a sequence's masks and an observer's parameters, the same parameters
``recording.json`` gives for the development panels (read with
:func:`segmentation.engine.io.read_panel`):

* ``bias_deg``: a constant calibration offset (random direction, seeded);
* ``noise_deg``: Gaussian sample noise;
* ``lapse_per_s``: glances away (to a random point of the image) per second;
* ``blink_per_s``: blinks (lost samples) per second;
* ``lag_ms``: the eye follows the object this late (smooth pursuit lag).

and, beyond the shipped panels (all default to the shipped behaviour):

* ``placement``: where in the object the observer fixates, see :data:`PLACEMENTS`;
* ``drift_deg``: a calibration drift that grows linearly to this many degrees over the
  recording (random direction), on top of the constant bias (webcam trackers drift);
* ``latency_ms``: the tracker reports where the eye was this long ago (webcam pipelines);
* ``mistake_deg`` / ``mistake_seed``: the observer looks at the wrong structure, the object
  displaced by this many degrees in a direction drawn from ``mistake_seed``; observers with
  the same ``mistake_seed`` share the mistake (a crowd that agrees and is wrong).

Each simulated recording also carries what the platform would have measured of it:
``gaze.attrs["accuracy_deg"]``, a 9-point validation before the recording and a drift check
after it, the worse of the two (:func:`validation_accuracy_deg`; the platform's
``recording_accuracy_deg``). Drawn from its own random stream: the gaze is unchanged.

Between lapses the observer fixates points of the object chosen by ``placement``, a new one
every ``fixation_ms`` or so (exponentially distributed), and follows the object's motion during
a fixation. :func:`make_panel` builds the named panels the benchmarks use (:data:`PANELS`):
placements, webcam-grade accuracy, two- and three-observer crowds, a shared mistake. This is
our model, not the generator of the shipped recordings; how close the engine's scores come to
those on the real development panels is measured in docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from .errors import InputError

#: Where an observer fixates inside the object (probability of each object pixel):
#:
#: * ``interior``: proportional to the distance to the border (the shipped panels);
#: * ``centre``: proportional to the distance to the border to the 4th power: the deep middle;
#: * ``uniform``: every object pixel alike;
#: * ``rim``: within about 0.4 degree inside the border (tracing the outline);
#: * ``salient``: only the most conspicuous part: the object's pixels are split in two by
#:   colour (k-means over the whole sequence) and the part whose mean colour differs most from
#:   the surroundings (a ring of 1 degree around the object) is fixated, interior-weighted.
#:   Needs the frames.
PLACEMENTS = ("interior", "centre", "uniform", "rim", "salient")


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
    placement: str = "interior"
    drift_deg: float = 0.0
    latency_ms: float = 0.0
    mistake_deg: float = 0.0
    mistake_seed: int = 0


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


def salient_part(masks: np.ndarray, frames: np.ndarray, *, ring_px: float) -> np.ndarray:
    """The object's most conspicuous part: (T, H, W) bool, a subset of ``masks``.

    The object's pixels (all frames) are split in two by colour with k-means; the part whose
    mean colour is farthest from the mean colour of a ring of ``ring_px`` pixels around the
    object is returned. Deterministic (k-means starts from the colour quantiles).
    """
    frames = np.asarray(frames, dtype=np.float64)
    colour = frames.reshape(frames.shape[:3] + (-1,))  # (T, H, W, C)
    obj = colour[masks]
    if obj.shape[0] < 4:
        return masks.copy()
    lo, hi = np.quantile(obj, [0.25, 0.75], axis=0)
    centres, assign = kmeans2(obj, np.stack([lo, hi]), minit="matrix", seed=0)
    ring = np.zeros_like(masks)
    it = max(1, int(round(ring_px)))
    for k in range(masks.shape[0]):
        if masks[k].any():
            ring[k] = ndimage.binary_dilation(masks[k], iterations=it) & ~masks[k]
    surround = colour[ring].mean(axis=0) if ring.any() else colour.reshape(-1, colour.shape[-1]).mean(0)
    counts = np.bincount(assign, minlength=2)
    contrast = np.linalg.norm(centres - surround[None], axis=1)
    contrast[counts < 0.1 * counts.sum()] = -1.0  # a speck is not a part
    part = np.zeros_like(masks)
    part[masks] = assign == int(np.argmax(contrast))
    return part


def _fixation_weights(region: np.ndarray, placement: str, rim_px: float) -> np.ndarray:
    """Probability (flat, sums to 1) of fixating each pixel of ``region`` (H, W bool)."""
    dist = ndimage.distance_transform_edt(region).ravel()
    if placement in ("interior", "salient"):
        w = dist
    elif placement == "centre":
        w = dist ** 4
    elif placement == "uniform":
        w = (dist > 0).astype(float)
    elif placement == "rim":
        w = ((dist > 0) & (dist <= max(rim_px, 1.5))).astype(float)
    else:
        raise InputError(f"placement must be one of {', '.join(PLACEMENTS)}; got {placement!r}")
    total = w.sum()
    return w / total if total > 0 else (dist > 0) / max((dist > 0).sum(), 1)


def simulate_gaze(masks, *, fps: float, px_per_degree: float, observer: SimulatedObserver,
                  sample_hz: float = 60.0, fixation_ms: float = 300.0, lapse_ms: float = 250.0,
                  blink_ms: float = 150.0, frames=None) -> pd.DataFrame:
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
    frames : (T, H, W[, C]) ndarray, optional
        The sequence; needed by ``placement="salient"`` only.

    Returns
    -------
    DataFrame
        ``observer, t_ms, frame, x, y`` (x = column, y = row; NaN = lost sample), one row per
        tracker sample; deterministic for ``observer.seed``. ``attrs["accuracy_deg"]``: the
        accuracy a validation and a drift check would have measured
        (:func:`validation_accuracy_deg`).
    """
    masks = np.asarray(masks) != 0
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise InputError(f"masks must be (T, H, W) with T >= 1; got shape {masks.shape}")
    if fps <= 0 or px_per_degree <= 0 or sample_hz <= 0:
        raise InputError(f"fps, px_per_degree and sample_hz must be positive; got {fps}, "
                         f"{px_per_degree}, {sample_hz}")
    if observer.placement not in PLACEMENTS:
        raise InputError(f"placement must be one of {', '.join(PLACEMENTS)}; got "
                         f"{observer.placement!r}")
    target_masks = masks
    if observer.placement == "salient":
        if frames is None or np.shape(frames)[:3] != masks.shape:
            raise InputError("placement='salient' needs the frames, of the masks' shape "
                             f"{masks.shape}")
        target_masks = salient_part(masks, frames, ring_px=px_per_degree)
    rng = np.random.default_rng(observer.seed)
    n_frames, height, width = masks.shape
    duration = n_frames * 1000.0 / fps
    t = np.arange(0.0, duration, 1000.0 / sample_hz)
    frame = np.minimum((t * fps / 1000.0).astype(int), n_frames - 1)
    # The tracker reports the eye ``latency_ms`` late; the eye follows the object ``lag_ms`` late.
    seen = np.clip(((t - observer.lag_ms - observer.latency_ms) * fps / 1000.0).astype(int), 0,
                   n_frames - 1)
    centroids = np.array([ndimage.center_of_mass(m) if m.any() else (np.nan, np.nan)
                          for m in masks])  # (T, 2) row, col
    rim_px = 0.4 * px_per_degree

    target = np.empty((t.size, 2))
    last = np.array([height / 2.0, width / 2.0])
    offset, next_fixation = None, 0.0  # offset: fixated point - object centroid
    for i, (ti, k) in enumerate(zip(t, seen)):
        if ti >= next_fixation and target_masks[k].any():
            p = _fixation_weights(target_masks[k], observer.placement, rim_px)
            pick = rng.choice(p.size, p=p)
            offset = np.array(divmod(pick, width), dtype=float) - centroids[k]
            next_fixation = ti + rng.exponential(fixation_ms)
        if offset is not None and np.isfinite(centroids[k]).all():
            last = centroids[k] + offset  # pursuit: the fixated point moves with the object
        target[i] = last

    angle = rng.uniform(0, 2 * np.pi)
    bias = observer.bias_deg * px_per_degree * np.array([np.sin(angle), np.cos(angle)])
    gaze = target + bias + rng.normal(0, observer.noise_deg * px_per_degree, target.shape)
    drift_end = np.zeros(2)  # degrees, (row, col): the drift at the end of the recording
    if observer.drift_deg:
        drift_angle = rng.uniform(0, 2 * np.pi)
        ramp = (t / max(duration, 1e-9))[:, None]
        drift_end = observer.drift_deg * np.array([np.sin(drift_angle), np.cos(drift_angle)])
        gaze += ramp * drift_end * px_per_degree
    if observer.mistake_deg:
        # Drawn from the shared seed, not the observer's: the same wrong structure for all.
        m_angle = np.random.default_rng(observer.mistake_seed).uniform(0, 2 * np.pi)
        gaze += observer.mistake_deg * px_per_degree * np.array([np.sin(m_angle), np.cos(m_angle)])
    away = _events(rng, observer.lapse_per_s, duration, lapse_ms, t)
    gaze[away] = np.c_[rng.uniform(0, height, away.sum()), rng.uniform(0, width, away.sum())]
    lost = _events(rng, observer.blink_per_s, duration, blink_ms, t)
    gaze[lost] = np.nan
    out = pd.DataFrame({"observer": observer.name, "t_ms": np.round(t, 1), "frame": frame,
                        "x": np.round(gaze[:, 1], 2), "y": np.round(gaze[:, 0], 2)})
    # Its own stream (seeded from the observer's seed): the gaze above stays as it was.
    out.attrs["accuracy_deg"] = validation_accuracy_deg(
        bias / px_per_degree, observer.noise_deg, drift_deg=drift_end,
        samples=int(round(sample_hz)), rng=np.random.default_rng([observer.seed, 20]))
    return out


def validation_accuracy_deg(bias_deg, noise_deg: float, *, drift_deg=None, n_targets: int = 9,
                            samples: int = 30, rng=0) -> float:
    """What the platform's validation would measure of an observer (degrees).

    The recorder shows ``n_targets`` targets and averages the gaze over the last second of
    each (``samples`` samples); the error of a target is the distance of that mean to it, the
    validation error the mean over targets (static/gazecrowd/js/recorder.js). A drift check
    after the recording measures the same with the drift added; the platform keeps the worse
    of the two (``annotation.selectors.recording_accuracy_deg``).

    Parameters
    ----------
    bias_deg : (2,) array_like
        Constant offset in degrees (any axis order: only its length matters with the drift).
    noise_deg : float
        Standard deviation of the sample noise per axis.
    drift_deg : (2,) array_like, optional
        The drift reached at the end of the recording (same axes as ``bias_deg``).
    n_targets, samples : int
    rng : int or numpy.random.Generator

    Returns
    -------
    float
        Degrees, at most 90 (the recorder's cap).
    """
    gen = np.random.default_rng(rng)
    bias = np.asarray(bias_deg, dtype=np.float64)
    checks = [bias] + ([bias + np.asarray(drift_deg, dtype=np.float64)]
                       if drift_deg is not None and np.any(drift_deg) else [])
    worst = 0.0
    for offset in checks:
        means = offset[None, :] + gen.normal(0.0, noise_deg, (n_targets, samples, 2)).mean(axis=1)
        worst = max(worst, float(np.hypot(means[:, 0], means[:, 1]).mean()))
    return min(worst, 90.0)


def simulate_panel(masks, panel: Panel, *, frames=None) -> list[pd.DataFrame]:
    """One recording per observer of ``panel`` (see :func:`simulate_gaze`)."""
    return [simulate_gaze(masks, fps=panel.fps, px_per_degree=panel.px_per_degree,
                          observer=o, sample_hz=panel.sample_hz, frames=frames)
            for o in panel.observers]


# ---------------------------------------------------------------------------------------------
# Named panels

#: The panels :func:`make_panel` builds from a base panel (a development ``recording.json``):
#:
#: * ``shipped``: the base panel as it is (seven observers, the last one sloppy);
#: * ``centre``, ``uniform``, ``rim``, ``salient``: the same observers fixating there;
#: * ``webcam``: webcam-grade trackers: bias 2-4 degrees, noise 1 degree, drift up to 1
#:   degree, latency 100-200 ms, 30 Hz (seven observers, the sloppy one kept sloppy);
#: * ``two``, ``three``: the first two / three observers only;
#: * ``shared-mistake``: five observers look at the same wrong structure (the object displaced
#:   by 1.5 times its typical radius) and two (observers 1 and 2) at the object.
PANELS = ("shipped", "centre", "uniform", "rim", "salient", "webcam", "two", "three",
          "shared-mistake")


def make_panel(base: Panel, name: str, *, object_radius_deg: float = 1.0) -> Panel:
    """The named panel of :data:`PANELS` derived from ``base``.

    Parameters
    ----------
    base : Panel
    name : str
    object_radius_deg : float
        The object's typical radius in degrees (``shared-mistake`` displaces the crowd's gaze
        by 1.5 times it, so that the wrong structure lies beside the object).
    """
    obs = base.observers
    if name == "shipped":
        return base
    if name in ("centre", "uniform", "rim", "salient"):
        return replace(base, observers=tuple(replace(o, placement=name) for o in obs))
    if name == "webcam":
        out = []
        for i, o in enumerate(obs):
            r = np.random.default_rng(o.seed + 1)
            out.append(replace(o, bias_deg=float(r.uniform(2.0, 4.0)), noise_deg=1.0,
                               drift_deg=float(r.uniform(0.0, 1.0)),
                               latency_ms=float(r.uniform(100.0, 200.0)),
                               lapse_per_s=o.lapse_per_s if i < len(obs) - 1 else 0.6))
        return replace(base, sample_hz=30.0, observers=tuple(out))
    if name == "two":
        return replace(base, observers=obs[:2])
    if name == "three":
        return replace(base, observers=obs[:3])
    if name == "shared-mistake":
        shift = 1.5 * float(object_radius_deg)
        return replace(base, observers=tuple(
            o if i < 2 else replace(o, mistake_deg=shift, mistake_seed=1234)
            for i, o in enumerate(obs)))
    raise InputError(f"panel must be one of {', '.join(PANELS)}; got {name!r}")


def object_radius_deg(masks, px_per_degree: float) -> float:
    """Median over frames of the object's equivalent-disc radius, in degrees."""
    area = np.asarray(masks).reshape(len(masks), -1).sum(axis=1)
    area = area[area > 0]
    if area.size == 0:
        return 1.0
    return float(np.sqrt(np.median(area) / np.pi) / px_per_degree)


def core_unlike_rim(frames, masks, *, core_fraction: float = 0.5):
    """Frames whose object has a core that looks like its surroundings (a heterogeneous object).

    The object's pixels deeper than ``core_fraction`` of the frame's largest border distance
    get the mean colour of a ring around the object, plus the core's own texture: a tumour
    with a necrotic core unlike its bright rim, for testing estimates from observers who look
    at the middle. Returns a float copy of ``frames``.
    """
    frames = np.asarray(frames, dtype=np.float32).copy()
    masks = np.asarray(masks) != 0
    for k in range(masks.shape[0]):
        m = masks[k]
        if not m.any():
            continue
        dist = ndimage.distance_transform_edt(m)
        core = dist > core_fraction * dist.max()
        ring = ndimage.binary_dilation(m, iterations=3) & ~m
        if not ring.any() or not core.any():
            continue
        f = frames[k]
        f[core] = f[core] - f[core].mean(axis=0) + f[ring].mean(axis=0)
    return frames
