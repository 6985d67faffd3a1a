"""Image collections in the segmentation app: the labelling-time report and gaze boxes.

Alice coordinates, Bob observes, Carol researches, Charlie has no access.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from annotation import hooks
from annotation import services as annotation_services
from crowd import services
from crowd.models import Study, StudyMembership
from segmentation import fixations, selectors
from segmentation import services as segmentation_services
from segmentation.models import GazeBoxesJob
from tests.crowd.fixtures import write_images_zip

Role = StudyMembership.Role
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_hooks(monkeypatch):
    # the recording-finished hook would estimate superpixels for runs; not what is tested here
    monkeypatch.setattr(hooks, "_recording_finished", [])


def _collection(alice, bob, carol, frames, names):
    import tempfile
    from pathlib import Path

    study = services.study_create(name="Polyps", created_by=alice, kind=Study.Kind.IMAGES,
                                  target_structure="polyp")
    services.membership_set(study=study, user=bob, role=Role.OBSERVER)
    services.membership_set(study=study, user=carol, role=Role.RESEARCHER)
    folder = Path(tempfile.mkdtemp())
    seq = services.sequence_import(study=study, name="kvasir", path=write_images_zip(
        folder / "images.zip", frames, names=[f"{n}.png" for n in names]))
    services.assignment_create(sequence=seq, observer=bob)
    return study, seq


# --- I-DT -------------------------------------------------------------------------------------


def test_idt_finds_two_fixations_and_skips_the_saccade_and_the_blink():
    t = np.arange(0, 1000, 16.0) + np.random.default_rng(0).uniform(0, 3, 63)  # jittery 60 Hz
    x = np.where(t < 400, 50.0, 150.0)
    x[(t > 380) & (t < 440)] = 100.0  # saccade samples in between
    y = np.full_like(t, 20.0)
    x[50] = np.nan  # a blink splits the second fixation
    fix = fixations.idt_fixations(np.c_[t, x, y], dispersion_px=5, min_duration_ms=100)
    assert len(fix) == 3
    assert fix[0, 1] == 50.0 and fix[1, 1] == fix[2, 1] == 150.0
    assert fix[0, 0] == t[0] and fix[0, 3] == pytest.approx(t[t < 380][-1] - t[0])


# --- timing report on a toy table -------------------------------------------------------------


def test_timing_report_by_hand(alice, bob, carol, charlie, client_for):
    frames = np.random.default_rng(0).integers(0, 255, (2, 16, 16), dtype=np.uint8)
    study, seq = _collection(alice, bob, carol, frames, ["a", "b"])
    for mode, secs in (("gaze", [1, 2, 3]), ("box", [4, 6]), ("freehand", [10])):
        for s in secs:
            kw = {"gaze": dict(point=[1, 1]), "box": dict(box=[0, 0, 4, 4]),
                  "freehand": dict(outline=[[0, 0], [5, 0], [5, 5]])}[mode]
            annotation_services.image_label_create(observer=bob, sequence=seq, frame=0, mode=mode,
                                                   seconds=s, **kw)
    for s in (4, 6):
        annotation_services.image_visit_record(observer=bob, sequence=seq, frame=1, mode="gaze", seconds=s)
    url = f"/api/studies/{study.pk}/labelling-times/"
    assert client_for(bob).get(url).status_code == 403
    assert client_for(charlie).get(url).status_code == 404
    report = client_for(carol).get(url).json()
    gaze, box, free = (report["per_mode"][m] for m in ("gaze", "box", "freehand"))
    # gaze 1, 2, 3: mean 2, median 2, sd 1; half width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051
    assert (gaze["n"], gaze["mean"], gaze["median"], gaze["std"]) == (3, 2.0, 2.0, 1.0)
    assert gaze["ci_low"] == pytest.approx(2 - 2.484138, abs=1e-5)
    assert gaze["ci_high"] == pytest.approx(2 + 2.484138, abs=1e-5)
    # box 4, 6: sd sqrt 2, half width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706205
    assert box["mean"] == 5.0 and box["ci_high"] == pytest.approx(5 + 12.706205, abs=1e-5)
    assert free["n"] == 1 and free["ci_low"] is None
    # gaze saves 1 - 2/5 = 60 % against boxes, 1 - 2/10 = 80 % against freehand
    assert report["savings_percent"] == {"box": pytest.approx(60.0), "freehand": pytest.approx(80.0)}
    assert report["per_image"]["gaze"]["mean"] == 5.0

    # the dashboard's section shows the same numbers
    from django.test import Client

    web = Client()
    web.force_login(carol)
    page = web.get(f"/studies/{study.pk}/").content.decode()
    assert "Image labelling" in page and "60.0 %" in page and "80.0 %" in page
    assert "Compute gaze boxes" not in page  # researchers read; coordinators compute
    web.force_login(alice)
    page = web.get(f"/studies/{study.pk}/").content.decode()
    assert "Compute gaze boxes" in page and "Start run" not in page  # no EEL runs on still images
    r = web.post(f"/studies/{study.pk}/gaze-boxes/", follow=True)
    assert "has no fixation yet" in r.content.decode()


# --- gaze boxes from real fixations -----------------------------------------------------------


def _samples_from_fixations(fix: pd.DataFrame, frame: int, t0: float, rng) -> np.ndarray:
    """60 Hz samples (t_ms, frame, x, y) holding still on each fixation, 40 ms saccades between."""
    rows, t = [], t0
    for _, f in fix.iterrows():
        # about 60 Hz, first and last sample duration_ms apart (as the tracker measured it)
        for dt in np.linspace(0, f.duration_ms, int(round(f.duration_ms * 60 / 1000)) + 1):
            rows.append((t + dt, frame, f.x + rng.normal(0, 0.3), f.y + rng.normal(0, 0.3)))
        t += f.duration_ms + 40
    return np.asarray(rows)


@pytest.mark.realdata
def test_gaze_boxes_on_kvasir_from_real_fixations(shared_data, alice, bob, carol, client_for, tmp_path,
                                                  django_capture_on_commit_callbacks):
    import imageio.v3 as iio

    from segmentation.engine.detection.labels import label_images
    from segmentation.engine.detection.metrics import dice

    kvasir = shared_data / "kvasir"
    fixations = pd.read_csv(kvasir / "fixations.csv")
    names = sorted(n for n in fixations.image.unique() if n < "cju5")[:2]  # development images
    frames = np.stack([iio.imread(kvasir / "images" / f"{n}.jpg") for n in names])
    study, seq = _collection(alice, bob, carol, frames, names)
    recording, _ = annotation_services.recording_start(observer=bob, sequence=seq, source="mouse")
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        samples = _samples_from_fixations(fixations[fixations.image == name], k, 20_000.0 * k, rng)
        annotation_services.gaze_batch_store(recording_id=recording.pk, number=k, samples=samples)
    annotation_services.recording_finish(recording=recording)

    found = selectors.study_fixations(study=study)
    assert found.groupby("image").size().to_dict() == fixations[fixations.image.isin(names)].groupby(
        "image").size().to_dict()

    url = f"/api/studies/{study.pk}/gaze-boxes/"
    assert client_for(carol).post(url).status_code == 403
    assert client_for(carol).get(url + "coco/").status_code == 404  # not computed yet
    assert client_for(carol).get(url).status_code == 404  # never started
    with django_capture_on_commit_callbacks(execute=True):  # a Celery job, run on commit
        r = client_for(alice).post(url)
    assert r.status_code == 202, r.content
    job = client_for(carol).get(url).json()
    assert job["id"] == r.json()["id"] and job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["attempts"] == 1
    assert job["result"]["images"] == 2 and job["result"]["boxes"] >= 2
    coco = json.loads(client_for(carol).get(url + "coco/").content)
    assert [im["file_name"] for im in coco["images"]] == [f"{n}.png" for n in names]
    with zipfile.ZipFile(io.BytesIO(client_for(carol).get(url + "masks/").content)) as archive:
        masks = {n: iio.imread(archive.read(f"masks/{n}.png")) > 0 for n in names}
    assert client_for(bob).get(url + "masks/").status_code == 403

    # the same labels as the engine gets from the original fixation file, and close to the truth
    direct = label_images({n: frames[k] for k, n in enumerate(names)}, names,
                          fixations[fixations.image.isin(names)])
    for n in names:
        assert dice(masks[n], direct[n].mask) > 0.9
    truth = [iio.imread(kvasir / "masks" / f"{n}.png") > 0 for n in names]
    assert np.mean([dice(masks[n], t) for n, t in zip(names, truth)]) > 0.6

    # the command (coarse labels here, to keep the test short): the published threshold
    call_command("gaze_boxes", str(study.pk), "--out", str(tmp_path / "out"), "--no-refine",
                 stdout=io.StringIO())
    written = json.loads((tmp_path / "out" / "boxes.json").read_text())
    assert written["info"]["refine"] is False
    boxes = {n: np.array([a["bbox"] for a in written["annotations"] if a["image_id"] == k + 1]).reshape(-1, 4)
             for k, n in enumerate(names)}
    assert sum(len(b) for b in boxes.values()) >= 1
    for n in names:
        np.testing.assert_allclose(boxes[n], direct[n].coarse_boxes, atol=0.01)
    assert sorted(p.stem for p in (tmp_path / "out" / "masks").glob("*.png")) == names


def _dashboard(user, study) -> str:
    from django.test import Client

    web = Client()
    web.force_login(user)
    return web.get(f"/studies/{study.pk}/").content.decode()


def _record(observer, seq, samples) -> None:
    recording, _ = annotation_services.recording_start(observer=observer, sequence=seq, source="mouse")
    annotation_services.gaze_batch_store(recording_id=recording.pk, number=0, samples=samples)
    annotation_services.recording_finish(recording=recording)


def test_gaze_boxes_run_as_one_job_with_progress(alice, bob, carol, client_for,
                                                  django_capture_on_commit_callbacks):
    frames = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    frames[:, 20:40, 20:40] = 200  # one bright square per image
    study, seq = _collection(alice, bob, carol, frames, ["a", "b"])
    t = np.arange(0, 600, 16.0)  # 600 ms holding still on the square of each image
    _record(bob, seq, np.r_[np.c_[t, np.zeros_like(t), np.full_like(t, 30), np.full_like(t, 30)],
                            np.c_[t + 1000, np.ones_like(t), np.full_like(t, 28), np.full_like(t, 31)]])
    url = f"/api/studies/{study.pk}/gaze-boxes/"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = client_for(alice).post(url)
        again = client_for(alice).post(url)  # while the first is queued: the same job
    assert first.status_code == again.status_code == 202
    assert first.json()["status"] == "queued" and again.json()["id"] == first.json()["id"]
    assert len(queued) == 1 and GazeBoxesJob.objects.filter(study=study).count() == 1
    assert client_for(carol).get(url).json()["status"] == "queued"
    assert client_for(carol).get(url + "coco/").status_code == 404
    pending = _dashboard(alice, study)
    assert 'aria-label="gaze boxes progress"' in pending and "Compute gaze boxes" not in pending
    queued[0]()  # the worker runs it
    job = client_for(carol).get(url).json()
    assert job["status"] == "succeeded" and job["progress"] == 1.0, job
    assert job["result"]["images"] == 2 and job["result"]["boxes"] >= 2
    coco = json.loads(client_for(carol).get(url + "coco/").content)
    x, y, w, h = coco["annotations"][0]["bbox"]
    assert x <= 30 <= x + w and y <= 30 <= y + h
    # delivered twice (a worker lost after finishing): left alone
    assert segmentation_services.gaze_boxes_execute(job_id=job["id"]).attempts == 1
    # the dashboard shows the job
    assert "Succeeded" in _dashboard(alice, study) and "Compute again" in _dashboard(alice, study)


def test_a_gaze_boxes_job_without_fixations_fails_with_the_reason(alice, bob, carol, client_for,
                                                                  django_capture_on_commit_callbacks):
    frames = np.zeros((1, 64, 64), dtype=np.uint8)
    study, seq = _collection(alice, bob, carol, frames, ["only"])
    t = np.arange(0, 600, 16.0)
    # gaze that never holds still: samples, but no fixation
    _record(bob, seq, np.c_[t, np.zeros_like(t), (t * 0.5) % 64, (t * 0.37) % 64])
    url = f"/api/studies/{study.pk}/gaze-boxes/"
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(alice).post(url).status_code == 202
    job = client_for(alice).get(url).json()
    assert job["status"] == "failed" and "has no fixation yet" in job["error"], job
    assert client_for(alice).get(url + "coco/").status_code == 404
    page = _dashboard(alice, study)
    assert "has no fixation yet" in page and "Compute gaze boxes" in page  # may try again


def test_gaze_boxes_refuse_a_study_without_gaze(alice, bob, carol, charlie, client_for, settings):
    from pathlib import Path

    from django.core.exceptions import ValidationError

    frames = np.zeros((1, 8, 8), dtype=np.uint8)
    study, _ = _collection(alice, bob, carol, frames, ["only"])
    with pytest.raises(ValidationError, match="no fixation yet"):
        segmentation_services.gaze_boxes_compute(study=study)
    url = f"/api/studies/{study.pk}/gaze-boxes/"
    r = client_for(alice).post(url)
    assert r.status_code == 400 and "has no fixation yet" in r.json()["detail"]
    assert not (Path(settings.MEDIA_ROOT) / "gaze_boxes").exists()
    assert not GazeBoxesJob.objects.filter(study=study).exists()  # refused, nothing queued
    assert client_for(bob).post(url).status_code == 403
    assert client_for(charlie).post(url).status_code == 404
    other = services.study_create(name="Video", created_by=alice)
    r = client_for(alice).post(f"/api/studies/{other.pk}/gaze-boxes/")
    assert r.status_code == 400 and "made for image collections" in r.json()["detail"]


def test_image_collection_recordings_start_no_estimate(alice, bob, carol, monkeypatch):
    from segmentation import apps, tasks

    calls = []
    monkeypatch.setattr(tasks.estimate_recording, "delay", calls.append)
    frames = np.zeros((2, 8, 8), dtype=np.uint8)
    _, seq = _collection(alice, bob, carol, frames, ["a", "b"])
    recording, _ = annotation_services.recording_start(observer=bob, sequence=seq, source="mouse")
    apps._estimate_when_finished(recording.pk)
    assert calls == []
    # a recording of a sequence study still gets its estimate
    seq.study.kind = Study.Kind.SEQUENCE
    seq.study.save(update_fields=["kind"])
    apps._estimate_when_finished(recording.pk)
    assert calls == [recording.pk]
