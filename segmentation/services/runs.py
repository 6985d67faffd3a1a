"""Runs: per-recording estimates, runs, ground truth and reports.

The service that runs a job does all its I/O: it loads frames and gaze into arrays, calls the
engine (:mod:`segmentation.engine`), writes arrays and metrics back and keeps the run's
status and progress current. Celery tasks and management commands only call these functions.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation.models import Recording
from crowd import selectors as crowd_selectors
from crowd import storage
from crowd.celery import enqueue_on_commit
from crowd.models import Sequence, Study

from .. import parameters as params_mod
from ..jobs import job_claim, job_fail
from ..models import GroundTruth, ObserverEstimate, PreparedSequence, Report, Run
from ..versioning import code_version, parameters_key
from .run_inputs import (  # noqa: F401 (part of this module's names, as before the split)
    _engine_accuracy_deg,
    _json_safe,
    _observer_summary,
    finished_recordings,
    observer_name,
    recording_gaze,
    sequence_truth,
)

log = logging.getLogger(__name__)


# --- Loading what the engine needs ------------------------------------------------------------

def sequence_frames(sequence: Sequence) -> np.ndarray:
    """The sequence's frames, (T, H, W) or (T, H, W, 3), as imported."""
    return crowd_selectors.sequence_frames(sequence)


def sequence_parameters(sequence: Sequence, overrides: dict | None = None) -> dict:
    """Run parameters for ``sequence``: defaults, then ``overrides``, then "auto" resolved.

    ``px_per_degree="auto"`` becomes the median image pixels per degree of the sequence's
    recordings whose display geometry is known (superpixels are about one degree across),
    or, when none is known, a guess from the frame size
    (:func:`segmentation.engine.guess_px_per_degree`).
    ``px_per_degree_source`` says which, so that the results page can tell the user.
    """
    params = params_mod.resolve(overrides)
    if params["px_per_degree"] == "auto":
        known = [v for v in (annotation_selectors.recording_image_px_per_degree(r)
                             for r in Recording.objects.filter(sequence=sequence)) if v]
        if known:
            params["px_per_degree"] = round(float(np.median(known)) * 2) / 2
            params["px_per_degree_source"] = "the recordings' screen geometry"
        else:
            from segmentation.engine import guess_px_per_degree

            params["px_per_degree"] = guess_px_per_degree((sequence.height, sequence.width))
            params["px_per_degree_source"] = (
                "guessed from the frame size: no recording gave its screen geometry")
    else:
        params["px_per_degree_source"] = "given"
    return params


# --- Cached per-sequence and per-recording work -----------------------------------------------

def prepared_get_or_compute(*, sequence: Sequence, parameters: dict, frames=None, progress=None):
    """Superpixels and features of ``sequence`` for these parameters, computed at most once.

    Returns the row and the engine's :class:`PreparedFrames`.
    """
    from segmentation import engine

    p = params_mod.subset(parameters, params_mod.PREPARE_KEYS)
    key = parameters_key(p, stage="prepare")
    row = PreparedSequence.objects.filter(sequence=sequence, key=key).first()
    if row is not None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "prepared.npz"
            local.write_bytes(storage.read_bytes(row.file.name))
            return row, engine.load_prepared(local)

    frames = sequence_frames(sequence) if frames is None else frames
    started = time.perf_counter()
    prepared = engine.prepare_sequence(
        frames,
        px_per_degree=p["px_per_degree"],
        features=p["features"],
        temporal=p["temporal"],
        rng=p["seed"],
        progress=progress,
    )
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        local = engine.save_prepared(prepared, Path(tmp) / "prepared.npz")
        name = storage.save_bytes(f"prepared/seq{sequence.pk}-{key}.npz", local.read_bytes())
    # Two workers may prepare the same sequence at once: the unique key keeps one row.
    row, _ = PreparedSequence.objects.get_or_create(
        sequence=sequence,
        key=key,
        defaults=dict(parameters=p, code_version=code_version(), file=name,
                      n_superpixels=prepared.n_superpixels, seconds=seconds),
    )
    return row, prepared


def _estimate_arrays(estimate) -> dict[str, np.ndarray]:
    return {
        "scores": np.asarray(estimate.scores, np.float32),
        "gazed": np.asarray(estimate.gazed, bool),
        "gaze_points": np.asarray(estimate.gaze_points, np.float32),
        # Own-data compliance (statistics and reasons), as JSON text: no pickles in storage.
        "compliance": np.array(json.dumps(estimate.compliance or {})),
    }


def _estimate_from_arrays(arrays: dict[str, np.ndarray], *, observer: str,
                          accuracy_deg: float | None = None):
    from segmentation import engine

    return engine.EstimateResult(
        scores=arrays["scores"].astype(float),
        gazed=arrays["gazed"].astype(bool),
        gaze_points=arrays["gaze_points"].astype(float),
        observer=observer,
        compliance=json.loads(str(arrays["compliance"])) if "compliance" in arrays else {},
        accuracy_deg=accuracy_deg,
    )


def estimate_get_or_compute(*, recording: Recording, parameters: dict, prepared_row=None,
                            prepared=None, frames=None):
    """The recording's per-superpixel estimate, computed at most once per parameters/code.

    Returns the row and the engine's ``EstimateResult``.
    """
    from segmentation import engine

    p = params_mod.subset(parameters, params_mod.ESTIMATE_KEYS)
    key = parameters_key(p, stage="estimate")
    # Read at every run (a later drift check may change it), not part of the stored estimate's
    # key: with the engine's defaults (spatial_accuracy 0) the scores do not depend on it; the
    # run's pool and alignment use it (segment).
    accuracy = _engine_accuracy_deg(recording)
    row = ObserverEstimate.objects.filter(recording=recording, key=key).first()
    if row is not None:
        arrays = storage.load_npz(row.file.name)
        return row, _estimate_from_arrays(arrays, observer=observer_name(recording),
                                          accuracy_deg=accuracy)

    sequence = recording.sequence
    if prepared is None:
        frames = sequence_frames(sequence) if frames is None else frames
        prepared_row, prepared = prepared_get_or_compute(
            sequence=sequence, parameters=parameters, frames=frames)
    elif frames is None:
        frames = sequence_frames(sequence)
    gaze = recording_gaze(recording)
    started = time.perf_counter()
    estimate = engine.observer_estimate(prepared, frames, gaze, estimate=p["estimate"],
                                        accuracy_deg=accuracy)
    seconds = time.perf_counter() - started
    name = storage.save_npz(f"estimates/rec{recording.pk}-{key}.npz", **_estimate_arrays(estimate))
    n_points = int(np.isfinite(np.asarray(estimate.gaze_points)).all(axis=1).sum())
    row, _ = ObserverEstimate.objects.get_or_create(
        recording=recording,
        key=key,
        defaults=dict(prepared=prepared_row, file=name, n_gaze_points=n_points, seconds=seconds),
    )
    return row, estimate


def recording_estimate(*, recording_id: int) -> ObserverEstimate | None:
    """Compute a finished recording's estimate (the task run when a recording finishes).

    Not for a sequence whose runs are chunked (:func:`.chunked_runs.chunkable`): returns None
    and its runs compute the estimates chunk by chunk. Then, if the sequence has reached its study's quorum and has no run yet, start one.
    """
    recording = Recording.objects.select_related("sequence__study", "observer").get(pk=recording_id)
    if recording.status != Recording.Status.FINISHED:
        log.info("recording %s is %s: no estimate", recording_id, recording.status)
        return None
    from . import chunked_runs

    sequence = recording.sequence
    parameters = sequence_parameters(sequence)
    row = None
    if chunked_runs.chunkable(parameters, sequence.n_frames, sequence.height * sequence.width):
        # A sequence its runs cut into chunks: the estimate alone would prepare the whole
        # sequence in this one process (13.5 MB a 854x480 frame, the memory chunked runs
        # avoid); the run computes every recording's estimate chunk by chunk instead.
        log.info("recording %s: sequence %s is chunked, its estimate comes with the run",
                 recording_id, sequence.pk)
    else:
        row, _ = estimate_get_or_compute(recording=recording, parameters=parameters)
    sequence_start_run_at_quorum(sequence=sequence)
    return row


@transaction.atomic
def sequence_start_run_at_quorum(*, sequence: Sequence) -> Run | None:
    """Start a run when ``sequence`` reaches its study's quorum of finished recordings.

    Only the first time: later recordings do not start runs by themselves (a coordinator
    re-runs on request), so a busy study does not queue a run per recording.
    """
    sequence = Sequence.objects.select_for_update().select_related("study").get(pk=sequence.pk)
    if finished_recordings(sequence).count() < sequence.study.quorum:
        return None
    if Run.objects.filter(sequence=sequence).exists():
        return None
    return run_create(study=sequence.study, sequence=sequence, trigger=Run.Trigger.QUORUM)


# --- Runs --------------------------------------------------------------------------------------

def run_create(*, study: Study, sequence: Sequence, requested_by=None,
               parameters: dict[str, Any] | None = None,
               trigger: str = Run.Trigger.REQUEST) -> Run:
    """Create a queued run and enqueue its job once the transaction commits."""
    if sequence.study_id != study.pk:
        raise ValueError(f"sequence {sequence.pk} does not belong to study {study.pk}")
    resolved = sequence_parameters(sequence, parameters)
    run = Run.objects.create(study=study, sequence=sequence, requested_by=requested_by,
                             trigger=trigger, parameters=resolved, code_version=code_version())
    enqueue_on_commit("segmentation.run_execute", run.pk)
    return run


@transaction.atomic
def study_run_create(*, study: Study, sequence: Sequence | None = None, requested_by=None,
                     parameters: dict[str, Any] | None = None) -> list[Run]:
    """One run per sequence of ``study`` (or just ``sequence``) that has finished recordings."""
    sequences = [sequence] if sequence is not None else list(study.sequences.order_by("id"))
    if not sequences:
        raise ValueError(f"study {study.pk} has no sequences to run")
    return [run_create(study=study, sequence=s, requested_by=requested_by, parameters=parameters)
            for s in sequences]


def run_retry(*, run: Run) -> Run:
    """Queue a failed run again (same parameters, current code)."""
    if run.status != Run.Status.FAILED:
        raise ValueError(f"run {run.pk} is {run.status}; only a failed run can be retried")
    from .chunked_runs import chunk_folder_remove

    chunk_folder_remove(run.pk)  # a chunked run starts again from a clean folder
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, error="", progress=0.0,
                                         stage="", code_version=code_version())
    enqueue_on_commit("segmentation.run_execute", run.pk)
    run.refresh_from_db()
    return run


class _Progress:
    """Maps engine stages onto the run's 0..1 progress and writes it, at most twice a second.

    The engine reports each sub-stage (superpixels, then features; then each method) from 0
    to 1, so each gets an equal share of its stage's span, and the bar never goes back: the
    pages derive an ETA from it. Frame-by-frame sub-stages also say how many frames are done.
    """

    # Share of the whole run given to each stage (the estimate is per recording).
    SPANS = {"prepare": (0.0, 0.35), "estimates": (0.35, 0.6), "segment": (0.6, 0.9),
             "report": (0.9, 1.0)}
    FRAME_STAGES = ("superpixels", "features", "autoencoder", "backbone")

    def __init__(self, run_id: int, *, n_frames: int = 0, methods: tuple[str, ...] = ()):
        self.run_id = run_id
        self.n_frames = n_frames
        # Sub-stages in the order the engine reports them; the autoencoder or backbone
        # features take the slot of "features".
        self.substages = {"prepare": ("superpixels", "features"), "segment": methods}
        self.last = 0.0
        self.done = 0.0

    def stage(self, name: str, fraction: float = 0.0, *, detail: str = "") -> None:
        lo, hi = self.SPANS[name]
        fraction = min(max(fraction, 0.0), 1.0)
        text = detail
        if detail in self.FRAME_STAGES and self.n_frames:
            text = f"{detail} {round(fraction * self.n_frames)}/{self.n_frames} frames"
        now = time.monotonic()
        if fraction not in (0.0, 1.0) and now - self.last < 0.5:
            return  # a (sub-)stage's start and end are always written
        subs = self.substages.get(name) or ()
        if detail and subs:
            slot = subs.index(detail) if detail in subs else len(subs) - 1
            fraction = (slot + fraction) / len(subs)
        self.last = now
        self.done = max(self.done, lo + (hi - lo) * fraction)
        Run.objects.filter(pk=self.run_id).update(
            stage=f"{name}: {text}" if text else name, progress=round(self.done, 4))

    def engine(self, name: str):
        return lambda sub, fraction: self.stage(name, fraction, detail=sub)


def run_execute(*, run_id: int) -> Run:
    """Run the whole job of ``run_id``: estimates, pooling, EEL, ground truth, report.

    Idempotent: a run that already succeeded is left alone; one redelivered after a worker
    died is executed again and overwrites the same files and rows, so there is one result.
    A sequence of two chunks or more (``chunk_frames``) with parameters the chunked engine
    path computes is cut into chunks run as many tasks (:mod:`.chunked_runs`): this call then
    only queues the first step.
    Errors in the data mark the run failed with the message (the coordinator may retry);
    database errors propagate so the task can retry.
    """
    from . import chunked_runs

    current = Run.objects.get(pk=run_id)
    if current.status == Run.Status.RUNNING and chunked_runs.under_way(current):
        # A redelivered start of a chunked run whose chunk tasks are already queued.
        return current
    run = job_claim(Run, run_id)
    if run is None:
        return Run.objects.get(pk=run_id)
    p = run.parameters
    if chunked_runs.chunkable(p, run.sequence.n_frames, run.sequence.height * run.sequence.width):
        chunked_runs._guarded(run.pk, lambda: chunked_runs.run_start_chunked(run))
        run.refresh_from_db()
        return run
    main = p.get("method", "eel")
    methods = (main, *(m for m in params_mod.METHODS if m != main)) if p.get("compare") else (main,)
    progress = _Progress(run.pk, n_frames=run.sequence.n_frames, methods=methods)
    try:
        _execute(run, progress)
    except Exception as exc:
        from django.db import DatabaseError

        if isinstance(exc, DatabaseError):
            raise
        log.exception("run %s failed", run.pk)
        job_fail(Run, run.pk, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}")
    run.refresh_from_db()
    return run


def _execute(run: Run, progress: _Progress) -> None:
    from segmentation import engine

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sequence = Sequence.objects.select_related("study").get(pk=run.sequence_id)
    recordings = list(finished_recordings(sequence))
    if not recordings:
        raise ValueError(f"sequence {sequence.name!r} has no finished recording to learn from")
    p = run.parameters
    frames = sequence_frames(sequence)

    progress.stage("prepare")
    t = time.perf_counter()
    prepared_row, prepared = prepared_get_or_compute(
        sequence=sequence, parameters=p, frames=frames, progress=progress.engine("prepare"))
    timings["prepare"] = time.perf_counter() - t

    t = time.perf_counter()
    estimates = []
    for i, recording in enumerate(recordings):
        progress.stage("estimates", i / len(recordings), detail=f"{i}/{len(recordings)}")
        _, estimate = estimate_get_or_compute(recording=recording, parameters=p,
                                              prepared_row=prepared_row, prepared=prepared,
                                              frames=frames)
        estimates.append(estimate)
    timings["estimates"] = time.perf_counter() - t

    progress.stage("segment")
    t = time.perf_counter()
    pool = None if p["pool"] == "default" else p["pool"]
    result = engine.segment(prepared, frames, estimates, method=p["method"], pool=pool,
                              rng=p["seed"], n_rounds=p["rounds"], n_bags=p["bags"],
                              progress=progress.engine("segment"))
    timings["segment"] = time.perf_counter() - t
    for name, seconds in (result.timings or {}).items():
        timings[f"segment.{name}"] = float(seconds)

    progress.stage("report")
    t = time.perf_counter()
    truth = sequence_truth(sequence)
    metrics = _metrics(prepared, frames, estimates, result, truth, p)
    observers = _observer_summary(result, recordings)
    # The map as 16-bit levels (the engine's result already holds exactly these values, so the
    # stored masks equal the map cut at the recorded threshold).
    gt_name = storage.save_npz(f"ground_truth/run{run.pk}.npz",
                               scores=engine.quantise(result.scores),
                               masks=np.asarray(result.masks, np.uint8))
    sp_name = storage.save_npz(f"ground_truth/run{run.pk}-superpixels.npz",
                               labels=prepared.labels.astype(np.int32),
                               sp_scores=np.asarray(result.sp_scores, np.float32))
    gaze = [recording_gaze(r) for r in recordings]
    report_folder, report_files = _write_report(run, sequence, frames, prepared, estimates,
                                                result, gaze, truth)
    timings["report"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    with transaction.atomic():
        GroundTruth.objects.update_or_create(
            run=run, defaults=dict(file=gt_name, superpixel_file=sp_name,
                                   threshold=float(result.threshold),
                                   threshold_rule=result.threshold_rule,
                                   threshold_details=_json_safe(result.threshold_details)))
        Report.objects.update_or_create(
            run=run, defaults=dict(folder=report_folder, files=report_files,
                                   scored_frames=truth[1] if truth else []))
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.SUCCEEDED, progress=1.0, stage="done", timings=timings,
            metrics=metrics, observers=observers, finished_at=timezone.now())


def _metrics(prepared, frames, estimates, result, truth, p) -> dict:
    """What the run delivers, scored on the frames that have a reference mask.

    Per method: the delivered masks' ``dice`` and ``iou`` (cut without the reference at
    ``threshold``), then the ranking and oracle figures ``auc``, ``f1`` (max-F1 over
    thresholds chosen with the reference), ``f1_fpr5``, ``dice_at`` other cuts and the score
    map's ``calibration_error``. ``frames_scored`` says how many frames had a reference. With
    ``compare``, the baselines too, each cut by the same rule.
    """
    if truth is None:
        return {}
    from segmentation import engine

    masks, frame_idx = truth

    def score(res):
        return _json_safe(engine.evaluate(res, masks, frames=frame_idx))

    methods = {result.method: score(result)}
    if p.get("compare"):
        for method in params_mod.METHODS:
            if method not in methods:
                # The run's pool, fitted once: baselines see the same pooled estimate.
                other = engine.segment(prepared, frames, estimates, method=method,
                                         pool=result.pool, refit_pool=False, rng=p["seed"],
                                         n_rounds=p["rounds"], n_bags=p["bags"])
                methods[method] = score(other)
    return {"methods": methods, "frames_scored": len(frame_idx),
            "frames_total": int(result.scores.shape[0]),
            "delivered": {"method": result.method, "threshold": float(result.threshold),
                          "threshold_rule": result.threshold_rule}}


def _write_report(run, sequence, frames, prepared, estimates, result, gaze, truth):
    """Write the per-annotator report (and ROC with truth) into media; returns folder, files."""
    from segmentation import engine

    folder = f"reports/run{run.pk}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        engine.write_run_report(
            out, prepared=prepared, estimates=estimates, result=result, frames=frames,
            truth=truth, gaze=gaze, name=sequence.name,
        )
        files = sorted(p.name for p in out.iterdir() if p.is_file())
        for name in files:
            storage.save_bytes(f"{folder}/{name}", (out / name).read_bytes())
    return folder, files
