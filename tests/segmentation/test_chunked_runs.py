"""A long sequence's run as chunk tasks (segmentation.services.chunked_runs), eagerly.

The same code runs on real workers in tests/faults/test_chunked_runs.py (two workers, a worker
killed mid-chunk).
"""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest

from crowd import services as crowd_services
from segmentation import export_service, parameters, services
from segmentation.engine import MAX_CHUNK_FRAMES, MIN_CHUNK_FRAMES
from segmentation.engine.datasets import load_sample
from segmentation.models import GroundTruth, Run
from segmentation.services import chunked_runs

from .conftest import OBSERVERS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def chunk_small_sequences(settings):
    """These tests chunk the 16-slice sample; by default only sequences past 48 million pixels
    are chunked (``test_small_sequences_keep_the_whole_sequence_path_and_its_report``)."""
    settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS = 0


@pytest.fixture(scope="session")
def sixteen_slices(tmp_path_factory):
    sample = load_sample("brats-pat0001")
    folder = tmp_path_factory.mktemp("brats16")
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    nib.save(nib.Nifti1Image(np.moveaxis(sample.frames, 0, -1).astype(np.float32), affine),
             folder / "flair.nii.gz")
    nib.save(nib.Nifti1Image(np.moveaxis(sample.truth, 0, -1).astype(np.uint8), affine),
             folder / "tumour.nii.gz")
    gaze = {}
    for table in sample.gaze:
        name = table["observer"].iloc[0]
        if name in OBSERVERS:
            gaze[name] = folder / f"{name}.csv"
            table.to_csv(gaze[name], index=False, na_rep="")
    return {"frames": folder / "flair.nii.gz", "truth": folder / "tumour.nii.gz", "gaze": gaze}


@pytest.fixture
def long_sequence(study, sixteen_slices):
    from annotation import services as annotation_services

    sequence = crowd_services.sequence_import(study=study, path=sixteen_slices["frames"],
                                              name="pat0001-16", truth=sixteen_slices["truth"])
    for name in OBSERVERS:
        user = crowd_services.user_get_or_create(username=name)
        annotation_services.recording_import_file(sequence=sequence, observer=user,
                                                  path=sixteen_slices["gaze"][name], fmt="csv",
                                                  ensure_member=True)
    return sequence


def _npz(run):
    return np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz")[0]))


def test_a_chunked_run_delivers_what_the_whole_sequence_run_delivers(study, long_sequence, settings):
    (whole,) = services.study_run_create(study=study, sequence=long_sequence,
                                         parameters={"compare": True, "chunk_frames": 16})
    (cut,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": True, "chunk_frames": 4})
    whole.refresh_from_db()
    cut.refresh_from_db()
    assert whole.status == cut.status == Run.Status.SUCCEEDED, (whole.error, cut.error)
    assert "chunked" not in whole.timings  # one chunk: the whole-sequence path, as before
    assert cut.timings["chunked"]["chunks"] == 4
    assert sum(c["prepare"] for c in cut.timings["chunked"]["workers"].values()) == 4
    assert cut.stage == "done" and cut.progress == 1.0
    assert set(cut.observers["weights"]) == set(OBSERVERS)
    # The baselines, scored as the whole-sequence run scores them; vilarino skipped, in words.
    assert sorted(cut.metrics["methods"]) == ["eel", "el", "probability"]  # jsonb keeps no order
    assert sorted(whole.metrics["methods"]) == ["eel", "el", "probability", "vilarino"]
    assert set(cut.metrics["compare_skipped"]) == {"vilarino"}
    assert "whole sequence" in cut.metrics["compare_skipped"]["vilarino"]
    for method in ("eel", "el", "probability"):
        mine, theirs = cut.metrics["methods"][method], whole.metrics["methods"][method]
        assert set(mine) == set(theirs), method  # the same figures: the page shows them as is
        for key in ("dice", "iou", "auc", "f1", "threshold"):
            assert abs(mine[key] - theirs[key]) < 1e-3, (method, key, mine[key], theirs[key])
        assert mine["threshold_rule"] == "gaze-contrast"
    assert cut.metrics["methods"]["el"]["dice"] != cut.metrics["methods"]["probability"]["dice"]
    assert sum(c.get("fit", 0) for c in cut.timings["chunked"]["workers"].values()) == 6
    a, b = _npz(whole)["masks"].astype(bool), _npz(cut)["masks"].astype(bool)
    assert a.shape == b.shape == (16, 240, 240)
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert dice >= 0.999, dice
    gt_whole, gt_cut = GroundTruth.objects.get(run=whole), GroundTruth.objects.get(run=cut)
    assert abs(gt_whole.threshold - gt_cut.threshold) < 1e-3
    assert gt_cut.threshold_rule == "gaze-contrast"
    assert abs(cut.metrics["methods"]["eel"]["dice"] - whole.metrics["methods"]["eel"]["dice"]) < 1e-3
    sp = np.load(io.BytesIO(open(settings.MEDIA_ROOT / gt_cut.superpixel_file.name, "rb").read()))
    assert sp["labels"].shape == (16, 240, 240) and sp["labels"].max() + 1 == sp["sp_scores"].size
    assert not chunked_runs.chunk_folder(cut.pk).exists()  # removed once stored


def test_late_and_duplicate_chunk_tasks_change_nothing(study, long_sequence):
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": False, "chunk_frames": 8})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    before = GroundTruth.objects.get(run=run).file.name
    # A chunk task delivered again after the run moved on (or finished) does nothing.
    assert services.run_chunk(run_id=run.pk, step="prepare", index=0) is False
    assert services.run_gather(run_id=run.pk, step="finalize") is False
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 1
    assert GroundTruth.objects.filter(run=run).count() == 1
    assert GroundTruth.objects.get(run=run).file.name == before


def test_a_failing_chunk_fails_the_run_with_its_reason_and_retry_starts_clean(
        study, long_sequence, monkeypatch):
    from segmentation import engine

    def broken(folder, index):
        raise engine.InputError(f"chunk {index} is broken")

    monkeypatch.setattr(engine, "estimate_chunk", broken)
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": False, "chunk_frames": 8})
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "is broken" in run.error
    monkeypatch.undo()
    services.run_retry(run=run)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error


@pytest.mark.parametrize("bad", [3, 1001, 4.5, True, "x"])
def test_chunk_size_is_bounded_where_it_enters(bad):
    with pytest.raises(parameters.ParameterError):
        parameters.resolve({"chunk_frames": bad})


def test_chunk_size_bounds_agree_with_the_engine():
    assert (parameters.MIN_CHUNK_FRAMES, parameters.MAX_CHUNK_FRAMES) == (MIN_CHUNK_FRAMES,
                                                                          MAX_CHUNK_FRAMES)


def test_runs_the_chunked_path_cannot_compute_keep_the_whole_sequence_path():
    p = parameters.resolve({"chunk_frames": 4})
    assert chunked_runs.chunkable(p, 8, 64 * 64)
    assert not chunked_runs.chunkable(p, 7, 64 * 64)  # under two chunks
    assert not chunked_runs.chunkable({**p, "method": "vilarino"}, 100, 64 * 64)
    assert not chunked_runs.chunkable({**p, "features": "autoencoder"}, 100, 64 * 64)
    assert not chunked_runs.chunkable({**p, "temporal": True}, 100, 64 * 64)


def test_only_sequences_past_the_pixel_budget_are_chunked_by_default(settings):
    settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS = 48_000_000  # the default (crowd/settings.py)
    p = parameters.resolve()
    davis = 854 * 480
    assert not chunked_runs.chunkable(p, 100, davis)  # 41 million pixels: whole, with its report
    assert chunked_runs.chunkable(p, 118, davis)
    assert not chunked_runs.chunkable(p, 183, 512 * 512)
    assert chunked_runs.chunkable(p, 184, 512 * 512)


def test_small_sequences_keep_the_whole_sequence_path_and_its_report(study, long_sequence, settings):
    """A run the chunked path would take with a budget of 0 goes the whole-sequence way under
    the default budget, and so gets its per-annotator report and the baselines scored."""
    from segmentation.models import Report

    settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS = 48_000_000
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": True, "chunk_frames": 4})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "chunked" not in run.timings
    assert Report.objects.filter(run=run).exists()
    assert "compare_skipped" not in run.metrics


RUN_STATE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "crowd.settings"
import django; django.setup()
from segmentation.models import GroundTruth, Run
run = Run.objects.get(pk=int(sys.argv[1]))
print(json.dumps({"status": run.status, "error": run.error, "timings": run.timings,
                  "truths": GroundTruth.objects.filter(run=run).count()}))
"""


@pytest.mark.django_db(transaction=False)
def test_the_embedded_default_runs_a_chunked_run_on_its_one_worker(tmp_path):
    """The filesystem broker (no result backend) and one real worker process, as ``serve``."""
    import json
    import subprocess
    import sys
    import time

    from tests.segmentation.test_serve import ROOT, _env, _python, _worker

    env = {**_env(tmp_path), "GAZECROWD_CHUNKED_RUN_MIN_PIXELS": "0"}  # chunk the small sequence
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    made = subprocess.run(
        [sys.executable, "tests/faults/make_study.py", "--workdir", str(tmp_path), "--name",
         "embedded", "--observers", "2", "--frames", "16", "--size", "64", "--gaze",
         "--run-chunk-frames", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    run_id = json.loads(made.stdout.strip().splitlines()[-1])["run"]
    worker = _worker(env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = json.loads(_python(env, RUN_STATE, str(run_id)))
            if state["status"] in ("succeeded", "failed"):
                break
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(60)
    assert state["status"] == "succeeded", state
    assert state["timings"]["chunked"]["chunks"] == 4 and state["truths"] == 1


def test_progress_counts_chunks_done_across_workers_with_an_eta(study, long_sequence, monkeypatch):
    """Steps driven by hand (nothing queued): the stage says chunks done, the bar follows them."""
    from segmentation.jobs import job_progress

    queued = []
    monkeypatch.setattr(chunked_runs, "enqueue_on_commit", lambda *a: queued.append(a))
    monkeypatch.setattr("segmentation.services.runs.enqueue_on_commit", lambda *a: None)
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": False, "chunk_frames": 4})
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.stage == "prepare: 0/4 chunks of 4 frames"
    assert [q[1:] for q in queued] == [(run.pk, "prepare", i) for i in range(4)]
    seen = []
    for i in (2, 0, 3):  # any order, any worker
        assert services.run_chunk(run_id=run.pk, step="prepare", index=i, worker=f"w{i % 2}")
        run.refresh_from_db()
        seen.append((run.stage, run.progress))
    assert [s for s, _ in seen] == ["prepare: 1/4 chunks", "prepare: 2/4 chunks",
                                    "prepare: 3/4 chunks"]
    assert [p for _, p in seen] == sorted(p for _, p in seen) and seen[-1][1] < 0.5
    assert job_progress(run)["eta_seconds"] is not None  # past 5%: an estimate of what is left
    queued.clear()
    services.run_chunk(run_id=run.pk, step="prepare", index=1)
    run.refresh_from_db()
    assert run.stage == "plan" and queued == [("segmentation.run_gather", run.pk, "plan")]
    # A chunk delivered twice after its step ended: nothing computed, nothing queued.
    queued.clear()
    assert services.run_chunk(run_id=run.pk, step="prepare", index=1) is False
    assert queued == []


def test_a_restarted_run_resumes_from_its_prepared_chunks(study, long_sequence, monkeypatch):
    """What `serve`'s recovery does to a run left running: queued again, claimed again."""
    queued = []
    monkeypatch.setattr(chunked_runs, "enqueue_on_commit", lambda *a: queued.append(a))
    monkeypatch.setattr("segmentation.services.runs.enqueue_on_commit", lambda *a: None)
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": False, "chunk_frames": 8})
    services.run_execute(run_id=run.pk)
    assert services.run_chunk(run_id=run.pk, step="prepare", index=0) is True
    folder = chunked_runs.chunk_folder(run.pk)
    (folder / "estimate-00000.npy").write_bytes(b"stale")  # a later step of the lost attempt
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.attempts == 2 and run.stage.startswith("prepare: 0/2")
    assert not (folder / "estimate-00000.npy").exists()
    assert services.run_chunk(run_id=run.pk, step="prepare", index=0) is False  # kept
    monkeypatch.undo()
    assert services.run_chunk(run_id=run.pk, step="prepare", index=1) is True  # then the rest
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error


def test_boosters_are_fitted_as_parallel_tasks_counted_in_the_progress(study, long_sequence,
                                                                       monkeypatch):
    """Steps driven by hand: train queues one fit per method and bag; the stage counts fits
    done; a duplicate fit computes nothing; the last fit queues the paint chunks."""
    queued = []
    monkeypatch.setattr(chunked_runs, "enqueue_on_commit", lambda *a: queued.append(a))
    monkeypatch.setattr("segmentation.services.runs.enqueue_on_commit", lambda *a: None)
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": True, "chunk_frames": 8})
    services.run_execute(run_id=run.pk)
    for step, n in (("prepare", 2), ("plan", 0), ("estimate", 2), ("train", 0)):
        if n:
            for i in range(n):
                assert services.run_chunk(run_id=run.pk, step=step, index=i)
        else:
            assert services.run_gather(run_id=run.pk, step=step)
    run.refresh_from_db()
    fits = 2 * run.parameters["bags"]  # eel and el, the boosted methods of a compared run
    assert run.stage == f"fit: 0/{fits} boosters", run.error
    assert [q[1:] for q in queued[-fits:]] == [(run.pk, "fit", k) for k in range(fits)]
    progress = [run.progress]
    for k in reversed(range(1, fits)):
        assert services.run_chunk(run_id=run.pk, step="fit", index=k, worker=f"w{k % 2}")
        run.refresh_from_db()
        progress.append(run.progress)
    assert run.stage == f"fit: {fits - 1}/{fits} boosters"
    assert progress == sorted(progress) and progress[-1] < 0.7
    assert services.run_chunk(run_id=run.pk, step="fit", index=fits - 1) is False  # done already
    queued.clear()
    assert services.run_chunk(run_id=run.pk, step="fit", index=0)
    run.refresh_from_db()
    assert run.stage == "paint: 0/2 chunks"
    assert [q[1:] for q in queued] == [(run.pk, "paint", i) for i in range(2)]
    queued.clear()
    assert services.run_chunk(run_id=run.pk, step="fit", index=0) is False  # late: run moved on
    assert queued == []
    for i in range(2):
        services.run_chunk(run_id=run.pk, step="paint", index=i)
    assert services.run_gather(run_id=run.pk, step="finalize")
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert sorted(run.metrics["methods"]) == ["eel", "el", "probability"]
    workers = run.timings["chunked"]["workers"]
    assert sum(c.get("fit", 0) for c in workers.values()) == fits


def test_a_probability_run_without_compare_fits_nothing(study, long_sequence):
    (run,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": False, "chunk_frames": 8,
                                                   "method": "probability"})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert list(run.metrics["methods"]) == ["probability"] and "compare_skipped" not in run.metrics
    assert not any("fit" in c for c in run.timings["chunked"]["workers"].values())
