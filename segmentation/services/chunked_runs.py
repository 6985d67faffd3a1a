"""Chunked runs: one run of a long sequence as many Celery tasks, on as many workers.

A run whose sequence has at least two chunks of ``chunk_frames`` frames (and parameters the
chunked engine path computes: :func:`chunkable`) goes through the engine's chunked steps
(:mod:`segmentation.engine.chunks`) instead of one ``run_execute``::

    run_execute --> prepare x n --> plan --> estimate x n --> train --> fit x b --> paint x n --> finalize
                    (parallel)      (one)    (parallel)       (one)     (parallel)  (parallel)    (one)

Each parallel step is one ``segmentation.run_chunk`` task per chunk (``fit``: per booster, one
per boosted method and bag, its index in place of the chunk's); each gather step one
``segmentation.run_gather`` task. ``train`` draws every booster's training sample (one
generator, the whole-sequence path's order) and writes them, so the fits can run anywhere and
still give the whole path's masks. With ``compare`` and a reference, the paint tasks also
paint the chunked baselines (``probability``, ``el``, ``eel``) and ``finalize`` scores each
with its own cut; ``vilarino`` needs the whole sequence's frames and is skipped, in words.

The fan-in is a barrier on the run's row rather than a Celery chord: a chord needs a result
backend, and the embedded default (``manage.py serve``) has none.
The chunk task that finds, under the row's lock, every chunk of its step done moves the run's
``stage`` on and queues the gather step (on commit); a duplicate or late task of a step the run
has left finds another stage and does nothing. Every step writes its arrays under fixed names
(temporary file, atomic rename) and a chunk whose output exists is not computed again, so a
redelivered or retried task gives the same files: one result, as docs/reliability.md asks.

The chunk arrays live in ``MEDIA_ROOT/chunks/run<id>/``: the workers that share a run must see
the same folder (one machine, or a shared file system). The folder is removed when the run
succeeds (its ground truth is stored like any run's) and when a failed run is retried.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from crowd import storage
from crowd.celery import enqueue_on_commit
from crowd.models import Sequence

from .. import parameters as params_mod
from ..jobs import job_fail
from ..models import GroundTruth, Report, Run

log = logging.getLogger(__name__)

#: Steps in order; the parallel ones run per chunk, the others once.
PARALLEL = ("prepare", "estimate", "fit", "paint")
NEXT = {"prepare": "plan", "plan": "estimate", "estimate": "train", "train": "fit",
        "fit": "paint", "paint": "finalize"}
#: Share of the run's progress bar at the start and end of each step (the superpixel pass
#: dominates, painting the pixel maps comes next).
SPANS = {"prepare": (0.02, 0.5), "plan": (0.5, 0.52), "estimate": (0.52, 0.62),
         "train": (0.62, 0.63), "fit": (0.63, 0.7), "paint": (0.7, 0.96), "finalize": (0.96, 1.0)}
#: What a parallel step's tasks are, for the progress text.
UNITS = {"fit": "boosters"}
#: Why the baselines the chunked path cannot paint are not scored (``metrics.compare_skipped``).
NOT_CHUNKED_BASELINES = {
    "vilarino": "not scored in a chunked run: its SVM trains and scores on the whole "
                "sequence's grey frames at once, which the chunked path never holds in memory"}


def chunk_folder(run_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "chunks" / f"run{int(run_id)}"


def chunk_frames(parameters: dict) -> int:
    """The run's chunk size (runs created before the parameter existed: the default)."""
    return int(parameters.get("chunk_frames") or params_mod.DEFAULTS["chunk_frames"])


def chunkable(parameters: dict, n_frames: int, frame_pixels: int) -> bool:
    """Whether a run goes the chunked way: a sequence of two chunks or more and of at least
    ``settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS`` pixels, and parameters that the chunked engine
    path computes (hand features, per-frame superpixels, the default estimate,
    eel/el/probability). Other runs keep the whole-sequence path, which also scores the
    ``vilarino`` baseline and caches superpixels and estimates for later runs (a chunked run
    does neither), so sequences that fit one worker's memory keep them."""
    from segmentation.engine import CHUNKED_METHODS

    if n_frames * frame_pixels < settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS:
        return False
    return (n_frames >= 2 * chunk_frames(parameters) and parameters.get("features", "hand") == "hand"
            and not parameters.get("temporal") and parameters.get("estimate") == "default"
            and parameters.get("method", "eel") in CHUNKED_METHODS)


def _stage(run: Run) -> str:
    return (run.stage or "").split(":", 1)[0]


def under_way(run: Run) -> bool:
    """Whether ``run`` is a chunked run past its start (its steps queue each other)."""
    return _stage(run) in ("start", *NEXT, "finalize") and (chunk_folder(run.pk) / "layout.json").is_file()


def _frames(sequence: Sequence):
    from crowd import selectors as crowd_selectors

    return crowd_selectors.sequence_frames(sequence)  # memory-mapped: chunks read page by page


def _guarded(run_id: int, work) -> None:
    """Run ``work``; a data error fails the run with its message, a database error propagates
    (the task retries)."""
    try:
        work()
    except DatabaseError:
        raise
    except Exception as exc:
        log.exception("chunked run %s failed", run_id)
        job_fail(Run, run_id, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}")


def _advance(run_id: int, expected: str, next_step: str, *, stage_text: str = "") -> bool:
    """Under the row's lock: move the run from ``expected`` to ``next_step`` and queue it.

    Returns False (and queues nothing) when the run has already left ``expected`` or stopped.
    """
    from segmentation import engine

    folder = chunk_folder(run_id)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != Run.Status.RUNNING or _stage(run) != expected:
            return False
        lo = SPANS[next_step][0]
        n = engine.step_size(folder, next_step) if next_step in PARALLEL else 0
        run.stage = stage_text or (f"{next_step}: 0/{n} {UNITS.get(next_step, 'chunks')}"
                                   if next_step in PARALLEL else next_step)
        run.progress = max(run.progress, lo)
        run.save(update_fields=["stage", "progress"])
        if next_step in PARALLEL:
            for i in range(n):
                enqueue_on_commit("segmentation.run_chunk", run_id, next_step, i)
        else:
            enqueue_on_commit("segmentation.run_gather", run_id, next_step)
    return True


def run_start_chunked(run: Run) -> None:
    """Cut the claimed run's sequence into chunks and queue the first parallel step."""
    from segmentation import engine

    folder = chunk_folder(run.pk)
    sequence = Sequence.objects.get(pk=run.sequence_id)
    p = run.parameters
    started = time.perf_counter()
    layout = engine.chunk_layout(folder, _frames(sequence), px_per_degree=p["px_per_degree"],
                                 chunk_frames=chunk_frames(p))
    # A run started again (recovery after a restart) keeps its prepared chunks only: the
    # recordings, hence every later step, may have changed.
    engine.reset_after_prepare(folder)
    engine.write_chunk_json(folder, "timings", {"layout": time.perf_counter() - started,
                                                "t0": time.time()})
    Run.objects.filter(pk=run.pk).update(stage="start")
    _advance(run.pk, "start", "prepare",
             stage_text=f"prepare: 0/{layout.n_chunks} chunks of {chunk_frames(p)} frames")


def run_chunk(*, run_id: int, step: str, index: int, worker: str | None = None) -> bool:
    """One chunk of a parallel step (for ``fit``: one booster); the last task of the step to
    finish queues the next.

    Returns whether this call computed the chunk (False: already there, or the run moved on).
    """
    from segmentation import engine

    if step not in PARALLEL:
        raise ValueError(f"step must be one of {', '.join(PARALLEL)}; got {step!r}")
    run = Run.objects.select_related("sequence").get(pk=run_id)
    if run.status != Run.Status.RUNNING or _stage(run) != step:
        log.info("run %s is %s at %r: chunk %s of %s skipped", run_id, run.status, run.stage,
                 index, step)
        return False
    folder = chunk_folder(run_id)
    computed = False

    def work():
        nonlocal computed
        if engine.chunks_done(folder, step)[int(index)]:
            return  # a redelivered task: the chunk's files are complete
        t = time.perf_counter()
        if step == "prepare":
            engine.prepare_chunk(folder, index, _frames(run.sequence))
        elif step == "estimate":
            engine.estimate_chunk(folder, index)
        elif step == "fit":
            engine.fit_booster(folder, index)
        else:
            engine.paint_chunk(folder, index, _frames(run.sequence))
        engine.write_chunk_json(folder, f"worker-{step}-{int(index):05d}", {
            "worker": worker or socket.gethostname(), "pid": os.getpid(),
            "seconds": time.perf_counter() - t})
        computed = True

    _guarded(run_id, work)
    _chunk_done(run_id, step)
    return computed


def _chunk_done(run_id: int, step: str) -> None:
    """Progress of ``step`` under the row's lock; when every chunk is done, the next step."""
    from segmentation import engine

    folder = chunk_folder(run_id)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != Run.Status.RUNNING or _stage(run) != step:
            return
        done = engine.chunks_done(folder, step)
        lo, hi = SPANS[step]
        run.stage = f"{step}: {sum(done)}/{len(done)} {UNITS.get(step, 'chunks')}"
        run.progress = round(max(run.progress, lo + (hi - lo) * sum(done) / len(done)), 4)
        run.save(update_fields=["stage", "progress"])
    if all(done):
        _advance(run_id, step, NEXT[step])


def run_gather(*, run_id: int, step: str) -> bool:
    """One gather step (``plan``, ``train`` or ``finalize``) of a chunked run."""
    if step not in ("plan", "train", "finalize"):
        raise ValueError(f"step must be plan, train or finalize; got {step!r}")
    run = Run.objects.select_related("sequence").get(pk=run_id)
    if run.status != Run.Status.RUNNING or _stage(run) != step:
        return False
    work = {"plan": _plan, "train": _train, "finalize": _finalize}[step]
    _guarded(run_id, lambda: work(run))
    return True


def _recordings(run: Run, folder: Path):
    from annotation.models import Recording
    from segmentation import engine

    ids = engine.read_chunk_json(folder, "recordings")
    by_id = {r.pk: r for r in Recording.objects.filter(pk__in=ids).select_related("observer")}
    return [by_id[i] for i in ids]


def _plan(run: Run) -> None:
    from segmentation import engine

    from .run_inputs import _engine_accuracy_deg, finished_recordings, observer_name, recording_gaze

    folder = chunk_folder(run.pk)
    recordings = list(finished_recordings(run.sequence))
    if not recordings:
        raise ValueError(f"sequence {run.sequence.name!r} has no finished recording to learn from")
    # The recordings of this run, fixed here: one finishing meanwhile waits for the next run.
    engine.write_chunk_json(folder, "recordings", [r.pk for r in recordings])
    engine.chunk_offsets(folder)
    engine.plan_estimates(folder, [recording_gaze(r) for r in recordings],
                          accuracies=[_engine_accuracy_deg(r) for r in recordings],
                          observers=[observer_name(r) for r in recordings],
                          estimate=run.parameters["estimate"])
    _advance(run.pk, "plan", "estimate")


def _compares(run: Run) -> bool:
    """Whether the run scores the baselines: ``compare`` on and a reference to score them on
    (without one the whole-sequence path computes no metrics, baselines included)."""
    return bool(run.parameters.get("compare")) and bool(run.sequence.masks_file)


def _train(run: Run) -> None:
    from segmentation import engine

    from .run_inputs import _json_safe, _observer_summary

    folder = chunk_folder(run.pk)
    p = run.parameters
    pool = None if p["pool"] == "default" else p["pool"]
    compare = _compares(run)
    # The baselines' maps are stored for the reference frames only (the ones they are scored
    # on); every frame is painted all the same, as each baseline's cut needs its whole map.
    trained = engine.train_chunks(folder, method=p["method"], pool=pool, rng=p["seed"],
                                  n_rounds=p["rounds"], n_bags=p["bags"], compare=compare,
                                  compare_frames=list(run.sequence.mask_frames) if compare else None)
    observers = _json_safe(_observer_summary(trained, _recordings(run, folder)))
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(observers=observers)
    if trained.n_fits:
        _advance(run.pk, "train", "fit")
    else:  # the pooled estimate alone: nothing to fit
        _advance(run.pk, "train", "paint")


def _worker_counts(folder: Path, layout) -> dict:
    from segmentation import engine

    counts: dict[str, dict[str, int]] = {}
    for step in PARALLEL:
        for i in range(engine.step_size(folder, step)):
            try:
                who = engine.read_chunk_json(folder, f"worker-{step}-{i:05d}")["worker"]
            except FileNotFoundError:
                continue  # computed by an attempt before a restart that left no record
            counts.setdefault(who, {}).setdefault(step, 0)
            counts[who][step] += 1
    return counts


def _finalize(run: Run) -> None:
    from segmentation import engine

    from .run_inputs import _json_safe, sequence_truth

    folder = chunk_folder(run.pk)
    layout = engine.read_layout(folder)
    p = run.parameters
    choice = engine.finish_chunks(folder)
    t, h, w = layout.n_frames, *layout.shape
    n_sp = layout.n_superpixels

    def scores():
        for i in range(layout.n_chunks):
            yield engine.chunk_scores(folder, i)

    def masks():
        for i in range(layout.n_chunks):
            yield engine.chunk_masks(folder, i, choice.threshold)

    def labels():
        for i in range(layout.n_chunks):
            yield np.asarray(engine.read_chunk_array(folder, "labels", i)) + layout.offsets[i]

    def sp_scores():
        for i in range(layout.n_chunks):
            yield engine.read_chunk_array(folder, "sp_scores", i)

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        gt_path = engine.write_npz_blocks(Path(tmp) / "gt.npz", {
            "scores": ((t, h, w), np.uint16, scores()), "masks": ((t, h, w), np.uint8, masks())})
        sp_path = engine.write_npz_blocks(Path(tmp) / "sp.npz", {
            "labels": ((t, h, w), np.int32, labels()), "sp_scores": ((n_sp,), np.float32, sp_scores())})
        gt_name = storage.save_file(f"ground_truth/run{run.pk}.npz", gt_path)
        sp_name = storage.save_file(f"ground_truth/run{run.pk}-superpixels.npz", sp_path)
    truth = sequence_truth(run.sequence)
    metrics = _chunked_metrics(folder, choice, truth, p, layout)
    started = time.perf_counter()
    report_folder, report_files = _write_report(run, folder, truth)
    timings = dict(engine.read_chunk_json(folder, "timings"))
    timings["report"] = time.perf_counter() - started
    t0 = timings.pop("t0", None)
    if t0 is not None:
        timings["total"] = time.time() - t0
    timings["chunked"] = {"chunks": layout.n_chunks, "chunk_frames": chunk_frames(p),
                          "workers": _worker_counts(folder, layout)}
    with transaction.atomic():
        run_row = Run.objects.select_for_update().get(pk=run.pk)
        if run_row.status != Run.Status.RUNNING or _stage(run_row) != "finalize":
            return
        GroundTruth.objects.update_or_create(
            run=run, defaults=dict(file=gt_name, superpixel_file=sp_name,
                                   threshold=float(choice.threshold),
                                   threshold_rule=choice.rule,
                                   threshold_details=_json_safe(choice.details)))
        Report.objects.update_or_create(
            run=run, defaults=dict(folder=report_folder, files=report_files,
                                   scored_frames=truth[1] if truth else []))
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.SUCCEEDED, progress=1.0, stage="done", timings=_json_safe(timings),
            metrics=metrics, finished_at=timezone.now())
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))


def _write_report(run: Run, folder: Path, truth) -> tuple[str, list[str]]:
    """The run's per-annotator and ROC report, built from the chunks
    (:func:`engine.write_chunked_report`), stored in media like a whole run's."""
    from segmentation import engine

    from .run_inputs import recording_gaze

    p = run.parameters
    gaze = [recording_gaze(r) for r in _recordings(run, folder)]
    name = f"reports/run{run.pk}"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp)
        engine.write_chunked_report(out, folder, frames=_frames(run.sequence), truth=truth,
                                    gaze=gaze, pool=None if p["pool"] == "default" else p["pool"],
                                    name=run.sequence.name)
        files = sorted(f.name for f in out.iterdir() if f.is_file())
        for f in files:
            storage.save_bytes(f"{name}/{f}", (out / f).read_bytes())
    return name, files


def _chunked_metrics(folder: Path, choice, truth, p: dict, layout) -> dict:
    """:func:`runs._metrics` for a chunked run, read from the chunks: per method (the run's
    first, then with ``compare`` the baselines ``train`` painted), the delivered masks at that
    method's own cut (the run's rule on its own map) scored on the frames with a reference.
    ``compare_skipped`` names the baselines a chunked run cannot paint (``vilarino``) and why."""
    from segmentation import engine

    from .run_inputs import _json_safe

    if truth is None:
        return {}
    masks, frame_idx = truth
    trained = engine.read_chunk_json(folder, "train")
    skipped = dict(NOT_CHUNKED_BASELINES)
    stored = trained.get("compare_frames")
    painted = list(trained["methods"])
    if stored is not None and not set(frame_idx) <= set(stored):
        # Reference masks uploaded while the run computed: the baselines' maps were kept for
        # the frames that had one when it trained.
        for method in painted[1:]:
            skipped[method] = ("not scored: the sequence's reference frames changed while the "
                               "run computed; retry the run to compare")
        painted = painted[:1]
    for method in engine.chunk_methods(p["method"], True)[1:]:
        if method not in trained["methods"]:
            skipped[method] = ("not scored: the sequence had no reference masks when the run "
                               "trained; retry the run to compare")
    methods = {}
    for method in painted:
        if method != p["method"]:
            engine.finish_chunks(folder, method=method)  # its cut, as finish_chunks for the run's
        # One method's maps of the scored frames at a time: K frames, whatever the length.
        result = engine.chunk_method_result(folder, method, frame_idx)
        methods[method] = _json_safe(engine.evaluate(result, masks))
        del result
    out = {"methods": methods, "frames_scored": len(frame_idx), "frames_total": layout.n_frames,
           "delivered": {"method": p["method"], "threshold": float(choice.threshold),
                         "threshold_rule": choice.rule}}
    if p.get("compare"):
        out["compare_skipped"] = skipped
    return out


def chunk_folder_remove(run_id: int) -> None:
    """Forget a run's chunk arrays (a failed run retried starts from a clean folder)."""
    shutil.rmtree(chunk_folder(run_id), ignore_errors=True)
