"""The review pages' data: volumes and masks as NIfTI, gaze replay JSON, the observer panel.

Alice coordinates, Bob observes, Carol researches, Charlie has no access; Charlie observes
another study of his own (a member elsewhere is still nobody here).
"""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse

from annotation import services as annotation_services
from crowd import services
from crowd.models import StudyMembership
from segmentation import replay, volumes
from segmentation import services as seg_services

from .gaze_scenes import FIXATION_SAMPLES, SACCADE_SAMPLES, fixating_gaze_csv

Role = StudyMembership.Role
pytestmark = pytest.mark.django_db(transaction=True)


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _nifti(data: bytes) -> nib.Nifti1Image:
    return nib.Nifti1Image.from_bytes(gzip.decompress(data))


def _urls(study, sequence, run) -> list[str]:
    s, q, r = study.pk, sequence.pk, run.pk
    return [
        reverse("web:sequence-volume", args=[s, q]), reverse("web:run-volume", args=[s, r]),
        reverse("web:sequence-volume-nifti", args=[s, q]), reverse("web:sequence-reference-nifti", args=[s, q]),
        reverse("web:run-mask-nifti", args=[s, r]), reverse("web:sequence-replay", args=[s, q]),
        reverse("web:run-replay", args=[s, r]), reverse("web:sequence-replay-json", args=[s, q]),
        reverse("web:sequence-replay-json", args=[s, q]) + f"?run={r}",
        reverse("web:sequence-preview", args=[s, q]),
    ]


def test_who_may_open_the_review_pages(study, sequence, finished_run, alice, bob, carol, charlie):
    other = services.study_create(name="Elsewhere", created_by=alice)
    services.membership_set(study=other, user=charlie, role=Role.OBSERVER)
    services.assignment_create(sequence=sequence, observer=bob)  # Bob may record it, not review it
    urls = _urls(study, sequence, finished_run)
    for url in urls:
        assert _client(alice).get(url).status_code == 200, url
        assert _client(carol).get(url).status_code == 200, url
        assert _client(bob).get(url).status_code == 403, url  # an observer of this sequence
        assert _client(charlie).get(url).status_code == 404, url  # an observer of another study
        response = _client(None).get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_permission_changes_take_effect_on_the_next_request(study, sequence, finished_run, carol):
    client = _client(carol)
    url = reverse("web:sequence-replay-json", args=[study.pk, sequence.pk])
    assert client.get(url).status_code == 200
    services.membership_set(study=study, user=carol, role=Role.OBSERVER)
    assert client.get(url).status_code == 404  # an observer sees only the sequences assigned to them
    services.assignment_create(sequence=sequence, observer=carol)
    assert client.get(url).status_code == 403  # and may record them, not review them


def test_the_volume_is_the_uploaded_one_voxel_for_voxel(study, sequence, small_sample, carol):
    response = _client(carol).get(reverse("web:sequence-volume-nifti", args=[study.pk, sequence.pk]))
    assert response["Content-Type"] == "application/gzip"
    served = _nifti(response.content)
    uploaded = nib.load(small_sample["frames"])
    np.testing.assert_array_equal(np.asarray(served.dataobj), np.asarray(uploaded.dataobj))
    np.testing.assert_allclose(served.affine, uploaded.affine)
    reference = _nifti(_client(carol).get(
        reverse("web:sequence-reference-nifti", args=[study.pk, sequence.pk])).content)
    np.testing.assert_array_equal(np.asarray(reference.dataobj), np.asarray(nib.load(small_sample["truth"]).dataobj))


def test_the_computed_mask_is_the_downloaded_one(study, sequence, finished_run, carol):
    shown = _nifti(_client(carol).get(reverse("web:run-mask-nifti", args=[study.pk, finished_run.pk])).content)
    export = _client(carol).get(reverse("run-export", args=[study.pk, finished_run.pk, "nifti"]))
    assert export.status_code == 200
    downloaded = nib.Nifti1Image.from_bytes(gzip.decompress(b"".join(export.streaming_content)
                                                            if export.streaming else export.content))
    np.testing.assert_array_equal(np.asarray(shown.dataobj), np.asarray(downloaded.dataobj))
    assert np.asarray(shown.dataobj).any()


def test_a_volume_read_along_its_first_axis_is_put_back_that_way(study, tmp_path, carol):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, (5, 7, 9)).astype(np.int16)
    affine = np.diag([2.5, 0.8, 0.7, 1.0])  # slices 2.5 mm apart along the first axis
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "axial.nii.gz")
    sequence = services.sequence_import(study=study, path=tmp_path / "axial.nii.gz", axis=0)
    assert sequence.n_frames == 5 and volumes.slice_axis(sequence) == (0, True)
    served = _nifti(_client(carol).get(reverse("web:sequence-volume-nifti", args=[study.pk, sequence.pk])).content)
    np.testing.assert_array_equal(np.asarray(served.dataobj), data)
    page = _client(carol).get(reverse("web:sequence-preview", args=[study.pk, sequence.pk])).content.decode()
    assert "along the volume&#x27;s first (i) axis (from the voxel sizes)" in page


def test_an_isotropic_volume_keeps_the_import_default_and_says_so(study, tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.uint8), np.eye(4)), tmp_path / "iso.nii.gz")
    sequence = services.sequence_import(study=study, path=tmp_path / "iso.nii.gz")
    assert volumes.slice_axis(sequence) == (2, False)


def test_the_volume_viewer_refuses_a_video_with_a_reason(study, carol):
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    import io
    import zipfile

    import imageio.v3 as iio
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, f in enumerate(frames):
            archive.writestr(f"f/{k:03d}.png", iio.imwrite("<bytes>", f, extension=".png"))
    import tempfile
    from pathlib import Path
    path = Path(tempfile.mkdtemp()) / "clip.zip"
    path.write_bytes(buffer.getvalue())
    sequence = services.sequence_import(study=study, path=path)
    response = _client(carol).get(reverse("web:sequence-volume", args=[study.pk, sequence.pk]))
    assert response.status_code == 404
    response = _client(carol).get(reverse("web:sequence-preview", args=[study.pk, sequence.pk]))
    assert response.status_code == 200 and b"Slice axis" not in response.content


def test_replay_data_holds_samples_and_fixations(study, sequence, carol, tmp_path):
    """Two observers, one steady fixation per slice each: the replay has every one of them, in
    place, with its length and slice."""
    points = {"olga": [(40.0 + 20 * k, 60.0 + 10 * k) for k in range(sequence.n_frames)],
              "omar": [(200.0 - 25 * k, 150.0) for k in range(sequence.n_frames)]}
    for seed, (name, where) in enumerate(points.items()):
        annotation_services.recording_import_file(
            sequence=sequence, observer=services.user_get_or_create(username=name),
            path=fixating_gaze_csv(tmp_path, name, where, seed=seed), fmt="csv", ensure_member=True)
    data = _client(carol).get(reverse("web:sequence-replay-json", args=[study.pk, sequence.pk])).json()
    assert [r["observer"] for r in data["recordings"]] == ["olga", "omar"]
    assert data["frames"] == sequence.n_frames and not data["truncated"]
    for r in data["recordings"]:
        s = r["samples"]
        n = sequence.n_frames * FIXATION_SAMPLES + (sequence.n_frames - 1) * SACCADE_SAMPLES
        assert len(s["t"]) == len(s["frame"]) == len(s["x"]) == len(s["y"]) == n and not r["thinned"]
        assert len(r["fixations"]) == sequence.n_frames
        for k, (_t0, x, y, duration, frame) in enumerate(r["fixations"]):
            assert frame == k
            assert abs(x - points[r["observer"]][k][0]) < 1 and abs(y - points[r["observer"]][k][1]) < 1
            assert 230 <= duration <= 270  # 233 ms, plus a saccade sample still within a degree


def test_replay_data_is_bounded(study, sequence, import_recordings, carol, monkeypatch):
    import_recordings()
    monkeypatch.setattr(replay, "MAX_RECORDINGS", 2)
    monkeypatch.setattr(replay, "MAX_SAMPLES", 50)
    data = _client(carol).get(reverse("web:sequence-replay-json", args=[study.pk, sequence.pk])).json()
    assert len(data["recordings"]) == 2 and data["truncated"]
    assert all(len(r["samples"]["t"]) == 50 and r["thinned"] for r in data["recordings"])


def test_replay_of_a_run_names_a_run_of_this_sequence(study, sequence, finished_run, carol, tmp_path):
    client = _client(carol)
    url = reverse("web:sequence-replay-json", args=[study.pk, sequence.pk])
    assert client.get(url + "?run=abc").status_code == 400
    assert client.get(url + "?run=999999").status_code == 404
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.uint8), np.eye(4)), tmp_path / "other.nii.gz")
    other = services.sequence_import(study=study, path=tmp_path / "other.nii.gz")
    other_url = reverse("web:sequence-replay-json", args=[study.pk, other.pk])
    assert client.get(other_url + f"?run={finished_run.pk}").status_code == 404
    data = client.get(url + f"?run={finished_run.pk}").json()
    assert sorted(r["id"] for r in data["recordings"]) == sorted(
        r["id"] for r in finished_run.observers["recordings"])


def test_the_observer_panel_gives_the_runs_reasons(study, sequence, import_recordings, small_sample,
                                                   carol, tmp_path):
    """Dave lost the eye on 4 samples of 5: the run flags him; the panel says why, in the run's
    words, with his statistics, and passes the others."""
    import_recordings()
    gaze = pd.read_csv(small_sample["gaze"]["observer-1"])
    lost = np.arange(len(gaze)) % 5 != 0
    gaze.loc[lost, ["x", "y"]] = np.nan
    gaze["observer"] = "dave"
    gaze.to_csv(tmp_path / "dave.csv", index=False, na_rep="")
    annotation_services.recording_import_file(
        sequence=sequence, observer=services.user_get_or_create(username="dave"), path=tmp_path / "dave.csv",
        fmt="csv", ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error
    assert "dave" in run.observers["flagged"]
    panel = {o["observer"]: o for o in replay.observer_panel(run=run)}
    assert set(panel) == set(run.observers["weights"])
    dave = panel["dave"]
    assert dave["flagged"] and dave["flag_reason"] == run.observers["flag_reasons"]["dave"]
    (recording,) = dave["recordings"]
    valid = dict(recording["stats"])["valid samples (eye found)"]
    assert recording["reasons"][0] == f"only {valid} of the samples are valid (eye lost)"
    assert int(valid.rstrip("%")) <= 20
    # the run's reason is made of the recordings' reasons, word for word
    assert all(reason in dave["flag_reason"] for reason in recording["reasons"])
    assert not any(o["flagged"] for name, o in panel.items() if name != "dave")
    page = _client(carol).get(reverse("web:run-replay", args=[study.pk, run.pk])).content.decode()
    assert "Flagged because" in page and recording["reasons"][0] in page
    results = _client(carol).get(reverse("web:run", args=[study.pk, run.pk])).content.decode()
    assert reverse("web:run-replay", args=[study.pk, run.pk]) in results


def test_a_dicom_series_is_served_as_a_volume_with_its_voxel_sizes(study, tmp_path, carol):
    from tests.crowd.test_sequence_import import _dicom_zip

    volume = np.stack([np.full((16, 12), 100 * k, np.uint16) for k in range(3)])
    volume[:, 2, 3] = 7  # a voxel that shows rows and columns are not swapped
    (tmp_path / "ct.zip").write_bytes(_dicom_zip(volume))
    sequence = services.sequence_import(study=study, path=tmp_path / "ct.zip")
    assert sequence.modality == "dicom" and volumes.is_volume(sequence)
    served = _nifti(_client(carol).get(reverse("web:sequence-volume-nifti", args=[study.pk, sequence.pk])).content)
    data = np.asarray(served.dataobj)
    assert data.shape == (16, 12, 3)
    # slices in the order of their position (the zip lists them reversed), one per frame
    np.testing.assert_array_equal(data[:, :, 0], volume[2])
    np.testing.assert_array_equal(data[:, :, 2], volume[0])
    assert served.header.get_zooms()[:3] == (0.5, 0.5, 3.0)
    page = _client(carol).get(reverse("web:sequence-volume", args=[study.pk, sequence.pk]))
    assert page.status_code == 200 and b"series&#x27; images" in page.content


def test_a_built_volume_is_kept_within_its_byte_budget(study, sequence, tmp_path, monkeypatch):
    first = volumes.volume_nifti_bytes(sequence)
    monkeypatch.setattr(volumes.storage, "load_npy", lambda *a, **k: pytest.fail("read again"))
    assert volumes.volume_nifti_bytes(sequence) == first  # kept: the frames are not read again
    monkeypatch.undo()
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3), np.uint8), np.eye(4)), tmp_path / "small.nii.gz")
    other = services.sequence_import(study=study, path=tmp_path / "small.nii.gz")
    monkeypatch.setattr(volumes, "KEPT_BYTES", len(first) + 10)
    volumes.volume_nifti_bytes(other)  # over the budget together: the older one goes
    assert sequence.frames_file.name not in {key[0] for key in volumes._KEPT}
    assert other.frames_file.name in {key[0] for key in volumes._KEPT}
