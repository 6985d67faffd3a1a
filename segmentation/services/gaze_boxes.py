"""Gaze boxes of image collections: compute, store, queue as a job, run the job, write to a folder.

The platform side of ``docs/gaze_boxes.md``: the finished recordings of an image collection
(``Study.Kind.IMAGES``; one Sequence per uploaded collection, frame k = image k) are turned into
fixations (:func:`segmentation.selectors.study_fixations`), pooled over observers per image, and
given to the engine's :func:`segmentation.engine.detection.labels.label_images` (heat map,
threshold, refinement with the image). Results go to media storage as COCO JSON and a zip of
PNG masks; :func:`gaze_boxes_write` writes the same to a folder (``manage.py gaze_boxes``).
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
from django.db import DatabaseError, transaction
from django.utils import timezone

from annotation.models import Recording
from crowd import storage
from crowd.celery import enqueue_on_commit
from crowd.images import mask_png
from crowd.models import Study
from crowd.selectors import sequence_frames

from .. import selectors
from ..jobs import job_claim, job_fail
from ..models import GazeBoxesJob

__all__ = ["GazeBoxes", "gaze_boxes_compute", "gaze_boxes_execute", "gaze_boxes_request",
           "gaze_boxes_store", "gaze_boxes_write"]


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
    # The engine's detection library takes seconds to import (scikit-learn, the refinement):
    # imported when a job runs, not when the web server loads this module.
    from segmentation.engine.detection import (
        GazeBoxParams,
        ImageInfo,
        coco_from_boxes,
        label_images,
    )

    _check_collection(study)
    fixations = selectors.study_fixations(study=study)
    if fixations.empty:
        raise _no_fixation(study)
    params = params or GazeBoxParams()
    images, infos, frames_of = {}, [], {}
    for sequence, k, key in selectors.image_keys(study=study):
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


def gaze_boxes_store(*, study: Study, params=None, progress=None) -> dict:
    """Compute the gaze boxes and store them in media (replacing earlier ones).

    Returns ``{"images", "boxes", "fixations", "coco", "masks"}`` (counts and media names).
    """
    result = gaze_boxes_compute(study=study, params=params, progress=progress)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, mask in result.masks.items():
            archive.writestr(f"masks/{name}.png", mask_png(mask))
    coco_name, zip_name = selectors.gaze_boxes_media_names(study=study)
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
        enqueue_on_commit("segmentation.gaze_boxes_execute", job.pk)
    job.refresh_from_db()  # with eager Celery (no broker) it has run at the commit above
    return job, True


def gaze_boxes_execute(*, job_id: int) -> GazeBoxesJob:
    """Run a gaze-boxes job: compute, store, record the counts (idempotent: a job that already
    succeeded is left alone; a redelivered one computes again and replaces the same files).

    Bad data (no fixation after all) marks the job failed with the message; database errors
    propagate so that the task retries.
    """
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


def gaze_boxes_write(*, study: Study, out: Path, params=None) -> dict:
    """Write ``out/boxes.json`` (COCO) and ``out/masks/<image>.png``; returns the counts."""
    from segmentation.engine.detection import write_coco  # see gaze_boxes_compute

    result = gaze_boxes_compute(study=study, params=params)
    out = Path(out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    write_coco(out / "boxes.json", result.coco)
    for name, mask in result.masks.items():
        (out / "masks" / f"{name}.png").write_bytes(mask_png(mask))
    return {"images": len(result.coco["images"]), "boxes": len(result.coco["annotations"]),
            "fixations": len(result.fixations)}
