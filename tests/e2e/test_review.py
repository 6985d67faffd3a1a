"""Reviewing and correcting ground truth in the browser (issue 16, items 1-3).

Cora coordinates a study of the moving disc with reference masks; a run's score map is a hill
on the disc (tests/review_scene.py), except on frame 6 where it sits 30 px off, so that frame
is the worst. She drags the threshold slider and sees the mask grow, saves the threshold and
the export follows it, paints a stroke and saves it as a version that the API returns, and
compares the computed masks with the reference to jump to the worst frame.

With GAZECROWD_UPDATE_SCREENSHOTS=1 the 1366x768 screenshots of docs/web.md are rewritten.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from crowd import services
from crowd.models import StudyMembership
from segmentation.models import GroundTruth, GroundTruthVersion
from tests.review_scene import hill_scores, scored_run

from .conftest import ROOT, block_outside_hosts, log_in_page
from .scene import COLS, FRAMES, RADIUS, ROWS, disc_centre

pytestmark = pytest.mark.django_db(transaction=True)
LAPTOP = {"width": 1366, "height": 768}
WORST = 6


def _centre(k):
    x, y = disc_centre(k)
    return (x + 30.0, y) if k == WORST else (x, y)


@pytest.fixture(autouse=True)
def _fresh_array_cache(monkeypatch):
    """Run ids (and so ground-truth file names) are reused after a rolled-back test on SQLite:
    each test starts with an empty decoded-array cache, as a new server process would."""
    from segmentation import overlays

    monkeypatch.setattr(overlays, "_ground_truth", overlays._ArrayCache())


@pytest.fixture
def review_run(user, sequence_files):
    cora = user("cora")
    study = services.study_create(name="Disc review", created_by=cora, frame_rate=8.0)
    sequence = services.sequence_import(study=study, path=sequence_files[0], name="disc",
                                        truth=sequence_files[1])
    rita = user("rita")
    services.membership_set(study=study, user=rita, role=StudyMembership.Role.RESEARCHER)
    scores = hill_scores(FRAMES, ROWS, COLS, _centre, sigma=RADIUS * 0.85)
    return scored_run(study=study, sequence=sequence, scores=scores, threshold=0.5)


@pytest.fixture
def laptop(browser, live_server, shot):
    """``laptop(username)`` -> a logged-in page at 1366x768 that may not reach outside hosts."""
    contexts = []

    def open_page(username):
        context = browser.new_context(viewport=LAPTOP, accept_downloads=True, base_url=live_server.url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        outside = block_outside_hosts(page, live_server.url)
        page.outside = outside
        return log_in_page(page, username)

    yield open_page
    for context in contexts:
        context.close()


def _screenshot(shot, page, name):
    path = shot(page, name, full_page=False)
    if os.environ.get("GAZECROWD_UPDATE_SCREENSHOTS"):
        (ROOT / "docs" / "screenshots").mkdir(exist_ok=True)
        shutil.copy(path, ROOT / "docs" / "screenshots" / f"{name}.png")


def _open(page, run):
    page.goto(f"/studies/{run.study_id}/runs/{run.pk}/")
    page.wait_for_function("window.gazecrowdReview !== undefined")


def _area(page):
    page.wait_for_function("document.getElementById('mask-area').dataset.area !== undefined")
    return int(page.get_attribute("#mask-area", "data-area"))


def _levels(run):
    with np.load(run.ground_truth.file.path) as z:
        return z["scores"]


def _zip_masks(data: bytes) -> np.ndarray:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))
        return np.stack([np.asarray(Image.open(io.BytesIO(archive.read(n)))) > 0 for n in names])


def _drag_threshold(page, fraction):
    box = page.locator("#threshold").bounding_box()
    y = box["y"] + box["height"] / 2
    start = page.evaluate("Number(document.getElementById('threshold').value)")
    page.mouse.move(box["x"] + 8 + start * (box["width"] - 16), y)
    page.mouse.down()
    page.mouse.move(box["x"] + 8 + fraction * (box["width"] - 16), y, steps=8)
    page.mouse.up()


def test_threshold_slider_redraws_the_mask_and_a_saved_threshold_drives_exports(laptop, review_run, shot):
    page = laptop("cora")
    _open(page, review_run)
    page.select_option("#overlay", "mask")
    at_rule = _area(page)
    levels = _levels(review_run)[0]
    assert at_rule == int((levels.astype(np.float32) / np.float32(65535) >= np.float32(0.5)).sum())
    marker = page.locator("#rule-marker").get_attribute("style")
    assert "left: 50%" in marker  # the rule's 0.5 is marked on the slider

    _drag_threshold(page, 0.2)
    t = page.evaluate("window.gazecrowdReview.threshold()")
    assert 0.1 < t < 0.3
    page.wait_for_function(f"Number(document.getElementById('mask-area').dataset.area) > {at_rule}")
    lower = _area(page)
    cut = page.evaluate(f"window.gazecrowdReview.cutLevel({t})")
    assert lower == int((levels >= cut).sum())  # the browser cut the stored levels exactly
    assert lower == int((levels.astype(np.float32) / np.float32(65535) >= np.float32(t)).sum())
    _screenshot(shot, page, "review-threshold")

    page.click("#save-threshold")
    page.wait_for_function("document.getElementById('threshold-status').textContent.startsWith('Saved')")
    gt = GroundTruth.objects.get(run=review_run)
    assert gt.reviewed_threshold == pytest.approx(t) and gt.reviewed_by.username == "cora"
    export = page.request.get(f"/api/studies/{review_run.study_id}/runs/{review_run.pk}/export/png/")
    assert export.ok
    assert int(_zip_masks(export.body())[0].sum()) == lower
    # A reload shows the saved threshold, and a researcher sees it but cannot save another.
    _open(page, review_run)
    assert page.evaluate("window.gazecrowdReview.threshold()") == pytest.approx(t)
    assert page.outside == []
    researcher = laptop("rita")
    _open(researcher, review_run)
    assert researcher.locator("#save-threshold").count() == 0
    assert researcher.locator("#edit-mode").count() == 0


def _canvas_in_view(page):
    page.evaluate("document.getElementById('viewer-canvas').scrollIntoView({block: 'start'})")


def _image_to_client(page, x, y):
    return page.evaluate(f"""(() => {{
        const c = document.getElementById('viewer-canvas'), r = c.getBoundingClientRect();
        const s = Math.min(r.width / c.width, r.height / c.height);
        return [r.left + (r.width - c.width * s) / 2 + ({x} + 0.5) * s,
                r.top + (r.height - c.height * s) / 2 + ({y} + 0.5) * s];
    }})()""")


def test_a_painted_stroke_is_saved_as_a_version_the_api_returns(laptop, review_run, shot):
    page = laptop("cora")
    _open(page, review_run)
    page.evaluate("window.gazecrowdViewer.goTo(3)")
    page.check("#edit-mode")
    page.locator("#brush-size").fill("6")
    _area(page)
    _canvas_in_view(page)
    # A stroke along row 80 from column 10 to 60, far below the disc.
    page.mouse.move(*_image_to_client(page, 10, 80))
    page.mouse.down()
    page.mouse.move(*_image_to_client(page, 60, 80), steps=12)
    page.mouse.up()
    page.wait_for_function("document.getElementById('edited-frames').textContent.includes('4')")
    # Undo and redo round-trip.
    page.click("#undo")
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'No unsaved edits.'")
    page.click("#redo")
    page.wait_for_function("document.getElementById('edited-frames').textContent.includes('4')")
    # The eraser removes part of the disc on the same frame.
    page.check("#tool-eraser")
    _canvas_in_view(page)
    cx, cy = disc_centre(3)
    page.mouse.move(*_image_to_client(page, cx, cy))
    page.mouse.down()
    page.mouse.up()
    assert page.evaluate(f"window.gazecrowdReview.editedValue(3, {int(round(cx))}, {int(round(cy))})") == 0
    page.check("#tool-brush")
    page.mouse.move(*_image_to_client(page, 35, 70))
    _screenshot(shot, page, "review-brush")
    page.fill("#version-note", "bar under the disc")
    page.click("#save-version")
    page.wait_for_function("document.getElementById('edit-status').dataset.version === '1'")

    version = GroundTruthVersion.objects.get()
    assert version.frames_edited == [3] and version.editor.username == "cora"
    assert version.run_id == review_run.pk and version.threshold == pytest.approx(0.5)
    listed = page.request.get(f"/api/studies/{review_run.study_id}/sequences/{review_run.sequence_id}/ground-truth/versions/").json()
    assert [v["version"] for v in listed] == [1]
    response = page.request.get(listed[0]["downloads"]["png"])
    assert response.ok and "_gt-v1.zip" in response.headers["content-disposition"]
    masks = _zip_masks(response.body())
    levels = _levels(review_run)
    computed = levels.astype(np.float32) / np.float32(65535) >= np.float32(0.5)
    assert masks[3, 80, 15:56].all(), "the stroke is in the saved version"
    assert masks[3, 80 - 2:80 + 3, 30].all()
    assert not masks[3, int(round(cy)), int(round(cx))], "the erased pixel is erased"
    assert not computed[3, 80, 15:56].any()
    np.testing.assert_array_equal(np.delete(masks, 3, axis=0), np.delete(computed, 3, axis=0))
    # The page lists the new version with its downloads.
    page.wait_for_selector("#versions a[data-version='1']")

    # Propagation: one stroke edits the frame and one either side, and one undo takes it back.
    page.fill("#propagate", "1")
    _canvas_in_view(page)
    page.mouse.move(*_image_to_client(page, 100, 10))
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'Edited frames: 3, 4, 5'")
    for k in (2, 3, 4):
        assert page.evaluate(f"window.gazecrowdReview.editedValue({k}, 100, 10)") == 1
    page.click("#undo")
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'No unsaved edits.'")
    # Fill flips the region clicked: the disc (an island) becomes background.
    page.fill("#propagate", "0")
    page.check("#tool-fill")
    _canvas_in_view(page)
    page.mouse.click(*_image_to_client(page, cx, cy))
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'Edited frames: 4'")
    assert page.evaluate(f"window.gazecrowdReview.editedValue(3, {int(cx)}, {int(cy)})") == 0
    assert page.evaluate(f"window.gazecrowdReview.editedValue(3, {int(cx) + 5}, {int(cy)})") == 0
    assert page.evaluate("window.gazecrowdReview.editedValue(3, 5, 5)") == 0  # background untouched
    page.click("#undo")
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'No unsaved edits.'")

    # Version 2 starts from version 1: its stroke stays, a new dot joins it.
    page.select_option("#edit-base", "v1")
    page.check("#tool-brush")
    _canvas_in_view(page)
    page.mouse.click(*_image_to_client(page, 100, 10))
    page.wait_for_function("document.getElementById('edited-frames').textContent === 'Edited frames: 4'")
    assert page.evaluate("window.gazecrowdReview.editedValue(3, 30, 80)") == 1  # version 1's stroke
    page.click("#save-version")
    page.wait_for_function("document.getElementById('edit-status').dataset.version === '2'")
    v2 = GroundTruthVersion.objects.get(number=2)
    assert v2.base.number == 1 and v2.run_id == review_run.pk and v2.frames_edited == [3]
    response = page.request.get(f"/api/studies/{review_run.study_id}/sequences/{review_run.sequence_id}/ground-truth/png/?version=2")
    masks2 = _zip_masks(response.body())
    assert masks2[3, 10, 100] and masks2[3, 80, 15:56].all()
    np.testing.assert_array_equal(np.delete(masks2, 3, axis=0), np.delete(masks, 3, axis=0))
    assert page.outside == []


def test_compare_shows_dice_per_frame_and_jumps_to_the_worst(laptop, review_run, shot):
    page = laptop("cora")
    _open(page, review_run)
    page.click("#compare-run")
    page.wait_for_selector("#worst-frames button")
    comparison = page.evaluate("window.gazecrowdReview.comparison()")
    assert len(comparison["frames"]) == FRAMES
    assert comparison["worst"][0] == WORST
    dice = {f["frame"]: f["dice"] for f in comparison["frames"]}
    assert dice[WORST] < min(v for k, v in dice.items() if k != WORST)
    assert "mean Dice" in page.text_content("#compare-summary")
    page.locator("#worst-frames button").first.click()
    page.wait_for_function(f"window.gazecrowdViewer.frame() === {WORST}")
    assert page.text_content("#frame-label") == f"frame {WORST + 1} of {FRAMES}"
    page.wait_for_function(f"document.getElementById('mask-area').dataset.frame === '{WORST}'"
                           " && document.getElementById('mask-area').dataset.dice !== undefined")
    shown = float(page.get_attribute("#mask-area", "data-dice"))
    assert shown == pytest.approx(dice[WORST], abs=1e-6)  # the page's colours count what the API did
    # The strip chart is drawn: a bar of a good frame is green, the worst one is not.
    colours = page.evaluate(f"""(() => {{
        const c = document.getElementById('dice-strip'), g = c.getContext('2d'), bw = c.width / {FRAMES};
        const at = k => Array.from(g.getImageData(Math.floor(k * bw + 2), c.height - 2, 1, 1).data);
        return [at(0), at({WORST})];
    }})()""")
    assert colours[0][1] > colours[0][0]  # green dominates on a good frame
    assert colours[1][0] > colours[1][1]  # red on the worst (Dice 0)
    _canvas_in_view(page)
    _screenshot(shot, page, "review-compare")
    # The strip follows the threshold: a much lower cut makes every mask larger, Dice lower.
    before = comparison["mean_dice"]
    page.evaluate("(() => { const s = document.getElementById('threshold'); s.value = 0.05;"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_function("window.gazecrowdReview.comparison().left.endsWith('0.0500')")
    assert page.evaluate("window.gazecrowdReview.comparison().mean_dice") < before
    assert page.input_value("#overlay") == "compare"
    assert page.outside == []
