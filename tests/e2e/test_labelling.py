"""The labelling page of an image collection: an observer draws a box and a freehand outline
on the first image, moves on with the keyboard, labels the second image by gaze; the stored
labels have the drawn geometry and plausible times, and the time per image is stored too.
"""

from __future__ import annotations

import numpy as np
import pytest

from annotation import hooks
from annotation.models import ImageLabel, ImageVisit, Recording
from crowd import services
from crowd.models import Study, StudyMembership
from tests.crowd.fixtures import write_images_zip

pytestmark = pytest.mark.django_db(transaction=True)
W, H = 64, 48


@pytest.fixture
def collection(user, tmp_path, monkeypatch):
    monkeypatch.setattr(hooks, "_recording_finished", [])
    cora, olga = user("cora"), user("olga")
    study = services.study_create(name="Pearls", created_by=cora, kind=Study.Kind.IMAGES,
                                  target_structure="keratin pearl")
    frames = np.random.default_rng(0).integers(0, 255, (3, H, W), dtype=np.uint8)
    seq = services.sequence_import(study=study, name="tiles", path=write_images_zip(
        tmp_path / "tiles.zip", frames, names=["t1.png", "t2.png", "t3.png"]))
    services.membership_set(study=study, user=olga, role=StudyMembership.Role.OBSERVER)
    services.assignment_create(sequence=seq, observer=olga)
    return study, seq


def _to_screen(page, x, y):
    """Image pixel edges -> page coordinates of the label canvas."""
    r = page.locator("#label-canvas").bounding_box()
    return r["x"] + x * r["width"] / W, r["y"] + y * r["height"] / H


def test_box_outline_and_gaze_labels_with_their_times(collection, login, shot):
    study, seq = collection
    page = login("olga")
    page.goto("/assignments/")
    page.click("text=Draw boxes")
    page.wait_for_url(f"**/sequences/{seq.pk}/label/?mode=box")
    page.wait_for_function("window.gazecrowdLabeller !== undefined")
    # a box from (8, 6) to (40, 30): pointer down, drag, pointer up ~0.3 s later
    page.mouse.move(*_to_screen(page, 8, 6))
    page.mouse.down()
    for f in np.linspace(0, 1, 6):
        page.mouse.move(*_to_screen(page, 8 + 32 * f, 6 + 24 * f))
        page.wait_for_timeout(50)
    page.mouse.up()
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.saved === 1")
    shot(page, "label-box")

    # freehand: a triangle drawn with the button held down, on the same image
    page.click("text=Freehand outlines")
    page.wait_for_function("window.gazecrowdLabeller !== undefined && window.gazecrowdLabeller.saved === 0")
    page.mouse.move(*_to_screen(page, 10, 10))
    page.mouse.down()
    for x, y in [(30, 10), (50, 10), (50, 25), (50, 40), (30, 25)]:
        page.mouse.move(*_to_screen(page, x, y), steps=4)
        page.wait_for_timeout(40)
    page.mouse.up()
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.saved === 1")
    assert page.locator("#label-count").inner_text() == "2"  # the box (loaded) and the outline
    page.keyboard.press("ArrowRight")  # leaving image 1 stores its time
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.visits === 1 && window.gazecrowdLabeller.image() === 1")
    assert "image 2 of 3 (t2)" in page.locator("#position").inner_text()
    shot(page, "label-freehand")

    box = ImageLabel.objects.get(mode="box")
    assert box.frame == 0 and box.observer.username == "olga"
    np.testing.assert_allclose(box.box, [8, 6, 32, 24], atol=0.6)
    assert 0.15 < box.seconds < 10
    outline = ImageLabel.objects.get(mode="freehand")
    pts = np.asarray(outline.outline)
    assert len(pts) >= 6 and pts[:, 0].max() == pytest.approx(49.5, abs=0.6)
    assert 0.15 < outline.seconds < 10
    # leaving the box page (for the freehand one) stored the time on image 1 in box mode too
    assert sorted(ImageVisit.objects.values_list("mode", "frame")) == [("box", 0), ("freehand", 0)]

    # gaze mode: start, keep the pointer on an instance, press Space, next image, finish
    page.goto(f"/studies/{study.pk}/sequences/{seq.pk}/label/?mode=gaze")
    page.click("#gaze-start")
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.state === 'recording'")
    page.mouse.move(*_to_screen(page, 20.5, 20.5))
    page.wait_for_timeout(400)
    page.keyboard.press("Space")
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.saved === 1")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    page.click("#gaze-finish")
    page.wait_for_function("window.gazecrowdLabeller && window.gazecrowdLabeller.state === 'finished'")
    shot(page, "label-gaze")
    mark = ImageLabel.objects.get(mode="gaze")
    np.testing.assert_allclose(mark.point, [20, 20], atol=0.6)
    assert 0.3 < mark.seconds < 10
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.FINISHED
    visits = ImageVisit.objects.filter(mode="gaze").order_by("frame")
    assert [v.frame for v in visits] == [0, 1] and all(v.recording_id == recording.pk for v in visits)
