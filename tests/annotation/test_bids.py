"""A study's recordings exported as BIDS, validated, and imported again: the same samples.

Bob watched the clip twice (a live recording whose frames are what the page showed, and a Tobii
file on a 1920x1080 screen with the image in a chosen rectangle); Dave once. Alice exports the
study, the official bids-validator reads the dataset, and each observer's recordings come back
as new recordings with every sample equal.
"""

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from annotation import bids, selectors, services
from annotation.models import Recording
from crowd import services as crowd_services
from crowd.models import StudyMembership
from tests.engine.trackers.writers import write_tobii

VALIDATOR_VERSION = "1.15.0"  # the last Node release; 2.x needs Deno


def _live(sequence, observer, rng=0):
    """A live recording: 60 Hz, a few lost samples, frames as the page reported them."""
    g = np.random.default_rng(rng)
    t = np.arange(0, 590, 1000 / 60) + g.uniform(0, 0.5, 36)
    frames = np.minimum(np.floor(t / 100), 5)
    frames[7] = frames[6] - 1 if frames[6] > 0 else 0  # a late frame callback: not floor(t * fps)
    x, y = g.uniform(0, 31, len(t)), g.uniform(0, 23, len(t))
    x[[3, 20]] = y[[3, 20]] = np.nan
    samples = np.column_stack([t, frames, x, y])
    recording, _ = services.recording_start(observer=observer, sequence=sequence, source="webcam")
    services.gaze_batch_store(recording_id=recording.pk, number=0, samples=samples[:20])
    services.gaze_batch_store(recording_id=recording.pk, number=1, samples=samples[20:])
    return services.recording_finish(recording=recording)


def _tobii(sequence, observer, tmp_path):
    t = 5000 + np.arange(0, 700, 1000 / 120)
    g = np.random.default_rng(3)
    x, y = np.round(g.uniform(400, 1500, len(t))), np.round(g.uniform(100, 1000, len(t)))
    path = write_tobii(tmp_path / "bob.tsv", t, x, y, sync_ms=5100)
    return services.recording_import_file(
        sequence=sequence, observer=observer, path=path, screen_width_cm=53.1, screen_height_cm=29.9,
        viewing_distance_cm=60.0, image_rect=[300, 20, 1280, 960], sampling_rate_hz=120.0)


@pytest.fixture
def recorded(sequence, bob, tmp_path):
    # Bob records it live, imports a Tobii file, and the tests import the exports back.
    sequence.study.repeats_per_observer = 10
    sequence.study.save(update_fields=["repeats_per_observer"])
    dave = crowd_services.user_get_or_create(username="dave.o'brien")
    crowd_services.membership_set(study=sequence.study, user=dave, role=StudyMembership.Role.OBSERVER)
    crowd_services.assignment_create(sequence=sequence, observer=dave)
    return [_live(sequence, bob), _tobii(sequence, bob, tmp_path), _live(sequence, dave, rng=1)]


def _export(study, out):
    stdout = io.StringIO()
    call_command("export_gaze", str(study.pk), "--format", "bids", "--out", str(out), stdout=stdout)
    return stdout.getvalue()


def _assert_same(a: np.ndarray, b: np.ndarray):
    assert a.shape == b.shape  # 0 samples lost
    np.testing.assert_allclose(b[:, 0], a[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(b[:, 1], a[:, 1])
    np.testing.assert_allclose(b[:, 2:], a[:, 2:], rtol=0, atol=1e-9)  # NaN where NaN


def test_bids_export_then_import_gives_the_same_samples(recorded, sequence, tmp_path):
    out = tmp_path / "bids"
    message = _export(sequence.study, out)
    assert "3 recording(s), " in message and "2 observer(s)" in message
    assert (out / "participants.tsv").read_text().splitlines() == [
        "participant_id\tgazecrowd_username", "sub-bob\tbob", "sub-daveobrien\tdave.o'brien"]
    physio = sorted(p.name for p in out.rglob("*_physio.tsv.gz"))
    assert physio == ["sub-bob_task-clip_run-1_recording-eye1_physio.tsv.gz",
                      "sub-bob_task-clip_run-2_recording-eye1_physio.tsv.gz",
                      "sub-daveobrien_task-clip_run-1_recording-eye1_physio.tsv.gz"]
    sidecar = json.loads((out / "sub-bob/beh/sub-bob_task-clip_run-2_recording-eye1_physio.json").read_text())
    assert sidecar["ScreenResolution"] == [1920, 1080] and sidecar["ScreenDistance"] == pytest.approx(0.6)
    exported = sum(len(selectors.recording_samples(r)) for r in recorded)

    for username in ("bob", "dave.o'brien"):
        call_command("import_gaze", str(sequence.study_id), str(sequence.pk), username, str(out),
                     "--format", "bids", stdout=io.StringIO())
    again = Recording.objects.filter(sequence=sequence, tracker_format="bids").order_by("id")
    assert again.count() == 3
    reimported = 0
    for before, after in zip(recorded, again):
        assert after.observer_id == before.observer_id
        _assert_same(selectors.recording_samples(before), selectors.recording_samples(after))
        reimported += after.batches.count() and len(selectors.recording_samples(after))
    assert reimported == exported
    tobii_again = again[1]
    assert (tobii_again.screen_width_px, tobii_again.viewing_distance_cm) == (1920, pytest.approx(60.0))
    assert tobii_again.image_rect == [300, 20, 1280, 960]


def test_a_zip_upload_of_one_bids_recording(recorded, sequence, bob, client_for, tmp_path):
    out = tmp_path / "bids"
    _export(sequence.study, out)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in (out / "sub-bob/beh").glob("sub-bob_task-clip_run-1_recording-eye1_physio*"):
            zf.write(p, p.name)
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    response = client_for(bob).post(url, {"file": SimpleUploadedFile("bob_bids.zip", buf.getvalue())},
                                    format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["tracker_format"] == "bids"
    after = Recording.objects.get(pk=response.json()["id"])
    _assert_same(selectors.recording_samples(recorded[0]), selectors.recording_samples(after))


def test_a_bids_upload_without_its_sidecar_is_refused(recorded, sequence, bob, client_for, tmp_path):
    out = tmp_path / "bids"
    _export(sequence.study, out)
    data = (out / "sub-bob/beh/sub-bob_task-clip_run-1_recording-eye1_physio.tsv.gz").read_bytes()
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    response = client_for(bob).post(
        url, {"file": SimpleUploadedFile("sub-bob_task-clip_run-1_recording-eye1_physio.tsv.gz", data)},
        format="multipart")
    assert response.status_code == 400
    assert "_physio.json is missing" in str(response.json())


def _validator() -> Path:
    """The bids-validator (Node) binary: installed once per machine into the cache."""
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gazecrowd" / f"bids-validator-{VALIDATOR_VERSION}"
    binary = cache / "node_modules" / ".bin" / "bids-validator"
    if binary.exists():
        return binary
    reason = None
    if not (shutil.which("npm") and shutil.which("node")):
        reason = "node/npm are not installed"
    else:
        result = subprocess.run(["npm", "install", "--prefix", str(cache), f"bids-validator@{VALIDATOR_VERSION}"],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not binary.exists():
            reason = f"npm install bids-validator@{VALIDATOR_VERSION} failed: {result.stderr[-500:]}"
    if reason:
        if in_ci:
            pytest.fail(f"bids-validator is required in CI: {reason}")
        pytest.skip(reason)
    return binary


@pytest.mark.slow
def test_the_export_passes_the_official_bids_validator(recorded, sequence, tmp_path):
    binary = _validator()
    out = tmp_path / "bids"
    _export(sequence.study, out)
    report, code = _validate(binary, out)
    # The Node validator (1.x, the last without Deno) predates BIDS 1.10: it knows every file of
    # the export but the physio events, which it calls NOT_INCLUDED. That is its only complaint.
    assert _errors(report) == [("NOT_INCLUDED", {"physioevents"})]
    # Told to skip those (a .bidsignore), it finds nothing wrong with the rest.
    (out / ".bidsignore").write_text("*_physioevents.*\n")
    report, code = _validate(binary, out)
    assert _errors(report) == [] and code == 0
    # Bob watched twice, Dave once; the study names no authors.
    assert {w["key"] for w in report["issues"]["warnings"]} <= {"INCONSISTENT_SUBJECTS", "NO_AUTHORS"}


def _validate(binary: Path, root: Path):
    result = subprocess.run([str(binary), "--json", str(root)], capture_output=True, text=True, timeout=300)
    return json.loads(result.stdout), result.returncode


def _errors(report) -> list:
    """(key, kinds of file) of each error; the kind is the part after the last entity."""
    return [(e["key"], {f["file"]["name"].split("_")[-1].split(".")[0] for f in e.get("files", [])})
            for e in report["issues"]["errors"]]


def test_researchers_download_the_bids_zip(recorded, sequence, bob, carol, charlie, client_for, tmp_path):
    url = f"/api/studies/{sequence.study_id}/recordings/bids.zip"
    assert client_for(bob).get(url).status_code == 403  # observers: no
    assert client_for(charlie).get(url).status_code == 404  # not a member: no such study
    response = client_for(carol).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "download")
    assert "bids/dataset_description.json" in names and "bids/participants.tsv" in names
    assert sum(n.endswith("_physio.tsv.gz") for n in names) == 3
    call_command("import_gaze", str(sequence.study_id), str(sequence.pk), "bob", str(tmp_path / "download/bids"),
                 "--task", "clip", stdout=io.StringIO())
    again = Recording.objects.filter(sequence=sequence, tracker_format="bids").order_by("id")
    _assert_same(selectors.recording_samples(recorded[1]), selectors.recording_samples(again[1]))


def test_a_study_without_finished_recordings_has_nothing_to_export(sequence, carol, client_for, tmp_path):
    response = client_for(carol).get(f"/api/studies/{sequence.study_id}/recordings/bids.zip")
    assert response.status_code == 400 and "no finished recording" in str(response.json())


def test_the_gaze_upload_page_takes_a_bids_zip(recorded, sequence, bob, tmp_path):
    from django.test import Client

    out = tmp_path / "bids"
    _export(sequence.study, out)
    archive = tmp_path / "session.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in (out / "sub-bob/beh").glob("sub-bob_task-clip_run-2_*"):
            zf.write(p, p.name)
    web = Client()
    web.force_login(bob)
    with archive.open("rb") as fh:
        response = web.post(f"/studies/{sequence.study_id}/sequences/{sequence.pk}/upload-gaze/", {"file": fh},
                            HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 201, response.content[:300]
    after = Recording.objects.filter(tracker_format="bids").get()
    _assert_same(selectors.recording_samples(recorded[1]), selectors.recording_samples(after))
    assert after.image_rect == [300, 20, 1280, 960]  # from the sidecar


def test_of_a_binocular_viewing_the_first_eye_is_imported(recorded, sequence, tmp_path):
    out = tmp_path / "bids"
    _export(sequence.study, out)
    beh = out / "sub-daveobrien/beh"
    for p in list(beh.glob("*_recording-eye1_*")):
        shutil.copy(p, beh / p.name.replace("recording-eye1", "recording-eye2"))
    found = bids.bids_recordings_for(out, username="dave.o'brien", sequence_name="clip")
    assert [p.name for p in found] == ["sub-daveobrien_task-clip_run-1_recording-eye1_physio.tsv.gz"]


def test_the_command_names_what_it_could_not_find(recorded, sequence, tmp_path):
    from django.core.management.base import CommandError

    out = tmp_path / "bids"
    _export(sequence.study, out)
    with pytest.raises(CommandError, match="no \\*_physio.tsv.gz of subject sub-nobody"):
        call_command("import_gaze", str(sequence.study_id), str(sequence.pk), "bob", str(out),
                     "--subject", "nobody", stdout=io.StringIO())
    one = out / "sub-bob/beh/sub-bob_task-clip_run-1_recording-eye1_physio.tsv.gz"
    stdout = io.StringIO()
    call_command("import_gaze", str(sequence.study_id), str(sequence.pk), "bob", str(one), stdout=stdout)
    assert "(bids) as recording #3 of bob" in stdout.getvalue()
