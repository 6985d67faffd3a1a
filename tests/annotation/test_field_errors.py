"""Refusals that name a field answer {field: message}, as the API always has."""

from django.core.files.uploadedfile import SimpleUploadedFile

CSV = b"observer,t_ms,frame,x,y\nbob,0,0,1.0,2.0\n"


def _import(client, sequence, **extra):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    return client.post(url, {"file": SimpleUploadedFile("g.csv", CSV), **extra}, format="multipart")


def test_a_coordinator_names_the_observer(sequence, alice, client_for):
    # A file without an observer column: the request must name the observer.
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    response = client_for(alice).post(url, {"file": SimpleUploadedFile("g.csv", b"t_ms,frame,x,y\n0,0,1,2\n")},
                                      format="multipart")
    assert response.status_code == 400
    assert response.json() == {"observer": "name the observer whose recording this is"}
    response = _import(client_for(alice), sequence, observer="carol")
    assert response.json() == {"observer": "carol is not an observer of this study"}


def test_an_observer_imports_their_own(sequence, bob, client_for):
    response = _import(client_for(bob), sequence, observer="alice")
    assert response.status_code == 403
    assert response.json() == {"detail": "observers import their own recordings only"}


def test_an_unknown_sequence_is_named(sequence, alice, client_for):
    response = client_for(alice).post(f"/api/studies/{sequence.study_id}/assignments/",
                                      {"observer": "bob", "sequence": 999999}, format="json")
    assert response.status_code == 400
    assert response.json() == {"sequence": "no sequence 999999 in this study"}
