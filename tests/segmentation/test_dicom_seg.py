"""DICOM SEG export: a DICOM series in, a run, SEG out, read back with highdicom.

The SEG read back equals the delivered mask (or the score map cut at the recorded threshold),
its per-frame references are the source SOP Instance UIDs in frame order, and dciodvfy (Debian
``dicom3tools``) finds no error in it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation import services as annotation_services
from crowd import services
from segmentation import dicom_seg, export_service
from segmentation import services as seg_services
from segmentation.engine.datasets import load_sample
from tests.dicom_series import write_series
from tests.segmentation.conftest import N_FRAMES, OBSERVERS

hd = pytest.importorskip("highdicom")
pytestmark = pytest.mark.django_db(transaction=True)


def _dciodvfy_errors(data: bytes, tmp_path) -> list[str]:
    """dciodvfy's error lines for a DICOM file (warnings ignored); skipped where not installed."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dciodvfy is missing on CI: .ci/run installs dicom3tools")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    path = tmp_path / "check.dcm"
    path.write_bytes(data)
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture
def dicom_sequence(study, tmp_path):
    """The six BRATS slices as a DICOM MR series, imported into the study."""
    sample = load_sample("brats-pat0001")
    uids = write_series(tmp_path / "series", sample.frames[:N_FRAMES])
    sequence = services.sequence_import(study=study, path=tmp_path / "series", name="pat0001-dicom")
    return sequence, uids


@pytest.fixture
def dicom_run(study, dicom_sequence, small_sample):
    sequence, uids = dicom_sequence
    for name in OBSERVERS:
        user = services.user_get_or_create(username=name)
        annotation_services.recording_import_file(
            sequence=sequence, observer=user, path=small_sample["gaze"][name], fmt="csv", ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error
    return run, uids


def _frame_references(seg) -> list[str]:
    return [str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            for frame in seg.PerFrameFunctionalGroupsSequence]


def _assert_frames_reference_their_source(seg, uids, masks):
    """Each stored SEG frame names one source instance, and holds that instance's mask."""
    references = _frame_references(seg)
    assert len(set(references)) == len(references) and set(references) <= set(uids)
    pixels = seg.pixel_array.reshape(len(references), *masks.shape[1:])
    for k, uid in enumerate(references):
        np.testing.assert_array_equal(pixels[k], masks[uids.index(uid)])
    # Frames left out are empty ones (highdicom omits them).
    left_out = [uids.index(u) for u in set(uids) - set(references)]
    assert not masks[left_out].any()


def _algorithm_parameters(seg) -> dict:
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    return {"name": str(algorithm.AlgorithmName), "parameters": str(algorithm.AlgorithmParameters)}


def test_import_keeps_the_source_headers_in_frame_order(dicom_sequence):
    sequence, uids = dicom_sequence
    headers = dicom_seg.sequence_source_headers(sequence)
    assert [str(h.SOPInstanceUID) for h in headers] == uids
    assert all("PixelData" not in h for h in headers)
    assert headers[0].PatientID == "GC-TEST-001" and headers[0].FrameOfReferenceUID
    stored = sequence.dicom_headers_file.path
    services.sequence_delete(sequence=sequence)
    assert not os.path.exists(stored)


def test_binary_seg_round_trips_the_delivered_mask_on_the_source_instances(dicom_run, tmp_path):
    run, uids = dicom_run
    data, name, content_type = export_service.run_export(run=run, fmt="dicom-seg")
    assert name == "pat0001-dicom.seg.dcm" and content_type == "application/dicom"
    masks = export_service.ground_truth_masks(ground_truth=run.ground_truth)[1]
    assert masks.any(), "the run found nothing: the round trip would prove little"
    seg = hd.seg.segread(io.BytesIO(data))
    assert seg.SegmentationType == "BINARY"
    assert seg.SegmentSequence[0].SegmentLabel == "tumour"
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])[..., 0]
    np.testing.assert_array_equal(back, masks)
    _assert_frames_reference_their_source(seg, uids, masks)
    assert {str(u[2]) for u in seg.get_source_image_uids()} == set(uids)
    algorithm = _algorithm_parameters(seg)
    assert algorithm["name"] == "GazeCrowd"
    assert f"{run.ground_truth.threshold:.6g}" in algorithm["parameters"]
    assert "eel" in algorithm["parameters"]
    assert _dciodvfy_errors(data, tmp_path) == []


def test_binary_seg_at_a_chosen_threshold_is_the_score_map_cut_there(dicom_run):
    run, uids = dicom_run
    scores = export_service.ground_truth_masks(ground_truth=run.ground_truth)[0]
    threshold = float(np.quantile(scores, 0.9))
    data, _, _ = export_service.run_export(run=run, fmt="dicom-seg", threshold=threshold)
    seg = hd.seg.segread(io.BytesIO(data))
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])[..., 0]
    np.testing.assert_array_equal(back, scores >= np.float32(threshold))
    assert f"{threshold:.6g}" in _algorithm_parameters(seg)["parameters"]


def test_fractional_seg_is_the_score_map_to_8_bits(dicom_run, tmp_path):
    run, uids = dicom_run
    data, name, _ = export_service.run_export(run=run, fmt="dicom-seg-fractional")
    assert name == "pat0001-dicom.fractional.seg.dcm"
    scores = export_service.ground_truth_masks(ground_truth=run.ground_truth)[0]
    seg = hd.seg.segread(io.BytesIO(data))
    assert seg.SegmentationType == "FRACTIONAL" and seg.SegmentationFractionalType == "PROBABILITY"
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])[..., 0]
    assert np.abs(back - scores).max() <= 0.5 / 255 + 1e-6
    assert _dciodvfy_errors(data, tmp_path) == []


def test_a_150_slice_series_round_trips(study, tmp_path):
    """The issue's target: a 150-slice series (128x128 here to keep the test quick; the
    512x512 case is timed by bench/dicomweb.py). Masks come from a known volume, not a run, so
    every slice's mask differs and any frame mix-up shows."""
    rng = np.random.default_rng(7)
    volume = rng.random((150, 128, 128))
    uids = write_series(tmp_path / "big", volume)
    sequence = services.sequence_import(study=study, path=tmp_path / "big", name="big")
    assert sequence.n_frames == 150
    frames = np.load(sequence.frames_file.path)
    masks = frames > np.quantile(frames, 0.8)
    sources = dicom_seg.sequence_source_headers(sequence)
    data = dicom_seg.dicom_seg_bytes(sources, masks, kind="BINARY", target="tumour",
                                     algorithm_parameters={"method": "test"})
    seg = hd.seg.segread(io.BytesIO(data))
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])[..., 0]
    np.testing.assert_array_equal(back, masks)
    _assert_frames_reference_their_source(seg, uids, masks)
    assert len(_frame_references(seg)) == 150  # no empty slice: one frame per source
    assert _dciodvfy_errors(data, tmp_path) == []


def test_a_sequence_not_from_dicom_is_refused_with_the_reason(finished_run, client_for, alice):
    with pytest.raises(dicom_seg.NotDicomSourced, match="nifti, not from a DICOM series"):
        export_service.run_export(run=finished_run, fmt="dicom-seg")
    study = finished_run.sequence.study
    response = client_for(alice).get(
        f"/api/studies/{study.pk}/sequences/{finished_run.sequence_id}/ground-truth/dicom-seg/")
    assert response.status_code == 400
    assert "not from a DICOM series" in response.json()["detail"]


def test_api_serves_the_seg_with_the_threshold(dicom_run, client_for, carol):
    run, uids = dicom_run
    study = run.sequence.study
    url = f"/api/studies/{study.pk}/runs/{run.pk}/export/dicom-seg/"
    response = client_for(carol).get(url, {"threshold": "0.3"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom"
    seg = hd.seg.segread(io.BytesIO(response.content))
    assert "0.3" in _algorithm_parameters(seg)["parameters"]
    assert client_for(carol).get(url, {"threshold": "2"}).status_code == 400


def test_command_writes_seg_files_and_says_why_it_skips_others(dicom_run, finished_run, tmp_path, capsys):
    run, _ = dicom_run
    study = run.sequence.study
    call_command("export_ground_truth", str(study.pk), "--format", "dicom-seg", "--out", str(tmp_path / "out"),
                 "--threshold", "0.5")
    captured = capsys.readouterr()
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["pat0001-dicom.seg.dcm"]
    assert "pat0001" in captured.err and "not from a DICOM series" in captured.err
    seg = hd.seg.segread(tmp_path / "out" / "pat0001-dicom.seg.dcm")
    assert "0.5" in _algorithm_parameters(seg)["parameters"]


def test_command_fails_when_no_sequence_can_carry_a_seg(finished_run, tmp_path):
    with pytest.raises(CommandError, match="no DICOM SEG written"):
        call_command("export_ground_truth", str(finished_run.sequence.study.pk), "--format", "dicom-seg",
                     "--out", str(tmp_path / "out"))


def test_seg_downloads_are_offered_for_dicom_sequences_only(dicom_run, finished_run, client_for, alice):
    from django.test import Client

    run, _ = dicom_run
    web = Client()
    web.force_login(alice)
    for each, offered in ((run, True), (finished_run, False)):
        study = each.sequence.study
        detail = client_for(alice).get(f"/api/studies/{study.pk}/runs/{each.pk}/").json()
        assert ("dicom-seg" in detail["exports"]) is offered
        page = web.get(f"/studies/{study.pk}/runs/{each.pk}/")
        assert (b'data-export="dicom-seg"' in page.content) is offered
        assert (b'data-export="dicom-seg-fractional"' in page.content) is offered


def test_a_target_in_any_language_is_kept(tmp_path):
    from tests.dicom_series import series_datasets

    sources = series_datasets(np.random.default_rng(0).random((3, 16, 16)))
    masks = np.zeros((3, 16, 16), np.uint8)
    masks[1, 4:9, 5:10] = 1
    data = dicom_seg.dicom_seg_bytes(sources, masks, kind="BINARY", target="tumeur hépatique 肝",
                                     algorithm_parameters={"method": "eel"})
    seg = hd.seg.segread(io.BytesIO(data))
    assert seg.SegmentSequence[0].SegmentLabel == "tumeur hépatique 肝"
    assert _dciodvfy_errors(data, tmp_path) == []
