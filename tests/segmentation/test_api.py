"""The runs API: who may start, follow and download what."""

from __future__ import annotations

import io

import numpy as np
import pytest

from segmentation.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


def url(study, *parts):
    return "/".join([f"/api/studies/{study.pk}", *map(str, parts)]) + "/"


def test_coordinator_starts_a_run_and_follows_it(client_for, alice, study, sequence, import_recordings):
    import_recordings(["observer-1", "observer-2"])
    response = client_for(alice).post(url(study, "runs"), {"parameters": {"compare": False}},
                                      format="json")
    assert response.status_code == 202, response.content
    (run,) = response.json()
    detail = client_for(alice).get(url(study, "runs", run["id"])).json()
    assert detail["status"] == "succeeded", detail["error"]  # eager Celery in tests
    assert detail["progress"] == 1.0
    assert detail["exports"] == ["coco", "csv", "nifti", "npz", "png"]
    assert "report.html" in detail["report_files"]
    # The cut and its rule are part of the run; the scale was guessed and says so.
    assert detail["delivered"]["threshold_rule"] == "gaze-contrast"
    assert 0 < detail["delivered"]["threshold"] < 1
    assert detail["parameters"]["px_per_degree_source"].startswith("guessed from the frame size")
    from django.test import Client

    web = Client()
    web.force_login(alice)
    page = web.get(f"/studies/{study.pk}/runs/{run['id']}/")
    assert page.status_code == 200
    assert b"data-scale-guessed" in page.content and b"data-delivered" in page.content


def test_observer_and_outsider_cannot_start_runs(client_for, bob, charlie, study, sequence):
    assert client_for(bob).post(url(study, "runs"), {}, format="json").status_code == 403
    assert client_for(charlie).post(url(study, "runs"), {}, format="json").status_code == 404
    assert client_for(None).post(url(study, "runs"), {}, format="json").status_code in (401, 403)
    assert not Run.objects.exists()


def test_bad_parameters_get_a_400_naming_them(client_for, alice, study, sequence):
    response = client_for(alice).post(url(study, "runs"), {"parameters": {"colour": 1}}, format="json")
    assert response.status_code == 400
    assert "colour" in str(response.json())
    response = client_for(alice).post(url(study, "runs"), {"sequence": 999999}, format="json")
    assert response.status_code == 400 and "sequence" in response.json()


def test_researcher_downloads_results_observers_and_outsiders_cannot(
        client_for, bob, carol, charlie, study, finished_run):
    """One run (a run costs seconds), every read a researcher makes and others may not."""
    run = finished_run
    researcher = client_for(carol)
    for fmt in ["nifti", "png", "coco", "npz", "csv"]:
        response = researcher.get(url(study, "runs", run.pk, "export", fmt))
        assert response.status_code == 200, fmt
        assert "attachment" in response["Content-Disposition"]
        assert len(response.content) > 0

    npz = np.load(io.BytesIO(researcher.get(url(study, "runs", run.pk, "export", "npz")).content))
    assert npz["scores"].dtype == np.float32 and npz["masks"].dtype == np.uint8
    assert npz["scores"].min() >= 0 and npz["scores"].max() <= 1
    seq_url = f"/api/studies/{study.pk}/sequences/{run.sequence_id}/ground-truth/npz/"
    latest = np.load(io.BytesIO(researcher.get(seq_url).content))
    np.testing.assert_array_equal(latest["masks"], npz["masks"])
    # Another threshold, on both endpoints: the stored map cut again, recorded in the file.
    higher = (float(npz["threshold"]) + 1) / 2
    for endpoint in (url(study, "runs", run.pk, "export", "npz"), seq_url):
        cut = np.load(io.BytesIO(researcher.get(endpoint, {"threshold": higher}).content))
        np.testing.assert_array_equal(cut["masks"], npz["scores"] >= np.float32(higher))
        assert float(cut["threshold"]) == pytest.approx(higher)
        for bad in ("2", "-1", "nan", "1e400", "x"):
            response = researcher.get(endpoint, {"threshold": bad})
            assert response.status_code == 400 and "threshold" in response.json(), bad

    html = researcher.get(f"/api/studies/{study.pk}/runs/{run.pk}/report/report.html")
    assert html.status_code == 200 and b"<html" in html.content.lower()
    csv = researcher.get(f"/api/studies/{study.pk}/runs/{run.pk}/report/observers.csv")
    assert csv.status_code == 200 and b"observer" in csv.content
    assert researcher.get(f"/api/studies/{study.pk}/runs/{run.pk}/report/../secret").status_code == 404

    unknown = researcher.get(url(study, "runs", run.pk, "export", "tiff"))
    assert unknown.status_code == 404 and "nifti" in unknown.json()["detail"]

    assert client_for(bob).get(url(study, "runs", run.pk, "export", "npz")).status_code == 403
    assert client_for(bob).get(url(study, "runs", run.pk)).status_code == 403
    assert client_for(bob).get(seq_url).status_code == 403
    assert client_for(charlie).get(url(study, "runs", run.pk, "export", "npz")).status_code == 404
    assert client_for(charlie).get(url(study, "runs")).status_code == 404


def test_failed_run_shows_its_error_and_coordinator_retries(client_for, alice, study, sequence, import_recordings):
    response = client_for(alice).post(url(study, "runs"), {"parameters": {"compare": False}}, format="json")
    (run,) = response.json()
    detail = client_for(alice).get(url(study, "runs", run["id"])).json()
    assert detail["status"] == "failed" and "no finished recording" in detail["error"]
    import_recordings(["observer-1"])
    retried = client_for(alice).post(url(study, "runs", run["id"], "retry"), {}, format="json")
    assert retried.status_code == 202
    assert client_for(alice).get(url(study, "runs", run["id"])).json()["status"] == "succeeded"
