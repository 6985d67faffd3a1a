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
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.utils import timezone

from annotation import selectors as annotation_selectors
from crowd.models import Study
from crowd.selectors import sequence_frames

from . import storage
from .jobs import job_claim, job_fail

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


def _check_collection(study: Study) -> None:
    if study.kind != Study.Kind.IMAGES:
        raise ValidationError(f"gaze boxes are made for image collections; {study.name!r} is of kind {study.kind!r}")


def _no_fixation(study: Study) -> ValidationError:
    return ValidationError(f"{study.name!r} has no fixation yet: no finished recording with gaze on its images")


def gaze_boxes_compute(*, study: Study, params=None, rng: int = 0, progress=None) -> GazeBoxes:
    """Boxes and masks per image from the study's finished recordings (refined by default).

    ``params`` is a :class:`segmentation.engine.detection.labels.GazeBoxParams` (default: the
    engine's defaults, refinement on). ``progress(fraction)`` is called as images are done.
    Raises ValidationError for a study that is not an image collection or has no fixation at all.
    """
    from segmentation.engine.detection import (
        GazeBoxParams,
        ImageInfo,
        coco_from_boxes,
        label_images,
    )

    _check_collection(study)
    fixations = study_fixations(study=study)
    if fixations.empty:
        raise _no_fixation(study)
    params = params or GazeBoxParams()
    images, infos, frames_of = {}, [], {}
    for sequence, k, key in _image_keys(study):
        if sequence.pk not in frames_of:
            frames_of[sequence.pk] = sequence_frames(sequence)
        images[key] = (sequence.pk, k)
        infos.append(ImageInfo(key, f"{key}.png", sequence.width, sequence.height))

    done = []

    def read(key):  # called once per image by label_images, in order
        if progress is not None:
            progress(len(done) / max(len(infos), 1))
            done.append(key)
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


def gaze_boxes_store(*, study: Study, params=None, progress=None) -> dict:
    """Compute the gaze boxes and store them in media (replacing earlier ones).

    Returns ``{"images", "boxes", "fixations", "coco", "masks"}`` (counts and media names).
    """
    result = gaze_boxes_compute(study=study, params=params, progress=progress)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, mask in result.masks.items():
            archive.writestr(f"masks/{name}.png", _png(mask))
    coco_name, zip_name = _media_names(study)
    storage.save_bytes(coco_name, json.dumps(result.coco).encode())
    storage.save_bytes(zip_name, buffer.getvalue())
    return {"images": len(result.coco["images"]), "boxes": len(result.coco["annotations"]),
            "fixations": len(result.fixations), "coco": coco_name, "masks": zip_name}


def gaze_boxes_request(*, study: Study, requested_by=None):
    """Queue the gaze boxes of an image collection as a Celery job; returns ``(job, created)``.

    What cannot work is refused at once with a ValidationError (not an image collection, no
    finished recording with gaze); a job of the study already queued or running is returned
    instead of starting a second one. The job runs after the transaction commits.
    """
    from annotation.models import Recording

    from . import tasks
    from .models import GazeBoxesJob

    _check_collection(study)
    with_gaze = Recording.objects.filter(sequence__study=study, status=Recording.Status.FINISHED,
                                         batches__n_samples__gt=0)
    if not with_gaze.exists():
        raise _no_fixation(study)
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)  # one request at a time per study
        pending = GazeBoxesJob.objects.filter(
            study=study, status__in=[GazeBoxesJob.Status.QUEUED, GazeBoxesJob.Status.RUNNING]).first()
        if pending is not None:
            return pending, False
        job = GazeBoxesJob.objects.create(study=study, requested_by=requested_by)
        transaction.on_commit(lambda: tasks.gaze_boxes_execute.delay(job.pk))
    job.refresh_from_db()  # with eager Celery (no broker) it has run at the commit above
    return job, True


def gaze_boxes_execute(*, job_id: int):
    """Run a gaze-boxes job: compute, store, record the counts (idempotent: a job that already
    succeeded is left alone; a redelivered one computes again and replaces the same files).

    Bad data (no fixation after all) marks the job failed with the message; database errors
    propagate so that the task retries.
    """
    from .models import GazeBoxesJob

    job = job_claim(GazeBoxesJob, job_id, progress=0.0)
    if job is None:
        return GazeBoxesJob.objects.get(pk=job_id)
    last = [0.0]

    def progress(fraction: float) -> None:  # at most one write per second
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            GazeBoxesJob.objects.filter(pk=job_id).update(progress=round(float(fraction), 3))

    try:
        result = gaze_boxes_store(study=job.study, progress=progress)
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - any data problem is the job's error, shown to the user
        job_fail(GazeBoxesJob, job_id, "; ".join(exc.messages) if isinstance(exc, ValidationError)
                 else f"{type(exc).__name__}: {exc}")
    else:
        GazeBoxesJob.objects.filter(pk=job_id).update(
            status=GazeBoxesJob.Status.SUCCEEDED, progress=1.0, result=result, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def gaze_boxes_latest(*, study: Study):
    """The study's most recent gaze-boxes job, or None."""
    from .models import GazeBoxesJob

    return GazeBoxesJob.objects.filter(study=study).order_by("-id").first()


def gaze_boxes_exist(*, study: Study) -> bool:
    """Whether gaze boxes are stored for the study (without reading them)."""
    return default_storage.exists(_media_names(study)[0])


def gaze_boxes_file(*, study: Study, kind: str) -> bytes | None:
    """The stored ``"coco"`` JSON or ``"masks"`` zip, or None when not computed yet."""
    name = _media_names(study)[0 if kind == "coco" else 1]
    return storage.read_bytes(name) if default_storage.exists(name) else None


def gaze_boxes_write(*, study: Study, out: Path, params=None) -> dict:
    """Write ``out/boxes.json`` (COCO) and ``out/masks/<image>.png``; returns the counts."""
    from segmentation.engine.detection import write_coco, write_mask

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
    from segmentation.engine.detection import timing_report

    labels = annotation_selectors.image_label_table(study=study)
    out = timing_report(labels).to_dict()
    visits = annotation_selectors.image_visit_table(study=study)
    out["per_image"] = timing_report(visits).to_dict()["per_mode"]
    return out
