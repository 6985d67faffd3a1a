"""Image collections: gaze -> boxes and masks, and the labelling-time report.

The platform side of ``docs/gaze_boxes.md``: the finished recordings of an image collection
(``Study.Kind.IMAGES``; one Sequence per uploaded collection, frame k = image k) are turned into
fixations with a dispersion-threshold detector (I-DT), pooled over observers per image, and
given to the engine's :func:`segmentation.engine.detection.labels.label_images` (heat map,
threshold, refinement with the image). Results go to media storage as COCO JSON and a zip of
PNG masks; :func:`gaze_boxes_write` writes the same to a folder (``manage.py gaze_boxes``).

Why our own I-DT rather than ``pymovements.events.idt``: pymovements refuses samples whose
time steps are not exactly constant ("interval between timesteps must be constant"), and the
browser recorder (a 60 Hz timer) and merged tracker exports never are. The detector below is
Salvucci & Goldberg's I-DT on the samples as they come.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from annotation import selectors as annotation_selectors
from crowd.models import Study
from crowd.selectors import sequence_frames

from . import storage

#: I-DT parameters: a fixation is at least ``MIN_FIXATION_MS`` of samples whose dispersion
#: ((max x - min x) + (max y - min y)) stays within ``DISPERSION_DEG`` degrees of visual angle.
DISPERSION_DEG = 1.0
MIN_FIXATION_MS = 100.0
#: Image pixels per degree when a recording's display geometry is unknown (as the runs assume).
FALLBACK_PX_PER_DEGREE = 12.0


def idt_fixations(samples: np.ndarray, *, dispersion_px: float, min_duration_ms: float = MIN_FIXATION_MS
                  ) -> np.ndarray:
    """Fixations of one image's samples by dispersion threshold (I-DT).

    Parameters
    ----------
    samples : (n, 3) ndarray
        ``t_ms, x, y`` sorted by time (x = column, y = row, pixels; NaN = lost, which ends a
        fixation).
    dispersion_px : float
        Largest ``(max x - min x) + (max y - min y)`` of a fixation, pixels.
    min_duration_ms : float
        Shortest fixation (first to last sample).

    Returns
    -------
    (K, 4) ndarray
        ``t_ms`` (start), ``x``, ``y`` (mean of the samples), ``duration_ms``.
    """
    t, x, y = samples[:, 0], samples[:, 1], samples[:, 2]
    valid = np.isfinite(x) & np.isfinite(y)
    out = []
    n, i = len(t), 0
    while i < n:
        if not valid[i]:
            i += 1
            continue
        # the smallest window covering min_duration_ms, without a lost sample
        j = i
        while j + 1 < n and valid[j + 1] and t[j] - t[i] < min_duration_ms:
            j += 1
        if t[j] - t[i] < min_duration_ms or _dispersion(x[i:j + 1], y[i:j + 1]) > dispersion_px:
            i += 1
            continue
        while j + 1 < n and valid[j + 1] and _dispersion(x[i:j + 2], y[i:j + 2]) <= dispersion_px:
            j += 1
        out.append((t[i], x[i:j + 1].mean(), y[i:j + 1].mean(), t[j] - t[i]))
        i = j + 1
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def _dispersion(x: np.ndarray, y: np.ndarray) -> float:
    return float(x.max() - x.min() + y.max() - y.min())


def _image_keys(study: Study) -> list[tuple]:
    """``(sequence, frame, key)`` of every image; keys are image names, made unique by
    prefixing the collection's name when two collections of the study share an image name."""
    rows = [(s, k, name) for s in study.sequences.order_by("id") for k, name in enumerate(s.image_names())]
    counts = pd.Series([r[2] for r in rows]).value_counts() if rows else {}
    return [(s, k, name if counts[name] == 1 else f"{s.name}__{name}") for s, k, name in rows]


def study_fixations(*, study: Study, dispersion_deg: float = DISPERSION_DEG,
                    min_duration_ms: float = MIN_FIXATION_MS) -> pd.DataFrame:
    """Fixations of every finished recording of an image collection.

    Returns the engine's fixation table ``image, observer, t_ms, x, y, duration_ms`` (the format
    of ``kvasir/fixations.csv``); a recording's samples on image k (``frame`` = k) give image k's
    fixations. The dispersion threshold is ``dispersion_deg`` times the recording's image pixels
    per degree (:data:`FALLBACK_PX_PER_DEGREE` without display geometry).
    """
    keys = {(s.pk, k): key for s, k, key in _image_keys(study)}
    rows = []
    for sequence in study.sequences.order_by("id"):
        for recording in annotation_selectors.finished_recordings(sequence=sequence):
            ppd = annotation_selectors.recording_image_px_per_degree(recording) or FALLBACK_PX_PER_DEGREE
            samples = annotation_selectors.recording_samples(recording)
            for k in np.unique(samples[:, 1]).astype(int) if len(samples) else []:
                if (sequence.pk, k) not in keys:
                    continue
                on_image = samples[samples[:, 1] == k][:, [0, 2, 3]]
                for t0, fx, fy, dur in idt_fixations(on_image, dispersion_px=dispersion_deg * ppd,
                                                     min_duration_ms=min_duration_ms):
                    rows.append((keys[(sequence.pk, k)], recording.observer.username, t0, fx, fy, dur))
    return pd.DataFrame(rows, columns=["image", "observer", "t_ms", "x", "y", "duration_ms"])


@dataclass(frozen=True)
class GazeBoxes:
    """Gaze-derived labels of an image collection: ``coco`` (dict), ``masks`` name -> (H, W) bool,
    ``fixations`` the table they came from."""

    coco: dict
    masks: dict
    fixations: pd.DataFrame


def gaze_boxes_compute(*, study: Study, params=None, rng: int = 0) -> GazeBoxes:
    """Boxes and masks per image from the study's finished recordings (refined by default).

    ``params`` is a :class:`segmentation.engine.detection.labels.GazeBoxParams` (default: the
    engine's defaults, refinement on). Raises ValidationError for a study that is not an image
    collection or has no fixation at all.
    """
    from segmentation.engine.detection.coco import ImageInfo, coco_from_boxes
    from segmentation.engine.detection.labels import GazeBoxParams, label_images

    if study.kind != Study.Kind.IMAGES:
        raise ValidationError(f"gaze boxes are made for image collections; {study.name!r} is of kind {study.kind!r}")
    fixations = study_fixations(study=study)
    if fixations.empty:
        raise ValidationError(f"{study.name!r} has no fixation yet: no finished recording with gaze on its images")
    params = params or GazeBoxParams()
    images, infos, frames_of = {}, [], {}
    for sequence, k, key in _image_keys(study):
        if sequence.pk not in frames_of:
            frames_of[sequence.pk] = sequence_frames(sequence)
        images[key] = (sequence.pk, k)
        infos.append(ImageInfo(key, f"{key}.png", sequence.width, sequence.height))

    def read(key):
        sid, k = images[key]
        image = np.asarray(frames_of[sid][k])
        if image.ndim == 2:  # the refinement's colour model wants RGB
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.dtype != np.uint8:
            lo, hi = float(image.min()), float(image.max())
            image = ((image - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return image

    labels = label_images(read, [i.name for i in infos], fixations, params=params, rng=rng)
    info = {"description": f"gaze boxes of study {study.pk} ({study.name})",
            "fixations": len(fixations), "refine": params.refine, "sigma": params.sigma,
            "factor": params.factor}
    coco = coco_from_boxes(infos, {n: lab.boxes for n, lab in labels.items()}, category=study.target_structure
                           or "target", info=info)
    return GazeBoxes(coco, {n: lab.mask for n, lab in labels.items()}, fixations)


def _png(mask: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.asarray(mask, dtype=bool) * np.uint8(255), extension=".png")


def _media_names(study: Study) -> tuple[str, str]:
    return f"gaze_boxes/{study.pk}/boxes.json", f"gaze_boxes/{study.pk}/masks.zip"


def gaze_boxes_store(*, study: Study, params=None) -> dict:
    """Compute the gaze boxes and store them in media (replacing earlier ones).

    Returns ``{"images", "boxes", "fixations", "coco", "masks"}`` (counts and media names).
    """
    result = gaze_boxes_compute(study=study, params=params)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, mask in result.masks.items():
            archive.writestr(f"masks/{name}.png", _png(mask))
    coco_name, zip_name = _media_names(study)
    storage.save_bytes(coco_name, json.dumps(result.coco).encode())
    storage.save_bytes(zip_name, buffer.getvalue())
    return {"images": len(result.coco["images"]), "boxes": len(result.coco["annotations"]),
            "fixations": len(result.fixations), "coco": coco_name, "masks": zip_name}


def gaze_boxes_file(*, study: Study, kind: str) -> bytes | None:
    """The stored ``"coco"`` JSON or ``"masks"`` zip, or None when not computed yet."""
    name = _media_names(study)[0 if kind == "coco" else 1]
    return storage.read_bytes(name) if default_storage.exists(name) else None


def gaze_boxes_write(*, study: Study, out: Path, params=None) -> dict:
    """Write ``out/boxes.json`` (COCO) and ``out/masks/<image>.png``; returns the counts."""
    from segmentation.engine.detection.coco import write_coco
    from segmentation.engine.detection.io import write_mask

    result = gaze_boxes_compute(study=study, params=params)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_coco(out / "boxes.json", result.coco)
    for name, mask in result.masks.items():
        write_mask(out / "masks" / f"{name}.png", mask)
    return {"images": len(result.coco["images"]), "boxes": len(result.coco["annotations"]),
            "fixations": len(result.fixations)}


# --- the labelling-time study ---------------------------------------------------------------


def labelling_time_report(*, study: Study) -> dict:
    """Time per label by mode (n, mean, median, std, 95% CI) and what gaze saves, plus time per
    image by mode; through :func:`segmentation.engine.detection.timing.timing_report`.

    ``{"confidence", "reference", "per_mode": {mode: {...}}, "savings_percent": {mode: %},
    "per_image": {...same for image visits...}}``; empty ``per_mode`` without labels.
    """
    from segmentation.engine.detection.timing import timing_report

    labels = annotation_selectors.image_label_table(study=study)
    out = timing_report(labels).to_dict()
    visits = annotation_selectors.image_visit_table(study=study)
    out["per_image"] = timing_report(visits).to_dict()["per_mode"]
    return out
