"""A removal or a role change takes effect on the very next request, on every write path.

Bob observes the study and has a recording open. Alice removes him (or makes him a
researcher) while his client keeps streaming: from the next request on, every write he
tries (a batch, even a retry of a stored one; finishing, aborting, starting, importing, a
label, an image visit) is refused and stores nothing. Removed, he is a stranger (404); with
another role, he is told his role does not allow it (403).
"""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation import services
from annotation.models import GazeBatch, ImageLabel, ImageVisit, Recording
from crowd import services as crowd_services
from crowd.models import Study, StudyMembership
from tests.engine.trackers.writers import write_csv

from ..crowd.fixtures import frames_array, write_images_zip

ONE = [[0.0, 0, 1.0, 2.0]]


@pytest.fixture
def open_recording(sequence, bob, client_for):
    recording, _ = services.recording_start(observer=bob, sequence=sequence)
    assert client_for(bob).post(f"/api/recordings/{recording.pk}/batches/", {"batch": 0, "samples": ONE},
                                format="json").status_code == 201
    return recording


def _remove(study, user):
    crowd_services.membership_remove(membership=StudyMembership.objects.get(study=study, user=user))


def _make_researcher(study, user):
    crowd_services.membership_set(study=study, user=user, role="researcher")


CHANGES = [(_remove, 404), (_make_researcher, 403)]
IDS = ["removed", "now-researcher"]


@pytest.mark.parametrize("change, refused", CHANGES, ids=IDS)
def test_the_next_batch_is_refused(open_recording, study, bob, client_for, change, refused):
    client = client_for(bob)
    url = f"/api/recordings/{open_recording.pk}/batches/"
    change(study, bob)
    new = client.post(url, {"batch": 1, "samples": [[10.0, 0, 3.0, 4.0]]}, format="json")
    retry = client.post(url, {"batch": 0, "samples": ONE}, format="json")  # already stored
    assert (new.status_code, retry.status_code) == (refused, refused), (new.content, retry.content)
    assert "no longer an observer" in new.json()["detail"]
    assert list(GazeBatch.objects.filter(recording=open_recording).values_list("number", flat=True)) == [0]


def test_a_restored_observer_streams_again(open_recording, study, bob, client_for):
    _remove(study, bob)
    url = f"/api/recordings/{open_recording.pk}/batches/"
    assert client_for(bob).post(url, {"batch": 1, "samples": ONE}, format="json").status_code == 404
    crowd_services.membership_set(study=study, user=bob, role="observer")
    assert client_for(bob).post(url, {"batch": 1, "samples": ONE}, format="json").status_code == 201


@pytest.mark.parametrize("change, refused", CHANGES, ids=IDS)
def test_finish_abort_start_and_import_are_refused(open_recording, study, sequence, bob, client_for, tmp_path,
                                                   change, refused):
    client = client_for(bob)
    change(study, bob)
    assert client.post(f"/api/recordings/{open_recording.pk}/finish/", {}, format="json").status_code == refused
    assert client.post(f"/api/recordings/{open_recording.pk}/abort/").status_code == refused
    base = f"/api/studies/{study.pk}/sequences/{sequence.pk}"
    assert client.post(f"{base}/recordings/", {}, format="json").status_code == refused
    csv = write_csv(tmp_path / "g.csv", [0.0, 20.0], [1.0, 2.0], [3.0, 4.0]).read_bytes()
    imported = client.post(f"{base}/recordings/import/", {"file": SimpleUploadedFile("g.csv", csv)},
                           format="multipart")
    assert imported.status_code == refused
    open_recording.refresh_from_db()
    assert open_recording.status == Recording.Status.RECORDING
    assert Recording.objects.count() == 1


@pytest.mark.parametrize("change, refused", CHANGES, ids=IDS)
def test_web_pages_that_write_are_refused(study, sequence, bob, tmp_path, change, refused):
    web = Client()
    web.force_login(bob)
    change(study, bob)
    base = f"/studies/{study.pk}/sequences/{sequence.pk}"
    assert web.get(f"{base}/record/").status_code == refused
    csv = write_csv(tmp_path / "g.csv", [0.0, 20.0], [1.0, 2.0], [3.0, 4.0])
    with csv.open("rb") as fh:
        assert web.post(f"{base}/upload-gaze/", {"file": fh}).status_code == refused
    assert not Recording.objects.exists()


@pytest.fixture
def collection(alice, bob, tmp_path):
    study = crowd_services.study_create(name="Tiles", created_by=alice, kind=Study.Kind.IMAGES)
    crowd_services.membership_set(study=study, user=bob, role="observer")
    sequence = crowd_services.sequence_import(study=study, path=write_images_zip(tmp_path / "t.zip", frames_array()))
    crowd_services.assignment_create(sequence=sequence, observer=bob)
    return sequence


@pytest.mark.parametrize("change, refused", CHANGES, ids=IDS)
def test_labels_and_image_visits_are_refused(collection, bob, client_for, change, refused):
    base = f"/api/studies/{collection.study_id}/sequences/{collection.pk}"
    label = {"frame": 0, "mode": "box", "seconds": 2.0, "box": [1, 1, 5, 5]}
    assert client_for(bob).post(f"{base}/labels/", label, format="json").status_code == 201
    change(collection.study, bob)
    assert client_for(bob).post(f"{base}/labels/", label, format="json").status_code == refused
    visit = {"frame": 0, "mode": "box", "seconds": 2.0}
    assert client_for(bob).post(f"{base}/image-visits/", visit, format="json").status_code == refused
    assert ImageLabel.objects.count() == 1 and ImageVisit.objects.count() == 0


def test_a_file_import_stores_no_batch_for_someone_no_longer_observing(sequence, study, bob, tmp_path):
    """The service itself (management command, demo) refuses too: the batch insert checks the role."""
    recording, _ = services.recording_start(observer=bob, sequence=sequence)
    _make_researcher(study, bob)
    with pytest.raises(services.NotObserver):
        services.gaze_batch_store(recording_id=recording.pk, number=0, samples=np.array(ONE))
    assert not GazeBatch.objects.exists()
