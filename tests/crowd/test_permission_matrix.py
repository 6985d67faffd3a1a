"""Who may do what: every operation tried by each named user.

Alice coordinates, Bob observes (assigned to the sequence, owns the recording), Carol
researches, Charlie is not a member. A non-member gets 404 (he cannot learn the study exists);
a member whose role does not allow the operation gets 403.
"""

import numpy as np
import pytest
from django.db import transaction

from annotation import services as annotation_services
from crowd import services

from .fixtures import frames_array, images_zip


@pytest.fixture
def world(study, sequence, bob, tmp_path):
    study.repeats_per_observer = 2  # Bob's open recording, and the one the matrix starts
    study.save(update_fields=["repeats_per_observer"])
    masks = tmp_path / "masks.zip"
    masks.write_bytes(images_zip((frames_array() > 128).astype(np.uint8) * 255))
    services.sequence_masks_attach(sequence=sequence, path=masks)
    recording, _ = annotation_services.recording_start(observer=bob, sequence=sequence)
    annotation_services.gaze_batch_store(
        recording_id=recording.pk, number=0, samples=np.array([[0.0, 0, 1.0, 2.0]])
    )
    return {"s": study.pk, "q": sequence.pk, "r": recording.pk}


def _upload(name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"file": SimpleUploadedFile(f"{name}.zip", images_zip(frames_array(n=2))), "name": name}


BATCH = {"batch": 1, "samples": [[100.0, 1, 3.0, 4.0]]}
# (method, url, body, format, expected status for alice, bob, carol, charlie)
CASES = [
    ("get", "/api/studies/{s}/", None, None, (200, 200, 200, 404)),
    ("patch", "/api/studies/{s}/", {"name": "Renamed"}, "json", (200, 403, 403, 404)),
    ("get", "/api/studies/{s}/status/", None, None, (200, 403, 200, 404)),
    ("get", "/api/studies/{s}/sequences/", None, None, (200, 200, 200, 404)),
    ("post", "/api/studies/{s}/sequences/", "upload", "multipart", (201, 403, 403, 404)),
    ("get", "/api/studies/{s}/sequences/{q}/", None, None, (200, 200, 200, 404)),
    ("get", "/api/studies/{s}/sequences/{q}/frames/", None, None, (200, 200, 200, 404)),
    ("get", "/api/studies/{s}/sequences/{q}/frames/0.png", None, None, (200, 200, 200, 404)),
    ("get", "/api/studies/{s}/sequences/{q}/masks/", None, None, (200, 403, 200, 404)),
    ("get", "/api/studies/{s}/members/", None, None, (200, 200, 200, 404)),
    ("post", "/api/studies/{s}/members/", {"username": "charlie", "role": "researcher"}, "json", (201, 403, 403, 404)),
    ("get", "/api/studies/{s}/invitations/", None, None, (200, 403, 403, 404)),
    ("post", "/api/studies/{s}/invitations/", {"role": "observer"}, "json", (201, 403, 403, 404)),
    ("get", "/api/studies/{s}/audit/", None, None, (200, 403, 403, 404)),
    ("get", "/api/studies/{s}/assignments/", None, None, (200, 200, 200, 404)),
    ("post", "/api/studies/{s}/assignments/", {"observer": "bob"}, "json", (201, 403, 403, 404)),
    ("get", "/api/studies/{s}/sequences/{q}/recordings/", None, None, (200, 200, 200, 404)),
    ("post", "/api/studies/{s}/sequences/{q}/recordings/", {"source": "mouse"}, "json", (403, 201, 403, 404)),
    ("get", "/api/recordings/{r}/", None, None, (200, 200, 200, 404)),
    ("get", "/api/recordings/{r}/progress/", None, None, (200, 200, 200, 404)),
    ("post", "/api/recordings/{r}/batches/", BATCH, "json", (404, 201, 404, 404)),
    ("post", "/api/recordings/{r}/finish/", {}, "json", (403, 200, 403, 404)),
    ("get", "/api/recordings/{r}/gaze/", None, None, (200, 200, 200, 404)),
    ("delete", "/api/studies/{s}/sequences/{q}/", None, None, (204, 403, 403, 404)),
    ("delete", "/api/studies/{s}/", None, None, (204, 403, 403, 404)),
]
USERS = ("alice", "bob", "carol", "charlie")


@pytest.mark.parametrize("who", range(4), ids=USERS)
def test_permission_matrix(request, world, client_for, who):
    """Every case runs in a savepoint that is rolled back, so each sees the same world."""
    user = request.getfixturevalue(USERS[who])
    client = client_for(user)
    wrong = []
    for method, url, body, fmt, expected in CASES:
        if body == "upload":
            body = _upload("another")
        kwargs = {"format": fmt} if fmt else {}
        with transaction.atomic():
            response = getattr(client, method)(url.format(**world), body, **kwargs)
            transaction.set_rollback(True)
        if response.status_code != expected[who]:
            wrong.append(f"{method.upper()} {url}: {response.status_code}, expected {expected[who]}: "
                         f"{response.content[:200]!r}")
    assert wrong == [], "\n".join(wrong)


def test_study_list_shows_member_studies_only(world, alice, charlie, client_for):
    services.study_create(name="Charlie's own", created_by=charlie)
    names = lambda user: [s["name"] for s in client_for(user).get("/api/studies/").json()["results"]]  # noqa: E731
    assert names(alice) == ["Polyps"]
    assert names(charlie) == ["Charlie's own"]
    assert client_for(alice).get("/api/studies/").json()["results"][0]["my_role"] == "coordinator"


def test_observers_see_their_own_assignments_and_recordings_only(world, study, sequence, client_for, db):
    dave = services.user_get_or_create(username="dave")
    services.membership_set(study=study, user=dave, role="observer")
    client = client_for(dave)
    assert client.get(f"/api/studies/{world['s']}/sequences/").json()["count"] == 0
    assert client.get(f"/api/studies/{world['s']}/sequences/{world['q']}/").status_code == 404
    assert client.get(f"/api/recordings/{world['r']}/").status_code == 404
    assert client.get(f"/api/studies/{world['s']}/assignments/").json()["count"] == 0
    members = client.get(f"/api/studies/{world['s']}/members/").json()["results"]
    assert [m["username"] for m in members] == ["dave"]
    services.assignment_create(sequence=sequence, observer=dave)
    listed = client.get(f"/api/studies/{world['s']}/sequences/{world['q']}/recordings/").json()
    assert listed["count"] == 0  # Bob's recording stays Bob's


def test_anonymous_requests_are_refused(world, client_for):
    for url in ("/api/studies/", "/api/studies/{s}/", "/api/recordings/{r}/"):
        assert client_for(None).get(url.format(**world)).status_code in (401, 403)


def test_token_and_session_authentication_both_work(world, alice):
    from django.http import HttpRequest
    from rest_framework.test import APIClient

    token = APIClient().post("/api/auth/token/", {"username": "alice", "password": "alice-pw-123"}).json()["token"]
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert by_token.get(f"/api/studies/{world['s']}/").status_code == 200
    by_session = APIClient()
    # django-axes watches every login, so authenticate() needs a request (its documented way).
    assert by_session.login(request=HttpRequest(), username="alice", password="alice-pw-123")
    assert by_session.get(f"/api/studies/{world['s']}/").status_code == 200
