"""The review API: a reviewed threshold, hand-corrected ground-truth versions, comparisons.

Bounds (frames, sizes, payloads), permissions (coordinators write; researchers read;
observers and outsiders neither) and provenance are checked against a run whose score map is
known (tests/review_scene.py) on the six BRATS slices of this folder's conftest.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
from django.db import IntegrityError, transaction
from PIL import Image

from segmentation import selectors
from segmentation.compare import frame_agreement, worst_frames
from segmentation.models import GroundTruth, GroundTruthVersion
from tests.review_scene import hill_scores, scored_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_array_cache(monkeypatch):
    """Run ids (and so ground-truth file names) are reused after a rolled-back test on SQLite:
    each test starts with an empty decoded-array cache, as a new server process would."""
    from segmentation import overlays

    monkeypatch.setattr(overlays, "_ground_truth", overlays._ArrayCache())


@pytest.fixture
def run(study, sequence):
    scores = hill_scores(sequence.n_frames, sequence.height, sequence.width,
                         lambda k: (sequence.width / 2 + 3 * k, sequence.height / 2), sigma=30.0)
    return scored_run(study=study, sequence=sequence, scores=scores, threshold=0.5)


@pytest.fixture
def media_files(settings):
    """A callable listing every file in media storage (to prove nothing was left behind)."""
    from pathlib import Path

    return lambda: sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def _url(run, tail):
    return f"/api/studies/{run.study_id}/{tail}"


def _png(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray((mask > 0).astype(np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _zip_masks(data: bytes) -> tuple[np.ndarray, dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))
        masks = np.stack([np.asarray(Image.open(io.BytesIO(archive.read(n)))) > 0 for n in names])
        return masks, json.loads(archive.read("ground_truth.json"))


def _levels(run) -> np.ndarray:
    with np.load(run.ground_truth.file.path) as z:
        return z["scores"]


# --- the reviewed threshold ------------------------------------------------------------------


def test_a_saved_threshold_is_what_exports_cut_at_with_who_and_when(run, alice, client_for):
    client = client_for(alice)
    response = client.put(_url(run, f"runs/{run.pk}/threshold/"), {"threshold": 0.3}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["threshold"] == 0.3 and response.json()["rule_threshold"] == 0.5
    gt = GroundTruth.objects.get(pk=run.ground_truth.pk)
    assert gt.reviewed_threshold == 0.3 and gt.reviewed_by == alice and gt.reviewed_at is not None
    assert gt.threshold == 0.5  # the rule's choice is kept (the slider marks it)

    data = client.get(_url(run, f"runs/{run.pk}/export/png/")).content
    masks, meta = _zip_masks(data)
    expected = _levels(run).astype(np.float32) / np.float32(65535) >= np.float32(0.3)
    np.testing.assert_array_equal(masks, expected)
    assert meta["threshold"] == 0.3 and meta["threshold_rule"] == "reviewed" and meta["reviewed_by"] == "alice"
    assert meta["run_threshold"] == 0.5
    # The sequence's current ground truth follows it too.
    seq = client.get(_url(run, f"sequences/{run.sequence_id}/ground-truth/png/")).content
    np.testing.assert_array_equal(_zip_masks(seq)[0], expected)

    # null: back to the rule's choice.
    assert client.put(_url(run, f"runs/{run.pk}/threshold/"), {"threshold": None}, format="json").status_code == 200
    masks, meta = _zip_masks(client.get(_url(run, f"runs/{run.pk}/export/png/")).content)
    assert meta["threshold"] == 0.5 and meta["threshold_rule"] == "gaze-contrast"


@pytest.mark.parametrize("value", [1.5, -0.1, "nan", "abc", "inf"])
def test_a_bad_threshold_is_refused_and_changes_nothing(run, alice, client_for, value):
    response = client_for(alice).put(_url(run, f"runs/{run.pk}/threshold/"), {"threshold": value}, format="json")
    assert response.status_code == 400
    assert "threshold" in response.json()
    assert GroundTruth.objects.get(pk=run.ground_truth.pk).reviewed_threshold is None


def test_the_database_refuses_a_reviewed_threshold_out_of_range(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        GroundTruth.objects.filter(pk=run.ground_truth.pk).update(reviewed_threshold=1.5)


def test_only_coordinators_save_a_threshold(run, bob, carol, charlie, client_for):
    url = _url(run, f"runs/{run.pk}/threshold/")
    assert client_for(carol).get(url).status_code == 200  # researchers read it
    assert client_for(carol).put(url, {"threshold": 0.2}, format="json").status_code == 403
    assert client_for(bob).put(url, {"threshold": 0.2}, format="json").status_code == 403
    assert client_for(charlie).put(url, {"threshold": 0.2}, format="json").status_code == 404
    assert client_for(None).put(url, {"threshold": 0.2}, format="json").status_code in (401, 403)
    assert GroundTruth.objects.get(pk=run.ground_truth.pk).reviewed_threshold is None


# --- versions ---------------------------------------------------------------------------------


def _stroke(run, frame=2):
    mask = np.zeros((run.sequence.height, run.sequence.width), bool)
    mask[5:15, 5:40] = True  # a bar far from the hill
    return mask


def test_a_correction_is_a_new_version_and_earlier_ones_stay_downloadable(run, alice, carol, client_for):
    client = client_for(alice)
    versions = _url(run, f"sequences/{run.sequence_id}/ground-truth/versions/")
    stroke = _stroke(run)
    response = client.post(versions, {"run": run.pk, "threshold": 0.5, "note": "bar added",
                                      "frames": [{"index": 2, "png": _png(stroke)}]}, format="json")
    assert response.status_code == 201, response.content
    v1 = response.json()
    assert v1["version"] == 1 and v1["run"] == run.pk and v1["editor"] == "alice"
    assert v1["frames_edited"] == [2] and v1["threshold"] == 0.5 and v1["note"] == "bar added"

    computed = _levels(run).astype(np.float32) / np.float32(65535) >= np.float32(0.5)
    response = client_for(carol).get(_url(run, f"sequences/{run.sequence_id}/ground-truth/png/?version=1"))
    assert response.status_code == 200
    assert "_gt-v1.zip" in response["Content-Disposition"]
    masks, meta = _zip_masks(response.content)
    np.testing.assert_array_equal(masks[2], stroke)
    np.testing.assert_array_equal(np.delete(masks, 2, axis=0), np.delete(computed, 2, axis=0))
    assert meta["version"] == 1 and meta["editor"] == "alice" and meta["frames_edited"] == [2]
    assert meta["run"] == run.pk

    # Version 2 starts from version 1 and changes frame 0 only.
    response = client.post(versions, {"base_version": 1, "frames": [
        {"index": 0, "png": "data:image/png;base64," + _png(np.zeros_like(stroke))}]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2 and response.json()["base_version"] == 1
    v2 = _zip_masks(client.get(_url(run, f"sequences/{run.sequence_id}/ground-truth/png/?version=2")).content)[0]
    assert not v2[0].any()
    np.testing.assert_array_equal(v2[2], stroke)
    again = _zip_masks(client.get(_url(run, f"sequences/{run.sequence_id}/ground-truth/png/?version=1")).content)[0]
    np.testing.assert_array_equal(again, masks)  # version 1 unchanged

    listed = client_for(carol).get(versions).json()
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[1]["downloads"]["nifti"].endswith("/ground-truth/nifti/?version=2")
    # Without ?version the current ground truth is the newest version (newer than the run).
    current = _zip_masks(client.get(_url(run, f"sequences/{run.sequence_id}/ground-truth/png/")).content)
    np.testing.assert_array_equal(current[0], v2)
    # NIfTI names the version in its description.
    nifti = client.get(_url(run, f"sequences/{run.sequence_id}/ground-truth/nifti/?version=2"))
    assert "_gt-v2.nii.gz" in nifti["Content-Disposition"]


def _post(client, run, body, **extra):
    return client.post(_url(run, f"sequences/{run.sequence_id}/ground-truth/versions/"), body,
                       format="json", **extra)


@pytest.mark.parametrize("frames, words", [
    ([{"index": 6, "png": None}], "frame 7 does not exist"),
    ([{"index": -1, "png": "x"}], "index"),
    ([{"index": 1, "png": "not base64 !!"}], "not base64"),
    ([{"index": 1, "png": base64.b64encode(b"GIF89a" + bytes(40)).decode()}], "not a PNG"),
    ([{"index": 1, "png": "WRONG_SIZE"}], "the sequence's frames are"),
    ([{"index": 1, "png": "TRUNCATED"}], "could not be read"),
    ([{"index": 1, "png": "OK"}, {"index": 1, "png": "OK"}], "twice"),
    ([], "frames"),
])
def test_bad_corrections_are_refused_naming_the_problem_and_store_nothing(run, alice, client_for,
                                                                          media_files, frames, words):
    good = _png(_stroke(run))
    wrong = _png(np.zeros((run.sequence.height + 1, run.sequence.width), bool))
    truncated = base64.b64encode(base64.b64decode(good)[:40]).decode()
    for f in frames:
        f["png"] = {"OK": good, "WRONG_SIZE": wrong, "TRUNCATED": truncated, None: good}.get(f["png"], f["png"])
    before = media_files()
    response = _post(client_for(alice), run, {"run": run.pk, "frames": frames})
    assert response.status_code == 400, response.content
    assert words in json.dumps(response.json())
    assert GroundTruthVersion.objects.count() == 0
    assert media_files() == before


def test_an_upload_over_budget_is_refused_from_its_header(run, alice, client_for):
    from segmentation.services.review import request_budget

    budget = request_budget(run.sequence, run.sequence.n_frames)
    response = _post(client_for(alice), run, {"run": run.pk, "frames": [{"index": 0, "png": "x"}]},
                     CONTENT_LENGTH=str(budget + 1))
    assert response.status_code == 413
    assert GroundTruthVersion.objects.count() == 0


def test_a_run_of_another_sequence_or_study_is_refused(run, alice, client_for, study, small_sample):
    from crowd import services as crowd_services

    other = crowd_services.sequence_import(study=study, path=small_sample["frames"], name="other")
    response = client_for(alice).post(
        f"/api/studies/{study.pk}/sequences/{other.pk}/ground-truth/versions/",
        {"run": run.pk, "frames": [{"index": 0, "png": _png(_stroke(run))}]}, format="json")
    assert response.status_code == 400 and "not a run of sequence" in response.content.decode()
    response = _post(client_for(alice), run, {"run": 999999, "frames": [{"index": 0, "png": _png(_stroke(run))}]})
    assert response.status_code == 400 and "no run 999999" in response.content.decode()


def test_only_coordinators_save_versions_and_observers_read_none(run, bob, carol, charlie, client_for):
    body = {"run": run.pk, "frames": [{"index": 0, "png": _png(_stroke(run))}]}
    assert _post(client_for(carol), run, body).status_code == 403
    assert _post(client_for(bob), run, body).status_code == 403
    assert _post(client_for(charlie), run, body).status_code == 404
    versions = _url(run, f"sequences/{run.sequence_id}/ground-truth/versions/")
    assert client_for(bob).get(versions).status_code == 403
    assert client_for(charlie).get(versions).status_code == 404
    assert GroundTruthVersion.objects.count() == 0


def test_version_query_is_bounded(run, alice, client_for):
    client = client_for(alice)
    base = _url(run, f"sequences/{run.sequence_id}/ground-truth/png/")
    assert client.get(base + "?version=abc").status_code == 400
    assert client.get(base + "?version=0").status_code == 400
    assert client.get(base + "?version=99999999999999999999999").status_code == 400
    assert client.get(base + "?version=²").status_code == 400  # a digit to str.isdigit, not to int()
    response = client.get(base + "?version=3")
    assert response.status_code == 404 and "no corrected version yet" in response.content.decode()
    _post(client, run, {"run": run.pk, "frames": [{"index": 0, "png": _png(_stroke(run))}]})
    assert client.get(base + "?version=1&threshold=0.2").status_code == 400


def test_the_database_refuses_a_version_number_below_one(run, alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        GroundTruthVersion.objects.create(sequence=run.sequence, number=0, editor_name="x", file="x.npz")


# --- compare ----------------------------------------------------------------------------------


def test_compare_gives_each_reference_frames_dice_and_the_worst_first(run, carol, client_for, small_sample):
    response = client_for(carol).get(_url(run, f"runs/{run.pk}/compare/?threshold=0.4"))
    assert response.status_code == 200, response.content
    body = response.json()
    truth = small_sample["truth_array"] > 0
    predicted = _levels(run).astype(np.float32) / np.float32(65535) >= np.float32(0.4)
    frames = list(run.sequence.mask_frames)
    assert [f["frame"] for f in body["frames"]] == frames
    for row in body["frames"]:
        p, t = predicted[row["frame"]], truth[row["frame"]]
        tp, fp, fn = (p & t).sum(), (p & ~t).sum(), (~p & t).sum()
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn)
        assert row["dice"] == pytest.approx(1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn), abs=1e-6)
    dices = {f["frame"]: f["dice"] for f in body["frames"]}
    assert body["worst"][0] == min(dices, key=lambda k: (dices[k], k))
    assert body["right"] == "reference masks"


def test_compare_two_versions(run, alice, client_for):
    client = client_for(alice)
    stroke = _stroke(run)
    _post(client, run, {"run": run.pk, "frames": [{"index": 2, "png": _png(stroke)}]})
    body = client.get(_url(run, f"runs/{run.pk}/compare/?version=1&threshold=") + "&against=1").json()
    assert all(f["dice"] == 1.0 for f in body["frames"]) and len(body["frames"]) == run.sequence.n_frames
    body = client.get(_url(run, f"runs/{run.pk}/compare/?against=1&threshold=0.5")).json()
    assert body["worst"][0] == 2 and body["frames"][2]["dice"] < 1.0


def test_frame_agreement_counts_and_empty_frames():
    a = np.zeros((2, 3, 3), bool)
    b = np.zeros((2, 3, 3), bool)
    a[1, 0, :2] = True
    b[1, 0, 1:] = True
    rows = frame_agreement(a, b, [0, 1])
    assert rows[0] == {"frame": 0, "tp": 0, "fp": 0, "fn": 0, "dice": 1.0}
    assert rows[1]["tp"] == 1 and rows[1]["fp"] == 1 and rows[1]["fn"] == 1 and rows[1]["dice"] == 0.5
    assert worst_frames(rows, 1) == [1]


def test_selectors_current_ground_truth_prefers_the_newer(run, alice):
    assert selectors.ground_truth_current(sequence=run.sequence) == (run, None)


def test_one_row_of_a_stored_npz_is_read_without_decoding_the_rest(settings, tmp_path):
    from crowd import storage
    from segmentation.overlays import _ArrayCache

    settings.MEDIA_ROOT = tmp_path / "media"
    levels = np.random.default_rng(1).integers(0, 65535, (5, 7, 9), dtype=np.uint16)
    name = storage.save_npz("ground_truth/rows.npz", scores=levels, masks=(levels > 30000).astype(np.uint8))
    for k in range(5):
        np.testing.assert_array_equal(storage.load_npz_row(name, "scores", k), levels[k])
    assert storage.load_npz_row(name, "scores", 5) is None
    assert storage.load_npz_row(name, "nothing", 0) is None
    cache = _ArrayCache()
    np.testing.assert_array_equal(cache.row(name, "scores", 3), levels[3])  # streamed, then cached
    cache.get(name)
    np.testing.assert_array_equal(cache.row(name, "masks", 4), levels[4] > 30000)
    assert cache.row(name, "scores", 9) is None


def test_review_layers_are_the_stored_values_and_for_readers_only(run, alice, bob, carol, small_sample):
    import gzip

    from django.test import Client

    def get(user, layer, k):
        client = Client()
        client.force_login(user)
        return client.get(f"/studies/{run.study_id}/runs/{run.pk}/review/{layer}/{k}.bin")

    response = get(carol, "scores", 2)
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    levels = np.frombuffer(gzip.decompress(response.content), "<u2").reshape(run.sequence.height, run.sequence.width)
    np.testing.assert_array_equal(levels, _levels(run)[2])
    frame = run.sequence.mask_frames[0]
    reference = np.frombuffer(gzip.decompress(get(alice, "reference", frame).content), np.uint8)
    np.testing.assert_array_equal(reference.reshape(levels.shape), small_sample["truth_array"][frame] > 0)
    assert get(bob, "scores", 0).status_code == 403
    assert get(carol, "scores", run.sequence.n_frames).status_code == 404
    assert get(carol, "v1", 0).status_code == 404  # no version yet
    assert get(carol, "nonsense", 0).status_code == 404


def test_a_corrected_version_of_a_dicom_series_exports_as_a_binary_seg_naming_it(study, alice, client_for, tmp_path):
    hd = pytest.importorskip("highdicom")
    from crowd import services as crowd_services
    from segmentation.engine.datasets import load_sample
    from tests.dicom_series import write_series

    frames = load_sample("brats-pat0001").frames[:4]
    uids = write_series(tmp_path / "series", frames)
    sequence = crowd_services.sequence_import(study=study, path=tmp_path / "series", name="pat0001-dicom")
    scores = hill_scores(sequence.n_frames, sequence.height, sequence.width,
                         lambda k: (sequence.width / 2, sequence.height / 2), sigma=30.0)
    run = scored_run(study=study, sequence=sequence, scores=scores)
    stroke = _stroke(run)
    client = client_for(alice)
    assert _post(client, run, {"run": run.pk, "frames": [{"index": 1, "png": _png(stroke)}]}).status_code == 201
    base = f"/api/studies/{study.pk}/sequences/{sequence.pk}/ground-truth/"
    response = client.get(base + "dicom-seg/?version=1")
    assert response.status_code == 200, response.content
    assert "_gt-v1" in response["Content-Disposition"]
    seg = hd.seg.segread(io.BytesIO(response.content))
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    parameters = str(algorithm.AlgorithmParameters)
    assert "ground_truth_version=1" in parameters.replace(" ", "").replace(":", "="), parameters
    assert "hand-corrected" in parameters
    references = [str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
                  for f in seg.PerFrameFunctionalGroupsSequence]
    pixels = seg.pixel_array.reshape(len(references), sequence.height, sequence.width)
    np.testing.assert_array_equal(pixels[references.index(uids[1])] > 0, stroke)
    assert client.get(base + "dicom-seg-fractional/?version=1").status_code == 400
    listed = client.get(base + "versions/").json()
    assert "dicom-seg" in listed[0]["downloads"] and "dicom-seg-fractional" not in listed[0]["downloads"]
