"""What a new user met importing gaze: a CSV's observer column ignored without a word, an
error that named the file twice and spoke command-line ("pass one of csv, tobii"), and
"repeats per observer" shown but not enforced."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation import services
from annotation.models import Recording
from crowd import services as crowd_services
from crowd.models import StudyMembership
from segmentation.engine import InputError

from .test_gaze_file_import import BROKEN, GEOMETRY

Role = StudyMembership.Role


def _upload(client, sequence, name, data, **extra):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    return client.post(url, {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def _csv(*names: str) -> bytes:
    rows = [f"{n},{10 * i},0,1,2" for i, n in enumerate(names)]
    return ("observer,t_ms,frame,x,y\n" + "\n".join(rows) + "\n").encode()


# --- the observer column ------------------------------------------------------------------------


def test_a_coordinators_import_goes_to_the_observer_the_column_names(sequence, alice, bob, client_for):
    response = _upload(client_for(alice), sequence, "g.csv", _csv("bob", "bob"))
    assert response.status_code == 201, response.content
    assert response.json()["observer"] == "bob"
    assert Recording.objects.get().observer == bob


def test_a_column_naming_no_observer_of_the_study_is_refused(sequence, alice, carol, client_for):
    response = _upload(client_for(alice), sequence, "g.csv", _csv("zoe"))
    assert response.status_code == 400
    assert "the file's observer column says 'zoe', who is not an observer of this study" in str(response.json())
    response = _upload(client_for(alice), sequence, "g.csv", _csv("carol"))  # a researcher
    assert response.status_code == 400 and "'carol', who is not an observer" in str(response.json())
    assert not Recording.objects.exists()


def test_an_observer_cannot_import_a_file_that_names_someone_else(sequence, bob, client_for):
    response = _upload(client_for(bob), sequence, "g.csv", _csv("alice"))
    assert response.status_code == 400
    assert "the file's observer column says 'alice', but you import your own recordings" in str(response.json())
    assert not Recording.objects.exists()


def test_a_file_with_several_observers_is_refused_naming_the_line(sequence, alice, client_for):
    response = _upload(client_for(alice), sequence, "g.csv", _csv("bob", "bob", "dan"), observer="bob")
    assert response.status_code == 400
    assert ("g.csv: line 4: the observer column changes from 'bob' to 'dan'; one file holds one "
            "observer's gaze") in str(response.json())


def test_the_named_observer_and_the_column_must_agree(sequence, alice, client_for):
    crowd_services.membership_set(study=sequence.study, user=crowd_services.user_get_or_create(username="dan"),
                                  role=Role.OBSERVER)
    response = _upload(client_for(alice), sequence, "g.csv", _csv("dan"), observer="bob")
    assert response.status_code == 400
    assert "g.csv: line 2: the observer column says 'dan', but this recording is 'bob''s" in str(response.json())


def test_the_web_upload_refuses_a_file_naming_someone_else(sequence, bob):
    web = Client()
    web.force_login(bob)
    url = f"/studies/{sequence.study_id}/sequences/{sequence.pk}/upload-gaze/"
    response = web.post(url, {"file": SimpleUploadedFile("g.csv", _csv("alice"))})
    assert response.status_code == 400
    assert "the observer column says &#x27;alice&#x27;, but this recording is &#x27;bob&#x27;" in \
        response.content.decode()


def test_without_the_column_or_with_blank_cells_the_file_is_the_importers(sequence, bob, client_for):
    response = _upload(client_for(bob), sequence, "g.csv", b"observer,t_ms,frame,x,y\n,0,0,1,2\n,10,0,1,2\n")
    assert response.status_code == 201, response.content
    assert response.json()["observer"] == "bob"


# --- errors in the user's words -----------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(k for k, (_, data, _) in BROKEN.items() if data is not None))
def test_every_import_error_names_the_file_once_and_no_flag(sequence, bob, client_for, tmp_path, case):
    """The class, not one message: no import error repeats the file's name or names a flag."""
    name, data, _ = BROKEN[case]
    detail = str(_upload(client_for(bob), sequence, name, data, **GEOMETRY).json())
    assert detail.count(name) == 1, detail
    assert "pass one of" not in detail and "--" not in detail, detail


def test_the_unknown_format_message_lists_the_formats_by_name(tmp_path):
    path = tmp_path / "gaze.xyz"
    path.write_text("1,2,3")
    with pytest.raises(ValidationError) as err:
        services.tracker_format_detect(path, source_name="my gaze.xyz")
    (message,) = err.value.messages
    assert message.startswith("my gaze.xyz: the gaze format cannot be told from the file name; choose the "
                              "format of the file (csv: GazeCrowd CSV")
    assert "tobii: Tobii Pro Lab TSV" in message and "gaze.xyz: gaze.xyz" not in message


def test_a_message_already_naming_the_file_is_not_prefixed_again(tmp_path):
    path = tmp_path / "g.csv"
    exc = InputError(f"{path}: line 3: frame -1 is negative")
    assert services.import_error_text(exc, path=path, source_name="g.csv") == "g.csv: line 3: frame -1 is negative"
    exc = InputError("g.csv: g.csv: no gaze samples after the header")
    assert services.import_error_text(exc, path=path, source_name="g.csv") == "g.csv: no gaze samples after the header"


# --- repeats per observer -----------------------------------------------------------------------


def test_a_recording_beyond_the_repeats_asked_is_refused(sequence, bob, client_for):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/"
    api = client_for(bob)
    first = api.post(url, {"source": "mouse"}, format="json")
    assert first.status_code == 201
    second = api.post(url, {"source": "mouse"}, format="json")
    assert second.status_code == 400
    assert second.json()["detail"] == (
        "bob has already recorded 'clip' once, as many times as the study asks (repeats per observer: 1); "
        "a coordinator can raise it in the study's settings (aborted recordings do not count)")
    # An aborted viewing does not count: the observer may record again.
    services.recording_abort(recording=Recording.objects.get(pk=first.json()["id"]))
    assert api.post(url, {"source": "mouse"}, format="json").status_code == 201
    # Raised by the coordinator: one more.
    crowd_services.study_update(study=sequence.study, repeats_per_observer=2)
    assert api.post(url, {"source": "mouse"}, format="json").status_code == 201
    assert api.post(url, {"source": "mouse"}, format="json").status_code == 400
    assert Recording.objects.exclude(status="aborted").count() == 2


def test_a_retried_start_of_an_open_repeat_is_not_a_new_recording(sequence, bob):
    recording, created = services.recording_start(observer=bob, sequence=sequence, repeat=1)
    again, created_again = services.recording_start(observer=bob, sequence=sequence, repeat=1)
    assert created and not created_again and again.pk == recording.pk


def test_tracker_imports_count_too(sequence, bob, client_for):
    assert _upload(client_for(bob), sequence, "g.csv", _csv("bob")).status_code == 201
    response = _upload(client_for(bob), sequence, "g2.csv", _csv("bob"))
    assert response.status_code == 400 and "repeats per observer: 1" in response.json()["detail"]
    assert Recording.objects.count() == 1


def test_the_assignments_page_stops_offering_a_recording_beyond_the_repeats(sequence, bob, client_for):
    web = Client()
    web.force_login(bob)
    record = f"/studies/{sequence.study_id}/sequences/{sequence.pk}/record/"
    assert record in web.get("/assignments/").content.decode()
    assert _upload(client_for(bob), sequence, "g.csv", _csv("bob")).status_code == 201
    page = web.get("/assignments/").content.decode()
    assert record not in page and "All 1 recording the study asks are made." in page
