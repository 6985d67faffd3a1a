"""Reads of the segmentation app: runs, and the fixations, gaze boxes and labelling times of
image collections."""

from __future__ import annotations

import numpy as np
import pandas as pd

from annotation import selectors as annotation_selectors
from crowd import selectors as crowd_selectors
from crowd import storage
from crowd.models import Sequence, Study, StudyMembership
from crowd.selectors import NotFound, study_get_for_user
from segmentation.engine import DEFAULT_PX_PER_DEGREE, observer_flags

from .compare import frame_agreement, worst_frames
from .export_service import ground_truth_masks
from .fixations import DISPERSION_DEG, MIN_FIXATION_MS, idt_fixations
from .models import GazeBoxesJob, GroundTruthVersion, Run

READERS = (StudyMembership.Role.COORDINATOR, StudyMembership.Role.RESEARCHER)


def run_latest_succeeded(*, sequence: Sequence) -> Run | None:
    """The newest successful run of ``sequence`` (its ground truth is the current one)."""
    return (Run.objects.filter(sequence=sequence, status=Run.Status.SUCCEEDED)
            .select_related("ground_truth", "report", "sequence").order_by("-finished_at", "-id")
            .first())


def study_latest_runs(*, study: Study) -> list[tuple[Sequence, Run | None]]:
    """Each sequence of ``study`` with its newest successful run (None when it has none)."""
    return [(s, run_latest_succeeded(sequence=s)) for s in study.sequences.order_by("id")]


def runs_for_study(*, study: Study):
    return Run.objects.filter(study=study).select_related("sequence", "ground_truth").order_by("-created_at", "-id")


def run_of_study(*, study: Study, run_id: int) -> Run | None:
    """Run ``run_id`` if it belongs to ``study`` (whose access the caller has checked)."""
    return (Run.objects.filter(pk=run_id, study=study)
            .select_related("sequence", "sequence__study", "report", "ground_truth").first())


def run_get_for_user(*, user, study_id: int, run_id: int, roles=READERS) -> Run:
    """Run ``run_id`` of study ``study_id`` if ``user`` may see it with one of ``roles``.

    NotFound (404) for a non-member or a run of another study, Forbidden (403) for a role not
    in ``roles``: the crowd selectors' errors, answered by pages and API alike.
    """
    study, _ = study_get_for_user(user=user, study_id=study_id, roles=roles)
    run = run_of_study(study=study, run_id=run_id)
    if run is None:
        raise NotFound(f"no run {run_id} in study {study_id}")
    return run


#: Report figures shown first on the results page, in this order; other figures follow by name.
_FIGURE_ORDER = ("roc.png", "variance.png", "observers.png", "auc_vs_observers.png", "maps.png")


def run_summary(*, run: Run) -> dict:
    """What the results page shows of a run besides the viewer, as plain values.

    ``figures`` and ``report_files`` (report file names, figures in display order),
    ``weights`` (per observer, highest first: ``(name, weight, flagged, reason, note)``),
    ``scale_guessed`` (the pixels per degree were guessed from the frame size),
    ``metrics``, ``method_metrics`` (the run's own method first), ``not_compared``
    (``(method, reason)`` of baselines not scored), ``parameters`` (sorted),
    ``other_runs`` (the sequence's ten newest other runs).
    """
    report = getattr(run, "report", None)
    files = list(report.files) if report else []
    figures = [f for f in _FIGURE_ORDER if f in files]
    figures += sorted(f for f in files if f.endswith(".png") and f not in figures)
    observers = run.observers or {}
    # The same statement of flags as the report's (segmentation.engine.observer_flags).
    said = observer_flags(observers)
    weights = sorted((observers.get("weights") or {}).items(), key=lambda kv: -kv[1])
    parameters = run.parameters or {}
    return {
        "figures": figures,
        "report_files": [f for f in files if not f.endswith(".png")],
        "weights": [(name, w, said[name]["flagged"], said[name]["reason"], said[name]["note"])
                    for name, w in weights],
        "scale_guessed": str(parameters.get("px_per_degree_source", "")).startswith("guessed"),
        "metrics": run.metrics or {},
        "method_metrics": sorted(((run.metrics or {}).get("methods") or {}).items(),
                                 key=lambda kv: kv[0] != parameters.get("method")),
        "not_compared": _not_compared((run.metrics or {}).get("compare_skipped")),
        "parameters": sorted(parameters.items()),
        "other_runs": Run.objects.filter(sequence=run.sequence).exclude(pk=run.pk).order_by("-id")[:10],
    }


def _not_compared(skipped) -> list[tuple[str, str]]:
    """``(method, reason)`` of each baseline a run did not score (a chunked run: ``vilarino``
    needs the whole sequence); runs before the per-method form said it in one sentence."""
    if not skipped:
        return []
    if isinstance(skipped, dict):
        return sorted((str(m), str(reason)) for m, reason in skipped.items())
    return [("baselines", str(skipped))]


# --- ground-truth versions and comparisons (the review tools) ---------------------------------


def ground_truth_versions(*, sequence: Sequence):
    """The hand-corrected versions of ``sequence``, oldest first."""
    return (GroundTruthVersion.objects.filter(sequence=sequence)
            .select_related("run", "base", "editor").order_by("number"))


def ground_truth_version(*, sequence: Sequence, number: int) -> GroundTruthVersion:
    """Version ``number`` of ``sequence``; NotFound (404) naming the versions there are."""
    version = ground_truth_versions(sequence=sequence).filter(number=number).first()
    if version is None:
        count = GroundTruthVersion.objects.filter(sequence=sequence).count()
        raise NotFound(f"sequence {sequence.name!r} has no ground-truth version {number} "
                       f"({'versions 1..' + str(count) if count else 'no corrected version yet'})")
    return version


def ground_truth_current(*, sequence: Sequence) -> tuple[Run | None, GroundTruthVersion | None]:
    """The sequence's current ground truth: the newest of its newest successful run and its
    newest corrected version, as ``(run, None)`` or ``(None, version)``; ``(None, None)``."""
    run = run_latest_succeeded(sequence=sequence)
    version = ground_truth_versions(sequence=sequence).order_by("-number").first()
    if version is not None and (run is None or run.finished_at is None
                                or version.created_at >= run.finished_at):
        return None, version
    return run, None


def masks_compare(*, run: Run, threshold: float | None = None, version: int | None = None,
                  against: int | None = None) -> dict:
    """Per-frame agreement of the run's masks at ``threshold`` (None: its export threshold) or
    of version ``version``, with the reference masks (``against`` None) or version ``against``.

    ``{"left", "right", "frames": [{"frame", "tp", "fp", "fn", "dice"}], "worst", "mean_dice"}``;
    only frames the right side has a mask for (every frame for a version). NotFound when the
    right side has no masks.
    """
    sequence = run.sequence
    if version is not None:
        left_version = ground_truth_version(sequence=sequence, number=version)
        predicted, left = storage.load_npz(left_version.file.name)["masks"], f"version {version}"
    else:
        ground_truth = getattr(run, "ground_truth", None)
        if ground_truth is None:
            raise NotFound(f"run {run.pk} has no ground truth")
        t = ground_truth.export_threshold if threshold is None else threshold
        predicted = ground_truth_masks(ground_truth=ground_truth, threshold=t)[1]
        left = f"run {run.pk} at {t:.4f}"
    if against is not None:
        right_version = ground_truth_version(sequence=sequence, number=against)
        truth = storage.load_npz(right_version.file.name)["masks"]
        frames, right = list(range(truth.shape[0])), f"version {against}"
    else:
        found = crowd_selectors.sequence_masks(sequence)
        if found is None:
            raise NotFound(f"sequence {sequence.name!r} has no reference masks to compare with")
        frames, truth = [int(f) for f in found[0]], found[1]
        right = "reference masks"
    rows = frame_agreement(predicted, truth, frames)
    return {"left": left, "right": right, "frames": rows, "worst": worst_frames(rows),
            "mean_dice": float(np.mean([r["dice"] for r in rows])) if rows else None}


# --- image collections: fixations, gaze boxes, labelling times ----------------------------------


def image_keys(*, study: Study) -> list[tuple]:
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
    per degree (:data:`segmentation.engine.DEFAULT_PX_PER_DEGREE` without display geometry).
    """
    keys = {(s.pk, k): key for s, k, key in image_keys(study=study)}
    rows = []
    for sequence in study.sequences.order_by("id"):
        for recording in annotation_selectors.finished_recordings(sequence=sequence):
            ppd = annotation_selectors.recording_image_px_per_degree(recording) or DEFAULT_PX_PER_DEGREE
            samples = annotation_selectors.recording_samples(recording)
            for k in np.unique(samples[:, 1]).astype(int) if len(samples) else []:
                if (sequence.pk, k) not in keys:
                    continue
                on_image = samples[samples[:, 1] == k][:, [0, 2, 3]]
                for t0, fx, fy, dur in idt_fixations(on_image, dispersion_px=dispersion_deg * ppd,
                                                     min_duration_ms=min_duration_ms):
                    rows.append((keys[(sequence.pk, k)], recording.observer.username, t0, fx, fy, dur))
    return pd.DataFrame(rows, columns=["image", "observer", "t_ms", "x", "y", "duration_ms"])


def gaze_boxes_media_names(*, study: Study) -> tuple[str, str]:
    """Media names of the study's gaze boxes: the COCO JSON and the zip of PNG masks."""
    return f"gaze_boxes/{study.pk}/boxes.json", f"gaze_boxes/{study.pk}/masks.zip"


def gaze_boxes_latest(*, study: Study) -> GazeBoxesJob | None:
    """The study's most recent gaze-boxes job, or None."""
    return GazeBoxesJob.objects.filter(study=study).order_by("-id").first()


def gaze_boxes_exist(*, study: Study) -> bool:
    """Whether gaze boxes are stored for the study (without reading them)."""
    return storage.exists(gaze_boxes_media_names(study=study)[0])


def gaze_boxes_file(*, study: Study, kind: str) -> bytes | None:
    """The stored ``"coco"`` JSON or ``"masks"`` zip, or None when not computed yet."""
    name = gaze_boxes_media_names(study=study)[0 if kind == "coco" else 1]
    return storage.read_bytes(name) if storage.exists(name) else None


def labelling_time_report(*, study: Study) -> dict:
    """Time per label by mode (n, mean, median, std, 95% CI) and what gaze saves, plus time per
    image by mode; through :func:`segmentation.engine.detection.timing_report`.

    ``{"confidence", "reference", "per_mode": {mode: {...}}, "savings_percent": {mode: %},
    "per_image": {...same for image visits...}}``; empty ``per_mode`` without labels.
    """
    # Imported here: the detection library takes seconds to import (see gaze_boxes_compute).
    from segmentation.engine.detection import timing_report

    labels = annotation_selectors.image_label_table(study=study)
    out = timing_report(labels).to_dict()
    visits = annotation_selectors.image_visit_table(study=study)
    out["per_image"] = timing_report(visits).to_dict()["per_mode"]
    return out


def labelling_section(*, study: Study) -> dict:
    """The image-collection part of the study dashboard: time per label by mode, gaze boxes."""
    report = labelling_time_report(study=study)
    modes = [{"mode": m, **row, "per_image": report["per_image"].get(m, {}).get("mean"),
              "saving": report["savings_percent"].get(m)} for m, row in report["per_mode"].items()]
    job = gaze_boxes_latest(study=study)
    return {"modes": modes, "confidence": report["confidence"],
            "boxes_ready": gaze_boxes_exist(study=study),
            "boxes_job": job, "boxes_pending": job is not None and not job.is_finished}
