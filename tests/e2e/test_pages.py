"""The web pages in a real browser, told as one study's story.

Alice coordinates: she creates the study, uploads a sequence (with reference masks), invites
an observer by link and assigns him. Bob follows the link, creates his account, calibrates and
records the sequence with his mouse on the moving disc, and uploads a tracker file of a second
session. Alice runs the pipeline and follows it on the dashboard. Dave, a researcher, opens the
results, plays the viewer with the overlays and the gaze paths, and downloads an export. Eve,
another observer, cannot open Bob's recording.
"""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest

from annotation.models import Recording
from crowd import services
from crowd.models import Study, StudyMembership

from .scene import FRAMES, RADIUS, disc_centre

Role = StudyMembership.Role
FAST = "window.GAZECROWD_TIMING = {dwellMs: 700, countdownS: 0};"

pytestmark = pytest.mark.django_db(transaction=True)


def _client_point(page, x: float, y: float) -> tuple[float, float]:
    """Viewport position of image pixel (x, y) on the recording canvas."""
    rect = page.evaluate("window.gazecrowdRecorder && window.gazecrowdRecorder.imageRect()")
    return rect["left"] + (x + 0.5) * rect["scale"], rect["top"] + (y + 0.5) * rect["scale"]


def _calibrate(page) -> None:
    """Click the 9 calibration targets, then point at each validation target."""
    target = page.locator("#calib-target")
    for _ in range(9):
        target.wait_for(state="visible")
        box = target.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        target.click()
    for i in range(9):
        page.wait_for_function(f"document.getElementById('calib-help').textContent.includes('({i + 1} of 9)')", polling=100)
        box = target.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2 + 3, box["y"] + box["height"] / 2)
        page.wait_for_function(
            f"!document.getElementById('calib-help').textContent.includes('({i + 1} of 9)')", polling=100
        )


def test_a_study_from_creation_to_results(anonymous, login, user, shot, sequence_files, tmp_path):
    frames_zip, masks_zip = sequence_files
    user("alice")
    user("dave")
    user("eve")

    # --- Alice, coordinator: create the study --------------------------------------------
    alice = login("alice")
    shot(alice, "01-home-empty")
    alice.click("text=New study")
    alice.fill("#id_name", "Moving disc")
    alice.fill("#id_target_structure", "the bright disc")
    alice.fill("#id_instructions", "Keep your eyes on the bright disc.")
    alice.fill("#id_frame_rate", "8")
    alice.fill("#id_quorum", "3")
    shot(alice, "02-study-create")
    alice.click("button:has-text('Create study')")
    alice.wait_for_url(re.compile(r"/studies/\d+/sequences/upload/$"))
    study = Study.objects.get(name="Moving disc")
    assert study.frame_rate == 8 and study.quorum == 3

    # A bad file: a clear error on the page, nothing stored.
    bad = tmp_path / "notes.zip"
    bad.write_bytes(b"this is not a zip archive")
    alice.set_input_files("#id_file", str(bad))
    alice.click("button:has-text('Upload')")
    error = alice.locator("[data-upload-error]")
    error.wait_for(state="visible")
    alice.wait_for_function("document.querySelector('[data-upload-error]')?.textContent.length > 0", polling=100)
    assert "notes.zip" in error.inner_text() and "zip" in error.inner_text().lower()
    shot(alice, "03-upload-error")
    assert not study.sequences.exists()

    # The real sequence, with its reference masks; the progress bar reaches 100 %.
    alice.fill("#id_name", "disc")
    alice.set_input_files("#id_file", str(frames_zip))
    alice.set_input_files("#id_truth", str(masks_zip))
    alice.click("button:has-text('Upload')")
    alice.wait_for_url(re.compile(rf"/studies/{study.pk}/$"))
    sequence = study.sequences.get()
    assert (sequence.n_frames, sequence.height, sequence.width) == (FRAMES, 96, 128)
    assert sequence.has_masks
    assert "imported" in alice.locator(".messages").inner_text()
    shot(alice, "04-dashboard-sequence")

    # Invite an observer by link.
    alice.click("text=Members & invitations")
    alice.select_option("#id_role", "observer")
    alice.click("button:has-text('Create invitation link')")
    link = alice.locator("[data-invite-link]").first.input_value()
    assert "/invite/" in link
    shot(alice, "05-members-invitation")

    # --- Bob: follows the link, creates his account, joins as observer --------------------
    bob = anonymous(FAST)
    bob.goto(link)
    assert "Join “Moving disc”" in bob.inner_text("h1")
    shot(bob, "06-invitation")
    bob.fill("#id_username", "bob")
    bob.fill("#id_password1", "Bob-Pass-99312")
    bob.fill("#id_password2", "Bob-Pass-99312")
    bob.click("button:has-text('Create account and join')")
    bob.wait_for_url(re.compile(r"/assignments/$"))
    assert "Nothing to record" in bob.inner_text("main")

    # Alice assigns every observer (Bob and Eve) to every sequence.
    services.membership_set(study=study, user=user("eve"), role=Role.OBSERVER)
    services.membership_set(study=study, user=user("dave"), role=Role.RESEARCHER)
    alice.reload()
    alice.click("button:has-text('Assign every observer to every sequence')")
    assert "2 added" in alice.locator(".messages").inner_text()
    assert alice.locator("input[name^='a-']:checked").count() == 2
    shot(alice, "07-members-assigned")

    # --- Bob records: calibration, then the sequence with his pointer on the disc ---------
    bob.goto("/assignments/")
    shot(bob, "08-assignments")
    bob.click("a:has-text('Record')")
    bob.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'ready'", polling=100)
    assert "Keep your eyes on the bright disc." in bob.inner_text("main")
    assert bob.locator("input[value=webgazer]").is_disabled()  # WebGazer is not installed here
    shot(bob, "09-record-setup")
    bob.fill("#screen-cm", "34.5")
    bob.fill("#distance-cm", "60")
    bob.click("#start")
    _calibrate(bob)
    bob.locator("#calib-result").wait_for(state="visible")
    accuracy = bob.inner_text("#calib-accuracy")
    assert "Mean error" in accuracy and "9 of 9" in accuracy
    calibration_deg = bob.evaluate("window.gazecrowdRecorder && window.gazecrowdRecorder.calibrationDeg")
    assert 0 < calibration_deg < 1.5  # the pointer sat 3 px beside each target
    shot(bob, "10-calibration-result")
    bob.click("#calib-go")
    bob.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'recording'", polling=100)
    # One screenshot mid-playback (the full-screen canvas and the streaming indicator).
    x, y = disc_centre(0)
    bob.mouse.move(*_client_point(bob, x, y))
    shot(bob, "11-recording", full_page=False)  # the viewport: the stage is fixed
    moves = 0
    t0 = time.monotonic()
    while True:  # one round trip per move: the pointer must keep up with the frames
        now = bob.evaluate("(r => ({state: r.state, frame: r.frame(), rect: r.imageRect()}))"
                           "(window.gazecrowdRecorder)")
        if now["state"] != "recording":
            break
        x, y = disc_centre(max(0, min(FRAMES - 1, now["frame"])))
        rect = now["rect"]
        bob.mouse.move(rect["left"] + (x + 0.5) * rect["scale"], rect["top"] + (y + 0.5) * rect["scale"])
        moves += 1
        assert time.monotonic() - t0 < 30, "playback did not end"
    bob.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'finished'", polling=100)
    assert moves > 5
    finish_text = bob.inner_text("#finish")
    assert "Thank you" in finish_text
    shot(bob, "12-record-finished")

    recording = Recording.objects.get(observer__username="bob", sequence=sequence)
    assert recording.status == Recording.Status.FINISHED and recording.source == "mouse"
    assert recording.calibration_error_deg == pytest.approx(calibration_deg, abs=1e-3)
    assert recording.playback_fps == 8
    from annotation import selectors as annotation_selectors

    samples = annotation_selectors.recording_samples(recording)
    counts = annotation_selectors.recording_counts(recording)
    assert counts["batches"] >= 1 and counts["batch_numbers_missing"] == []
    assert f"{len(samples)} gaze samples" in finish_text
    # Samples fall on the disc: the pointer followed it frame by frame.
    valid = samples[~np.isnan(samples[:, 2])]
    centres = np.array([disc_centre(int(f)) for f in valid[:, 1]])
    on_disc = np.hypot(valid[:, 2] - centres[:, 0], valid[:, 3] - centres[:, 1]) <= RADIUS
    assert len(valid) > 30 and on_disc.mean() > 0.7

    # Bob's own recording page opens; the same URL is a 404 for Eve, another observer.
    bob.goto(f"/recordings/{recording.pk}/")
    assert f"Recording #{recording.pk}" in bob.inner_text("h1")
    shot(bob, "13-recording-detail")

    # Eve, another observer, cannot open Bob's recording nor the gaze of the sequence.
    eve = login("eve")
    assert eve.goto(f"/recordings/{recording.pk}/").status == 404
    shot(eve, "14-observer-forbidden-recording")
    assert eve.goto(f"/studies/{study.pk}/sequences/{sequence.pk}/gaze-paths.json").status == 403
    # Bob's invitation link was single-use.
    response = eve.goto(link)
    assert response.status == 410 and "already been used" in eve.inner_text("main")

    # Eve recorded her session elsewhere: she uploads its tracker export (canonical CSV).
    gaze_csv = tmp_path / "eve-session.csv"
    rows = ["observer,t_ms,frame,x,y"]
    for i in range(FRAMES * 6):
        frame = i // 6
        gx, gy = disc_centre(frame)
        rows.append(f"eve,{i * 1000 / 48:.1f},{frame},{gx + 2:.1f},{gy - 1:.1f}")
    gaze_csv.write_text("\n".join(rows) + "\n")
    eve.goto("/assignments/")
    eve.click("a:has-text('Upload tracker file')")
    eve.set_input_files("#id_file", str(gaze_csv))
    shot(eve, "15-gaze-upload")
    eve.click("button:has-text('Upload')")
    eve.wait_for_url(re.compile(r"/recordings/\d+/$"))
    assert "imported: 60 samples" in eve.locator(".messages").inner_text()
    assert Recording.objects.get(observer__username="eve").status == Recording.Status.FINISHED

    # --- Alice runs the pipeline and follows it on the dashboard ---------------------------
    alice.goto(f"/studies/{study.pk}/")
    shot(alice, "16-dashboard-recordings")
    alice.select_option("#id_sequence", str(sequence.pk))
    alice.select_option("#id_pool", "mean")
    alice.uncheck("#id_compare")  # the baselines (and a learned pool) would only make it slower
    alice.click("button:has-text('Start run')")
    alice.wait_for_url(re.compile(rf"/studies/{study.pk}/#runs$"))
    row = alice.locator("#runs-table tbody tr").first
    # The dashboard polls the runs API until the run ends (eager Celery: already ended here).
    alice.wait_for_function(
        "document.querySelector('#runs-table tbody tr')?.dataset.finished === '1'", timeout=90_000, polling=100
    )
    status = row.locator("[data-status]").inner_text()
    assert status == "succeeded", row.locator("[data-error]").inner_text()
    shot(alice, "17-dashboard-run-succeeded")

    # --- Dave, researcher: results, viewer, figures, downloads -----------------------------
    dave = login("dave")
    dave.goto(f"/studies/{study.pk}/")
    dave.click("a:has-text('View results')")
    dave.wait_for_url(re.compile(rf"/studies/{study.pk}/runs/\d+/$"))
    dave.wait_for_function(
        "document.querySelectorAll('img[data-figure]').length > 0 && "
        "Array.from(document.querySelectorAll('img[data-figure]')).every(i => i.complete && i.naturalWidth > 0)"
    )
    figures = dave.eval_on_selector_all("img[data-figure]", "els => els.map(e => e.dataset.figure)")
    assert "roc.png" in figures and "variance.png" in figures
    exports = dave.eval_on_selector_all("[data-export]", "els => els.map(e => e.dataset.export)")
    assert set(exports) == {"nifti", "png", "coco", "npz", "csv"}
    assert dave.locator("[data-report='report.html']").count() == 1
    row = dave.locator("table:has(th:text('AUC')) tbody tr").first.locator("td")
    dice, auc = float(row.nth(1).inner_text()), float(row.nth(4).inner_text())
    assert 0.5 < auc <= 1.0  # the gaze followed the disc: the ground truth finds it
    assert 0.0 <= dice <= 1.0 and dave.locator("[data-delivered]").count() == 1
    assert "pool" in dave.inner_text("main") and "mean" in dave.inner_text("main")
    # The viewer: heat map over the frame, then the mask, then the gaze paths.
    _wait_painted(dave)
    heat = _canvas_pixel(dave, *disc_centre(0))
    dave.select_option("#overlay", "mask")
    dave.fill("#opacity", "100")
    dave.dispatch_event("#opacity", "input")
    _wait_painted(dave)
    masked = _canvas_pixel(dave, *disc_centre(0))
    assert masked[:3] == [0, 220, 255]  # the mask's cyan, fully opaque, on the disc
    assert heat != masked
    dave.check("#gaze")
    dave.locator("#gaze-legend li").first.wait_for()
    assert dave.locator("#gaze-legend li").count() == 2
    dave.focus("#frame")
    dave.keyboard.press("ArrowRight")
    assert dave.evaluate("window.gazecrowdViewer.frame()") == 1
    shot(dave, "18-results-viewer")
    with dave.expect_download() as download_info:
        dave.click("[data-export='npz']")
    download = download_info.value
    data = np.load(io.BytesIO(open(download.path(), "rb").read()))
    assert data["masks"].shape == (FRAMES, 96, 128) and data["scores"].dtype == np.float32
    inside = data["scores"][0][int(disc_centre(0)[1]), int(disc_centre(0)[0])]
    outside = data["scores"][0][5, 120]
    assert inside > outside

    # Observers see none of the results.
    assert eve.goto(dave.url).status == 403


def _wait_painted(page) -> None:
    """Wait until the viewer's frame and overlay images are loaded, then paint again."""
    page.wait_for_function(
        "Array.from(document.images).length >= 0 && (() => { window.gazecrowdViewer.render();"
        " const c = document.getElementById('viewer-canvas').getContext('2d');"
        " return c.getImageData(0, 0, 1, 1).data[3] === 255; })()"
    )
    page.wait_for_timeout(300)
    page.evaluate("window.gazecrowdViewer.render()")


def _canvas_pixel(page, x: float, y: float) -> list[int]:
    return page.evaluate(
        f"Array.from(document.getElementById('viewer-canvas').getContext('2d')"
        f".getImageData({int(x)}, {int(y)}, 1, 1).data)"
    )
