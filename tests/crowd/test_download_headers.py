"""Names end up in download headers and error messages: no header injection, no server paths.

Alice names a sequence ``scan"\r\nSet-Cookie: x=1``: the name is refused when the sequence is
created (API, page and service alike), a name with quotes is fine, and a row that already
holds a line break (stored before this check) downloads with a correctly quoted header
instead of a 500. A zip that cannot be unpacked is described without the server's
temporary folder.
"""

import io
import tempfile
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crowd import services
from crowd.models import Sequence, Study

from .fixtures import frames_array, images_zip

EVIL = 'scan"\r\nSet-Cookie: x=1'


def _upload(client, study, file_name, data, **extra):
    return client.post(f"/api/studies/{study.pk}/sequences/",
                       {"file": SimpleUploadedFile(file_name, data), **extra}, format="multipart")


@pytest.mark.parametrize("name", [EVIL, "a\nb", "tab\there", "nul\x00"])
def test_a_name_with_a_control_character_is_refused_everywhere(study, alice, client_for, tmp_path, name):
    response = _upload(client_for(alice), study, "clip.zip", images_zip(frames_array()), name=name)
    assert response.status_code == 400 and "name" in response.json()
    path = tmp_path / "clip.zip"
    path.write_bytes(images_zip(frames_array()))
    with pytest.raises(ValidationError, match="control character"):
        services.sequence_import(study=study, path=path, name=name)
    web = Client()
    web.force_login(alice)
    page = web.post(f"/studies/{study.pk}/sequences/upload/",
                    {"file": SimpleUploadedFile("clip.zip", images_zip(frames_array())), "name": name},
                    HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert page.status_code == 400 and "control character" in page.json()["error"]
    assert not Sequence.objects.exists()


def test_a_study_name_with_a_line_break_is_refused(alice, client_for):
    response = client_for(alice).post("/api/studies/", {"name": "a\r\nb"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    with pytest.raises(ValidationError, match="control character"):
        services.study_create(name="a\nb", created_by=alice)
    assert not Study.objects.exists()


def test_a_file_name_with_a_line_break_is_kept_without_it(study, tmp_path):
    path = tmp_path / "clip.zip"
    path.write_bytes(images_zip(frames_array()))
    sequence = services.sequence_import(study=study, path=path, name="clip", source_name="clip\r\n.zip")
    assert sequence.source_name == "clip.zip"


def _disposition(response) -> str:
    value = response["Content-Disposition"]
    assert "\r" not in value and "\n" not in value
    return value


def test_quotes_and_stored_line_breaks_download_with_a_safe_header(study, sequence, alice, client_for, tmp_path):
    masks = tmp_path / "masks.zip"
    masks.write_bytes(images_zip((frames_array() > 128).astype("uint8") * 255))
    services.sequence_masks_attach(sequence=sequence, path=masks)
    base = f"/api/studies/{study.pk}/sequences/{sequence.pk}"
    Sequence.objects.filter(pk=sequence.pk).update(name='the "best" clip')
    frames = client_for(alice).get(f"{base}/frames/")
    assert frames.status_code == 200
    assert _disposition(frames) == 'attachment; filename="the \\"best\\" clip.npy"'
    # A name stored before names were checked (or by hand): still no 500, still one header.
    Sequence.objects.filter(pk=sequence.pk).update(name=EVIL)
    for url in (f"{base}/frames/", f"{base}/masks/"):
        response = client_for(alice).get(url)
        assert response.status_code == 200, (url, response.status_code)
        value = _disposition(response)
        assert value.startswith("attachment; filename*=utf-8''scan%22%0D%0ASet-Cookie"), value
        assert "Set-Cookie" not in response.headers


def test_a_zip_that_cannot_be_unpacked_does_not_name_the_server_folder(study, alice, client_for):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("frames/" + "a" * 300 + ".png", b"x")  # a file name too long for any file system
    response = _upload(client_for(alice), study, "long.zip", buf.getvalue())
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("long.zip: ")
    assert tempfile.gettempdir() not in detail and "gazecrowd-" not in detail, detail


def test_an_unreadable_image_in_a_zip_is_named_without_the_server_folder(study, alice, client_for):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("frames/00000.png", b"not a png")
    response = _upload(client_for(alice), study, "bad.zip", buf.getvalue())
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "00000.png" in detail and tempfile.gettempdir() not in detail, detail


def test_scrub_paths_removes_every_temporary_folder_of_ours():
    tmp = tempfile.gettempdir()
    message = f"[Errno 36] File name too long: '{tmp}/gazecrowd-zip-ab12_x/frames/a.png' and {tmp}/gazecrowd-upload-9/f"
    assert services.scrub_paths(message) == "[Errno 36] File name too long: 'frames/a.png' and f"
