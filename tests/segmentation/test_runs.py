"""Recordings become estimates; the quorum starts a run; a run writes one result, once."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from segmentation import export_service, services
from segmentation.models import GroundTruth, ObserverEstimate, PreparedSequence, Report, Run

from .conftest import N_FRAMES, OBSERVERS

pytestmark = pytest.mark.django_db(transaction=True)


def test_finishing_a_recording_computes_its_estimate(import_recordings):
    (recording,) = import_recordings(["observer-1"])
    estimate = ObserverEstimate.objects.get(recording=recording)
    assert estimate.n_gaze_points > 0
    assert PreparedSequence.objects.count() == 1  # superpixels computed once for the sequence
    assert not Run.objects.exists()  # 1 of 4: quorum not reached


def test_quorum_starts_one_run_that_succeeds_with_metrics_and_report(study, import_recordings):
    from crowd.services import study_update

    study_update(study=study, quorum=len(OBSERVERS))
    import_recordings()
    assert ObserverEstimate.objects.count() == len(OBSERVERS)
    assert PreparedSequence.objects.count() == 1
    run = Run.objects.get()
    assert run.trigger == Run.Trigger.QUORUM
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.progress == 1.0
    assert set(run.timings) >= {"prepare", "estimates", "segment", "report", "total"}
    eel = run.metrics["methods"]["eel"]
    assert 0.5 < eel["auc"] <= 1.0
    assert set(run.metrics["methods"]) == {"eel", "el", "probability", "vilarino"}
    assert run.metrics["frames_scored"] == N_FRAMES
    assert set(run.observers["weights"]) == set(OBSERVERS)
    assert sum(run.observers["weights"].values()) == pytest.approx(1.0)
    assert {"report.html", "observers.csv"} <= set(run.report.files)
    assert "roc.png" in run.report.files  # reference masks are attached


def test_exports_open_and_agree(finished_run, small_sample):
    run = finished_run
    masks = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz")[0]))["masks"]
    assert masks.shape == (N_FRAMES, 240, 240) and masks.dtype == np.uint8

    nii, name, _ = export_service.run_export(run=run, fmt="nifti")
    assert name == "pat0001.nii.gz"
    img = nib.Nifti1Image.from_bytes(gzip.decompress(nii))
    np.testing.assert_allclose(img.affine, small_sample["affine"])
    np.testing.assert_array_equal(np.moveaxis(np.asarray(img.dataobj), -1, 0), masks)

    with zipfile.ZipFile(io.BytesIO(export_service.run_export(run=run, fmt="png")[0])) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))
        pngs = [np.asarray(Image.open(io.BytesIO(archive.read(n)))) > 0 for n in names]
        meta = json.loads(archive.read("ground_truth.json"))
    np.testing.assert_array_equal(np.stack(pngs), masks > 0)
    assert meta["threshold"] == run.ground_truth.threshold and meta["run"] == run.pk

    from segmentation.export_formats import coco_decode

    doc = json.loads(export_service.run_export(run=run, fmt="coco")[0])
    np.testing.assert_array_equal(coco_decode(doc, frames=N_FRAMES), masks)
    assert doc["categories"][0]["name"] == "tumour"


def test_exports_at_two_thresholds_differ_as_expected_and_record_the_threshold(finished_run):
    run = finished_run
    gt = run.ground_truth
    assert gt.threshold_rule == "gaze-contrast" and 0.0 < gt.threshold < 1.0
    own = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz")[0]))
    scores = own["scores"]
    # The run's masks are its stored map cut at the threshold it recorded.
    np.testing.assert_array_equal(own["masks"], scores >= np.float32(gt.threshold))
    lo, hi = round(gt.threshold / 2, 4), round((gt.threshold + 1) / 2, 4)
    at_lo = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz", threshold=lo)[0]))
    at_hi = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz", threshold=hi)[0]))
    np.testing.assert_array_equal(at_lo["masks"], scores >= np.float32(lo))
    assert at_hi["masks"].sum() < own["masks"].sum() <= at_lo["masks"].sum()
    assert not (at_hi["masks"] & ~at_lo["masks"]).any()  # a higher cut is a subset
    assert float(at_lo["threshold"]) == lo
    assert json.loads(str(at_hi["metadata"]))["threshold_rule"] == "user"
    img = nib.Nifti1Image.from_bytes(gzip.decompress(
        export_service.run_export(run=run, fmt="nifti", threshold=hi)[0]))
    assert f"thr={hi:.4f} user".encode() in bytes(img.header["descrip"])
    doc = json.loads(export_service.run_export(run=run, fmt="coco", threshold=lo)[0])
    assert doc["info"]["gazecrowd"]["threshold"] == lo
    assert doc["info"]["gazecrowd"]["run_threshold"] == gt.threshold
    for bad in ("-0.1", "1.5", "nan", "inf", "abc"):
        with pytest.raises(ValueError, match="threshold must be a number in"):
            export_service.run_export(run=run, fmt="png", threshold=bad)


def test_the_reference_never_decides(study, small_sample, finished_run):
    """A sequence without reference masks gets exactly the masks of one with them."""
    from annotation import services as annotation_services
    from crowd import services as crowd_services
    from segmentation import services as seg_services

    blind = crowd_services.sequence_import(study=study, path=small_sample["frames"],
                                           name="pat0001-blind")
    for recording in finished_run.sequence.recordings.all():
        annotation_services.recording_import_file(
            sequence=blind, observer=recording.observer,
            path=small_sample["gaze"][recording.observer.get_username()], fmt="csv",
            ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=blind,
                                           parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.metrics == {}  # nothing to score against
    with_truth = np.load(io.BytesIO(export_service.run_export(run=finished_run, fmt="npz")[0]))
    without = np.load(io.BytesIO(export_service.run_export(run=run, fmt="npz")[0]))
    assert run.ground_truth.threshold == finished_run.ground_truth.threshold
    np.testing.assert_array_equal(without["scores"], with_truth["scores"])
    np.testing.assert_array_equal(without["masks"], with_truth["masks"])


def test_a_run_executed_twice_gives_one_result(finished_run):
    run = finished_run
    gt_before = GroundTruth.objects.get(run=run).pk
    services.run_execute(run_id=run.pk)  # a duplicate delivery of a finished run
    run.refresh_from_db()
    assert run.attempts == 1 and run.status == Run.Status.SUCCEEDED
    assert GroundTruth.objects.filter(run=run).count() == 1
    assert GroundTruth.objects.get(run=run).pk == gt_before
    with pytest.raises(ValueError, match="only a failed run"):
        services.run_retry(run=run)


def test_a_redelivered_running_run_is_redone_into_the_same_single_result(finished_run):
    run = finished_run
    # A worker died mid-run: the broker redelivers while the row still says "running".
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 2
    assert GroundTruth.objects.filter(run=run).count() == 1
    assert ObserverEstimate.objects.count() == len(OBSERVERS)  # cached, not recomputed
    assert Report.objects.filter(run=run).count() == 1


def test_a_run_without_recordings_fails_with_its_reason_and_can_be_retried(study, sequence, import_recordings):
    (run,) = services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "no finished recording" in run.error
    import_recordings(["observer-1"])
    services.run_retry(run=run)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.attempts == 2


def test_unknown_parameter_is_refused(study, sequence):
    from segmentation.parameters import ParameterError

    with pytest.raises(ParameterError, match="unknown run parameter 'colour'"):
        services.study_run_create(study=study, parameters={"colour": "red"})


def test_booster_parameters_are_checked():
    from segmentation.parameters import ParameterError, resolve

    assert resolve({})["rounds"] == 200 and resolve({})["bags"] == 3
    assert resolve({"rounds": "50", "bags": "1"}) | {} == resolve({}) | {"rounds": 50, "bags": 1}
    for bad, message in (({"rounds": 0}, "rounds must be in"), ({"bags": 50}, "bags must be in"),
                         ({"bags": "many"}, "bad run parameter")):
        with pytest.raises(ParameterError, match=message):
            resolve(bad)


def test_run_defaults_are_the_engine_defaults():
    from segmentation.engine import N_BAGS, N_ROUNDS
    from segmentation.parameters import DEFAULTS

    assert (DEFAULTS["rounds"], DEFAULTS["bags"]) == (N_ROUNDS, N_BAGS)


def test_every_method_has_a_label():
    from segmentation.engine import METHODS
    from segmentation.parameters import METHOD_LABELS

    assert set(METHOD_LABELS) == set(METHODS)


def test_a_recordings_measured_accuracy_reaches_the_engine(study, sequence, import_recordings):
    """Bob's webcam validated at 3.2 degrees: the run's pool names it; the others' are unknown."""
    recordings = import_recordings()
    webcam = recordings[1]
    webcam.validation_error_deg, webcam.drift_error_deg = 3.2, 1.1
    webcam.save(update_fields=["validation_error_deg", "drift_error_deg"])
    (run,) = services.study_run_create(study=study, sequence=sequence,
                                       parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    by_id = {r["id"]: r for r in run.observers["recordings"]}
    assert by_id[webcam.pk]["accuracy_deg"] == 3.2  # the worse of validation and drift
    assert all(by_id[r.pk]["accuracy_deg"] is None for r in recordings if r.pk != webcam.pk)
    name = webcam.observer.get_username()
    assert "accuracy 3.2 deg" in run.observers["notes"][name]
    # Known to be off by up to 3.2 degrees, it was aligned on the others (bounded by that).
    offset = by_id[webcam.pk]["offset_px"]
    assert offset is not None and np.hypot(*offset) <= 3.2 * 12.0 + 1e-6
    assert all(by_id[r.pk]["offset_px"] is None for r in recordings if r.pk != webcam.pk)
