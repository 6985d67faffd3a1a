"""The issue's Orthanc story: upload a series to a real Orthanc, import it through the API,
run on it, STOW the SEG back, find it in Orthanc by QIDO-RS and read it back.

Skips where Orthanc is not installed (apt-get install orthanc orthanc-dicomweb), never on CI.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation import services as annotation_services
from crowd import services
from crowd.models import Sequence
from segmentation import export_service
from segmentation import services as seg_services
from segmentation.engine.datasets import load_sample
from tests.dicom_series import dataset_bytes, series_datasets
from tests.orthanc import PASSWORD, USER, orthanc_fixture
from tests.segmentation.conftest import N_FRAMES, OBSERVERS

hd = pytest.importorskip("highdicom")
orthanc = orthanc_fixture()
pytestmark = pytest.mark.django_db(transaction=True)


def test_series_from_orthanc_to_ground_truth_and_back(study, orthanc, small_sample, client_for, alice, bob,
                                                      monkeypatch, capsys):
    datasets = series_datasets(load_sample("brats-pat0001").frames[:N_FRAMES])
    for ds in datasets:
        orthanc.upload(dataset_bytes(ds))
    uids = [str(ds.SOPInstanceUID) for ds in datasets]
    client = client_for(alice)
    assert client.put(f"/api/studies/{study.pk}/dicomweb/", {
        "url": orthanc.dicomweb_url, "username": USER, "password": PASSWORD}, format="json").status_code == 200
    response = client.post(f"/api/studies/{study.pk}/dicomweb/import/",
                           {"series_uid": str(datasets[0].SeriesInstanceUID), "name": "pacs"}, format="json")
    assert response.status_code == 201, response.content
    sequence = Sequence.objects.get(pk=response.json()["id"])

    for name in OBSERVERS:
        user = services.user_get_or_create(username=name)
        annotation_services.recording_import_file(
            sequence=sequence, observer=user, path=small_sample["gaze"][name], fmt="csv", ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error

    assert client_for(bob).post(f"/api/studies/{study.pk}/dicomweb/push/", {}, format="json").status_code == 403
    pushed = client.post(f"/api/studies/{study.pk}/dicomweb/push/", {"threshold": 0.4}, format="json")
    assert pushed.status_code == 200, pushed.content
    (stored,) = pushed.json()["stored"]
    assert stored["sequence"] == "pacs" and stored["study_instance_uid"] == str(datasets[0].StudyInstanceUID)

    # Found in Orthanc by QIDO-RS, in the source study, as a SEG series.
    connection = services.dicomweb_connection(study=study)
    found = connection.client.search_for_series(
        study_instance_uid=stored["study_instance_uid"], search_filters={"Modality": "SEG"})
    assert [s["0020000E"]["Value"][0] for s in found] == [stored["series_instance_uid"]]
    seg = hd.seg.Segmentation.from_dataset(connection.client.retrieve_instance(
        stored["study_instance_uid"], stored["series_instance_uid"], stored["sop_instance_uid"]))
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])[..., 0]
    masks = export_service.ground_truth_masks(ground_truth=run.ground_truth, threshold=0.4)[1]
    assert masks.any()
    np.testing.assert_array_equal(back, masks)
    assert {str(u[2]) for u in seg.get_source_image_uids()} == set(uids)

    # The command pushes a fractional SEG to a server named on the command line.
    monkeypatch.setenv("GAZECROWD_DICOMWEB_PASSWORD", PASSWORD)
    call_command("push_ground_truth", str(study.pk), "--dicomweb", orthanc.dicomweb_url, "--username", USER,
                 "--fractional")
    assert "pacs: SEG" in capsys.readouterr().out
    segs = connection.client.search_for_series(
        study_instance_uid=stored["study_instance_uid"], search_filters={"Modality": "SEG"})
    assert len(segs) == 2
    monkeypatch.setenv("GAZECROWD_DICOMWEB_PASSWORD", "wrong")
    with pytest.raises(CommandError, match="STOW-RS store failed: HTTP 401"):
        call_command("push_ground_truth", str(study.pk), "--dicomweb", orthanc.dicomweb_url, "--username", USER)
