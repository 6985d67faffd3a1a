"""Hand labels and time per image on an image collection: services and API.

Alice coordinates the collection, Bob observes it (assigned), Carol researches, Charlie has no
access. Bad input is refused with a message that names the problem, and nothing is stored.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotation import services
from annotation.models import ImageLabel, ImageVisit
from crowd import services as crowd_services
from crowd.models import Study, StudyMembership
from tests.crowd.fixtures import frames_array, write_images_zip

Role = StudyMembership.Role
pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(alice, bob, carol, charlie, tmp_path):
    """Three 24x32 images named a, b, c; Bob is assigned."""
    study = crowd_services.study_create(name="Pearls", created_by=alice, kind=Study.Kind.IMAGES)
    crowd_services.membership_set(study=study, user=bob, role=Role.OBSERVER)
    crowd_services.membership_set(study=study, user=carol, role=Role.RESEARCHER)
    path = write_images_zip(tmp_path / "tiles.zip", frames_array(3), names=["c.png", "a.png", "b.png"])
    seq = crowd_services.sequence_import(study=study, path=path, name="tiles")
    crowd_services.assignment_create(sequence=seq, observer=bob)
    return seq


def test_images_keep_their_names_in_frame_order(collection):
    assert collection.frame_names == ["a", "b", "c"]
    assert collection.image_names() == ["a", "b", "c"]


def test_images_of_two_sizes_are_refused_with_the_reason(alice, tmp_path):
    import io
    import zipfile

    from tests.crowd.fixtures import png_bytes

    study = crowd_services.study_create(name="Mixed", created_by=alice, kind=Study.Kind.IMAGES)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x/a.png", png_bytes(frames_array(1, 24, 32)[0]))
        zf.writestr("x/b.png", png_bytes(frames_array(1, 20, 32)[0]))
    (tmp_path / "mixed.zip").write_bytes(buf.getvalue())
    with pytest.raises(ValidationError, match="b.png.*one size"):
        crowd_services.sequence_import(study=study, path=tmp_path / "mixed.zip")
    assert not study.sequences.exists()


def test_a_box_and_an_outline_are_stored_with_their_times(collection, bob):
    box = services.image_label_create(observer=bob, sequence=collection, frame=1, mode="box",
                                      seconds=2.5, box=[1, 2, 10, 8])
    outline = services.image_label_create(observer=bob, sequence=collection, frame=2, mode="freehand",
                                          seconds=7.0, outline=[[0, 0], [10, 0], [10, 10]])
    mark = services.image_label_create(observer=bob, sequence=collection, frame=0, mode="gaze",
                                       seconds=0.8, point=[3.5, 4])
    assert (box.box, box.seconds) == ([1.0, 2.0, 10.0, 8.0], 2.5)
    assert outline.outline == [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]
    assert mark.point == [3.5, 4.0]
    visit = services.image_visit_record(observer=bob, sequence=collection, frame=0, mode="gaze", seconds=4.0)
    assert visit.seconds == 4.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="box", box=[30, 0, 5, 5]), "leaves the 32x24 image"),
    (dict(mode="box", box=[0, 0, 0, 5]), "width and height must be positive"),
    (dict(mode="box", box=[0, 0, 5]), r"box \[x, y, width, height\] must be a list of 4"),
    (dict(mode="box", outline=[[0, 0], [1, 0], [1, 1]]), "a box label takes box"),
    (dict(mode="freehand", outline=[[0, 0], [40, 0], [10, 10]]), "outline vertex 1 .* outside"),
    (dict(mode="freehand", outline=[[0, 0], [5, 5], [10, 10]]), "encloses no area"),
    (dict(mode="freehand", outline=[[0, 0], [5, 5]]), "3 to 10000"),
    (dict(mode="box", box=[0, 0, 5, 5], seconds=0), "seconds must be the time"),
    (dict(mode="box", box=[0, 0, 5, 5], seconds=float("nan")), "seconds must be the time"),
    (dict(mode="box", box=[0, 0, 5, 5], seconds=5000), "seconds must be the time"),
    (dict(mode="box", box=[0, 0, 5, 5], frame=3), "frame 3 does not exist"),
    (dict(mode="scribble", box=[0, 0, 5, 5]), "mode must be one of"),
    (dict(mode="gaze", point=[-3, 2]), "point .* outside"),
])
def test_bad_labels_are_refused_and_nothing_is_stored(collection, bob, kwargs, message):
    args = dict(observer=bob, sequence=collection, frame=0, seconds=1.0) | kwargs
    with pytest.raises(ValidationError, match=message):
        services.image_label_create(**args)
    assert not ImageLabel.objects.exists()


def test_labels_need_an_image_collection_and_an_assignment(sequence, collection, alice, bob):
    with pytest.raises(ValidationError, match="labels are drawn on image collections"):
        services.image_label_create(observer=bob, sequence=sequence, frame=0, mode="box", seconds=1,
                                    box=[0, 0, 2, 2])
    with pytest.raises(ValidationError, match="alice is not assigned"):
        services.image_label_create(observer=alice, sequence=collection, frame=0, mode="box", seconds=1,
                                    box=[0, 0, 2, 2])
    assert not ImageLabel.objects.exists()


# --- API --------------------------------------------------------------------------------------


def _labels_url(seq):
    return f"/api/studies/{seq.study_id}/sequences/{seq.pk}/labels/"


def test_observer_posts_labels_and_sees_only_their_own(collection, bob, alice, carol, charlie, client_for):
    url = _labels_url(collection)
    r = client_for(bob).post(url, {"frame": 0, "mode": "box", "box": [1, 1, 4, 4], "seconds": 3.2},
                             format="json")
    assert r.status_code == 201, r.content
    assert r.json()["observer"] == "bob" and r.json()["seconds"] == 3.2
    r = client_for(bob).post(url, {"frame": 0, "mode": "freehand", "outline": [[1, 1], [9, 1], [5, 9]],
                                   "seconds": 6}, format="json")
    assert r.status_code == 201
    # a second observer, assigned too, does not see Bob's labels
    dave = crowd_services.user_get_or_create(username="dave")
    crowd_services.membership_set(study=collection.study, user=dave, role=Role.OBSERVER)
    crowd_services.assignment_create(sequence=collection, observer=dave)
    client_for(dave).post(url, {"frame": 2, "mode": "gaze", "point": [1, 1], "seconds": 0.5}, format="json")
    assert client_for(bob).get(url).json()["count"] == 2
    assert client_for(dave).get(url).json()["count"] == 1
    assert client_for(alice).get(url).json()["count"] == 3
    assert client_for(carol).get(url).json()["count"] == 3
    assert client_for(charlie).get(url).status_code == 404


def test_only_observers_post_labels(collection, alice, carol, charlie, client_for):
    body = {"frame": 0, "mode": "box", "box": [1, 1, 4, 4], "seconds": 3.2}
    assert client_for(alice).post(_labels_url(collection), body, format="json").status_code == 403
    assert client_for(carol).post(_labels_url(collection), body, format="json").status_code == 403
    assert client_for(charlie).post(_labels_url(collection), body, format="json").status_code == 404
    assert client_for(None).post(_labels_url(collection), body, format="json").status_code in (401, 403)
    assert not ImageLabel.objects.exists()


def test_a_bad_label_gets_400_naming_the_problem(collection, bob, client_for):
    r = client_for(bob).post(_labels_url(collection), {"frame": 0, "mode": "box", "box": [0, 0, 50, 4],
                                                        "seconds": 1}, format="json")
    assert r.status_code == 400
    assert "leaves the 32x24 image" in r.json()["detail"]
    r = client_for(bob).post(_labels_url(collection), {"frame": 0, "mode": "box", "box": [0, 0, 5, 4]},
                             format="json")
    assert r.status_code == 400 and "seconds" in r.json()
    assert not ImageLabel.objects.exists()


def test_time_per_image_through_the_api(collection, bob, alice, client_for):
    url = f"/api/studies/{collection.study_id}/sequences/{collection.pk}/image-visits/"
    r = client_for(bob).post(url, {"frame": 1, "mode": "gaze", "seconds": 4.5}, format="json")
    assert r.status_code == 201, r.content
    r = client_for(bob).post(url, {"frame": 1, "mode": "gaze", "seconds": -1}, format="json")
    assert r.status_code == 400 and "seconds" in r.json()
    assert ImageVisit.objects.count() == 1
    assert client_for(alice).get(url).json()["results"][0]["seconds"] == 4.5


def test_an_image_collection_is_created_by_api_page_and_command_and_keeps_its_kind(alice, client_for):
    import io

    from django.core.management import call_command
    from django.test import Client

    r = client_for(alice).post("/api/studies/", {"name": "Tiles", "kind": "images"}, format="json")
    assert r.status_code == 201 and r.json()["kind"] == "images"
    r = client_for(alice).patch(f"/api/studies/{r.json()['id']}/", {"kind": "sequence"}, format="json")
    assert r.status_code == 400 and "cannot change kind" in r.json()["detail"]
    web = Client()
    web.force_login(alice)
    web.post("/studies/new/", {"name": "Tiles 2", "kind": "images", "quorum": 1, "repeats_per_observer": 1,
                               "status": "active"})
    assert Study.objects.get(name="Tiles 2").kind == "images"
    out = io.StringIO()
    call_command("create_study", "Tiles 3", "--coordinator", "alice", "--kind", "images", stdout=out)
    assert Study.objects.get(pk=int(out.getvalue().split()[-1])).kind == "images"
