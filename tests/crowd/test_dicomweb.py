"""A study's DICOMweb server against a real Orthanc: settings kept safely, browsing, importing a
series within its budget, and errors that name the server and what failed.

Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) is started on a free loopback port with a
temporary storage folder; the tests skip where it is not installed, never on CI.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from crowd import services
from crowd.models import DicomWebServer, Sequence
from crowd.services import dicomweb
from tests.dicom_series import dataset_bytes, series_datasets
from tests.orthanc import PASSWORD, USER, orthanc_fixture

orthanc = orthanc_fixture()
pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(orthanc):
    """A 5-slice 32x40 series stored in Orthanc; its datasets in slice order."""
    datasets = series_datasets(np.random.default_rng(3).random((5, 32, 40)))
    for ds in datasets:
        orthanc.upload(dataset_bytes(ds))
    return datasets


@pytest.fixture
def configured(study, orthanc, client_for, alice):
    response = client_for(alice).put(f"/api/studies/{study.pk}/dicomweb/", {
        "url": orthanc.dicomweb_url, "username": USER, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response


def test_a_study_without_a_server_says_so(study, client_for, alice):
    got = client_for(alice).get(f"/api/studies/{study.pk}/dicomweb/")
    assert got.status_code == 200 and got.json()["url"] == "" and got.json()["has_password"] is False
    response = client_for(alice).get(f"/api/studies/{study.pk}/dicomweb/studies/")
    assert response.status_code == 400 and "has no DICOMweb server" in response.json()["detail"]


def test_the_password_is_write_only_and_encrypted_at_rest(study, configured, client_for, alice):
    assert configured.json()["has_password"] is True and "password" not in configured.json()
    server = DicomWebServer.objects.get(study=study)
    assert server.password_encrypted and PASSWORD not in server.password_encrypted
    got = client_for(alice).get(f"/api/studies/{study.pk}/dicomweb/")
    assert PASSWORD not in got.content.decode() and got.json()["username"] == USER
    # A change without a password keeps the stored one.
    client_for(alice).put(f"/api/studies/{study.pk}/dicomweb/", {"url": server.url, "username": USER}, format="json")
    server.refresh_from_db()
    assert dicomweb._decrypt(server.password_encrypted, server.url) == PASSWORD


@pytest.mark.parametrize("url, message", [
    ("ftp://pacs.example.org/dicom-web", "must start with http:// or https://"),
    ("file:///etc/passwd", "must start with http:// or https://"),
    ("http://user:secret@pacs.example.org/dicom-web", "in their own fields, not in the URL"),
    ("http://pacs.example.org/dicom-web?x=1", "must not have a query"),
    ("http://", "not a valid http(s) URL"),
])
def test_only_plain_http_urls_are_accepted(study, client_for, alice, url, message):
    response = client_for(alice).put(f"/api/studies/{study.pk}/dicomweb/", {"url": url}, format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not DicomWebServer.objects.filter(study=study).exists()


def test_an_allow_list_keeps_servers_to_the_listed_hosts(study, orthanc, settings):
    settings.GAZECROWD_DICOMWEB_HOSTS = ["pacs.hospital.example"]
    with pytest.raises(ValidationError, match="host '127.0.0.1' is not one this platform may reach"):
        services.dicomweb_server_set(study=study, url=orthanc.dicomweb_url)
    with pytest.raises(ValidationError, match="GAZECROWD_DICOMWEB_HOSTS"):
        services.dicomweb_connection(url=orthanc.dicomweb_url)
    settings.GAZECROWD_DICOMWEB_HOSTS = ["127.0.0.1"]
    assert services.dicomweb_server_set(study=study, url=orthanc.dicomweb_url + "/").url == orthanc.dicomweb_url


def test_the_database_refuses_a_url_that_is_not_http(study):
    with pytest.raises(IntegrityError), transaction.atomic():
        DicomWebServer.objects.create(study=study, url="ftp://x")


def test_only_coordinators_reach_the_server(study, configured, client_for, bob, carol, charlie):
    for user, code in ((bob, 403), (carol, 403), (charlie, 404)):
        assert client_for(user).get(f"/api/studies/{study.pk}/dicomweb/").status_code == code
        assert client_for(user).get(f"/api/studies/{study.pk}/dicomweb/studies/").status_code == code


def test_browse_and_import_a_series_through_the_api(study, configured, uploaded, client_for, alice):
    client = client_for(alice)
    studies = client.get(f"/api/studies/{study.pk}/dicomweb/studies/").json()
    study_uid = str(uploaded[0].StudyInstanceUID)
    assert study_uid in [s["StudyInstanceUID"] for s in studies]
    series = client.get(f"/api/studies/{study.pk}/dicomweb/studies/{study_uid}/series/").json()
    assert [s["SeriesInstanceUID"] for s in series] == [str(uploaded[0].SeriesInstanceUID)]
    response = client.post(f"/api/studies/{study.pk}/dicomweb/import/",
                           {"series_uid": series[0]["SeriesInstanceUID"], "name": "from-pacs"}, format="json")
    assert response.status_code == 201, response.content
    sequence = Sequence.objects.get(pk=response.json()["id"])
    assert (sequence.modality, sequence.n_frames, sequence.height, sequence.width) == ("dicom", 5, 32, 40)
    frames = np.load(sequence.frames_file.path)
    np.testing.assert_array_equal(frames, np.stack([ds.pixel_array for ds in uploaded]).astype(np.float32))
    from segmentation.dicom_seg import sequence_source_headers

    assert [str(h.SOPInstanceUID) for h in sequence_source_headers(sequence)] == [
        str(ds.SOPInstanceUID) for ds in uploaded]


def test_a_series_over_the_pixel_budget_is_refused_before_any_download(
        study, configured, uploaded, client_for, alice, settings, monkeypatch, media_files):
    settings.GAZECROWD_MAX_SEQUENCE_PIXELS = 4 * 32 * 40  # one slice short
    fetched = []
    monkeypatch.setattr(dicomweb, "_fetch", lambda *a, **k: fetched.append(a) or pytest.fail("fetched"))
    response = client_for(alice).post(f"/api/studies/{study.pk}/dicomweb/import/",
                                      {"series_uid": str(uploaded[0].SeriesInstanceUID)}, format="json")
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "GAZECROWD_MAX_SEQUENCE_PIXELS" in detail and "6,400 pixels" in detail and "127.0.0.1" in detail
    assert fetched == [] and not Sequence.objects.exists() and media_files() == []


def test_a_response_over_the_byte_budget_is_refused(study, configured, uploaded, settings):
    connection = services.dicomweb_connection(study=study)
    connection.budget_bytes = 1000  # less than one 32x40 16-bit slice with its header
    with pytest.raises(services.UploadTooLarge, match="GAZECROWD_DICOMWEB_MAX_MB"):
        services.sequence_import_dicomweb(study=study, connection=connection,
                                          series_uid=str(uploaded[0].SeriesInstanceUID))
    assert not Sequence.objects.exists()


def test_errors_name_the_server_and_what_failed(study, orthanc, uploaded):
    wrong = services.dicomweb_connection(url=orthanc.dicomweb_url, username=USER, password="wrong")
    with pytest.raises(ValidationError, match=r"DICOMweb server http://127\.0\.0\.1:\d+/dicom-web: QIDO-RS "
                                              r"search for studies failed: HTTP 401"):
        services.dicomweb_studies(connection=wrong)
    right = services.dicomweb_connection(url=orthanc.dicomweb_url, username=USER, password=PASSWORD)
    with pytest.raises(ValidationError, match="no series 1.2.3.4"):
        services.sequence_import_dicomweb(study=study, connection=right, series_uid="1.2.3.4")
    with pytest.raises(ValidationError, match="must be a DICOM UID"):
        services.sequence_import_dicomweb(study=study, connection=right, series_uid="1.2.x; DROP")
    closed = services.dicomweb_connection(url="http://127.0.0.1:9/dicom-web")
    with pytest.raises(ValidationError, match="127.0.0.1:9/dicom-web: QIDO-RS search for studies failed: cannot connect"):
        services.dicomweb_studies(connection=closed)


def test_a_changed_key_asks_for_the_password_again(study, configured, settings):
    settings.GAZECROWD_DICOMWEB_KEY = "another key"
    with pytest.raises(ValidationError, match="enter the password again"):
        services.dicomweb_connection(study=study)


def test_import_command_fetches_a_series(study, orthanc, uploaded, monkeypatch, capsys):
    monkeypatch.setenv("GAZECROWD_DICOMWEB_PASSWORD", PASSWORD)
    call_command("import_sequence", str(study.pk), "--dicomweb", orthanc.dicomweb_url, "--username", USER,
                 "--series", str(uploaded[0].SeriesInstanceUID), "--name", "cli")
    sequence_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    assert Sequence.objects.get(pk=sequence_id).n_frames == 5
    with pytest.raises(CommandError, match="HTTP 401"):
        monkeypatch.setenv("GAZECROWD_DICOMWEB_PASSWORD", "wrong")
        call_command("import_sequence", str(study.pk), "--dicomweb", orthanc.dicomweb_url, "--username", USER,
                     "--series", str(uploaded[0].SeriesInstanceUID), "--name", "cli2")
    with pytest.raises(CommandError, match="go together"):
        call_command("import_sequence", str(study.pk), "--dicomweb", orthanc.dicomweb_url)
