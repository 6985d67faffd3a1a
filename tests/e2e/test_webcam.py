"""The bundled webcam gaze, end to end, in Chromium with a fake camera and no other host.

Chromium's fake camera plays ``fake_camera.py``'s video: a public-domain photograph of a face
(NASA's portrait of Eileen Collins, from scikit-image's sample data) moving a few pixels in a
circle. The vendored MediaPipe Face Mesh really detects that face and its irises in every frame
(``test_webcam_records_with_real_face_detection`` asserts it). A photograph's eyes do not move,
though, so a regression from its eyes to the screen cannot be accurate: that test measures and
stores whatever accuracy the pipeline gets (large), which tests the pipeline, not accuracy.
``test_webcam_accuracy_and_drift_with_moving_irises`` keeps the real detection but moves the
detected irises inside the detected eyes towards the target on the screen (a test hook,
``window.GAZECROWD_WEBCAM_HOOK``), so calibration, validation (< 3 degrees) and the drift check of
the next sequence can be checked. Every request to a host other than the live server is refused
and recorded: none may be attempted.

``GAZECROWD_WEBCAM_BENCH=1`` (bench/webcam_landmarks.py) runs the first test with the real page
timings (600 ms per calibration click, 1.5 s per validation target, the 3 s countdown) and writes
its measurements to ``bench/out/webcam.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from annotation import selectors
from annotation.models import Recording

from .conftest import CHROMIUM_ARGS, block_outside_hosts, chromium
from .fake_camera import write_y4m

ROOT = Path(__file__).resolve().parents[2]
BENCH = os.environ.get("GAZECROWD_WEBCAM_BENCH") == "1"
FAST = "window.GAZECROWD_TIMING = {dwellMs: 700, countdownS: 0, holdMs: 300};"

pytestmark = pytest.mark.django_db(transaction=True)

# Moves the detected irises to where an eye looking at the shown target would have them: along
# each eye's corner-to-corner axis by up to 15 % of the eye's width, across it by up to 8 %.
MOVE_IRISES = """
window.GAZECROWD_WEBCAM_HOOK = {
  landmarks: function (lm) {
    if (!lm) return lm;
    var t = document.getElementById("calib-target"), gx = 0.5, gy = 0.5;
    if (t && !t.hidden) {
      var r = t.getBoundingClientRect();
      gx = (r.left + r.width / 2) / window.innerWidth; gy = (r.top + r.height / 2) / window.innerHeight;
    }
    var out = lm.map(function (p) { return { x: p.x, y: p.y, z: p.z }; });
    [[33, 133, 468, 469], [263, 362, 473, 474]].forEach(function (e) {
      var o = lm[e[0]], i = lm[e[1]], mx = (o.x + i.x) / 2, my = (o.y + i.y) / 2;
      var ax = i.x - o.x, ay = i.y - o.y;  // outer -> inner
      var s = e[0] === 33 ? 1 : -1;        // both irises move the same way on the image
      var du = s * (0.5 - gx) * 0.3, dv = (gy - 0.5) * 0.16;
      var cx = mx + du * ax - dv * ay * s, cy = my + du * ay + dv * ax * s;
      var dx = cx - lm[e[2]].x, dy = cy - lm[e[2]].y;
      for (var k = e[2]; k < e[2] + 5; k++) { out[k].x = lm[k].x + dx; out[k].y = lm[k].y + dy; }
    });
    window.irisHookCalls = (window.irisHookCalls || 0) + 1;
    return out;
  },
};
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium whose camera plays the face video (and whose permission prompt says yes)."""
    video = write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m")
    with chromium([*CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
                   "--use-fake-ui-for-media-stream",
                   f"--use-file-for-fake-video-capture={video}"]) as launched:
        yield launched


def _offline(page, live_server) -> list[str]:
    """Refuse every request to another host; return the list of those attempted."""
    return block_outside_hosts(page, live_server.url)


def _open(login, study, sequence, init_script: str):
    return login("olga", init_script=init_script)


def _ready(page, study, sequence):
    page.goto(f"/studies/{study.pk}/sequences/{sequence.pk}/record/")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'ready'", polling=100)


def _calibrate_webcam(page, n_targets: int = 13) -> None:
    """Look at (the hook moves the irises) and click each target until all 13 are taken."""
    target = page.locator("#calib-target")
    for _ in range(n_targets * 4):
        help_text = page.inner_text("#calib-help")
        if "Calibration:" not in help_text:
            break
        target.wait_for(state="visible")
        attempts = page.evaluate("window.gazecrowdRecorder.calibAttempts")
        target.click()
        page.wait_for_function(f"window.gazecrowdRecorder.calibAttempts > {attempts}", polling=50, timeout=30_000)
        page.wait_for_timeout(50)
    page.wait_for_function("!document.getElementById('calib-help').textContent.includes('Calibration:')", polling=100)


def _start_webcam(page) -> None:
    page.check("input[value=webcam]")
    page.click("#start")
    page.locator("#consent").wait_for(state="visible")  # nothing started before consent
    assert page.evaluate("window.gazecrowdRecorder.webcam") is None
    page.click("#consent-accept")
    page.wait_for_function("document.getElementById('calib-help').textContent.includes('Calibration:')",
                           polling=100, timeout=60_000)


def _samples(recording):
    samples = selectors.recording_samples(recording)
    return samples[~np.isnan(samples[:, 2])]


def test_webcam_records_with_real_face_detection(observed_sequence, login, live_server, shot):
    study, sequence = observed_sequence
    page = _open(login, study, sequence, "" if BENCH else FAST)
    foreign = _offline(page, live_server)
    _ready(page, study, sequence)
    shot(page, "30-record-setup-webcam")
    page.check("input[value=webcam]")
    page.click("#start")
    page.locator("#consent").wait_for(state="visible")
    shot(page, "30b-webcam-consent")
    page.keyboard.press("Escape")  # (nothing happens: only the buttons answer)
    assert page.evaluate("window.gazecrowdRecorder.webcam") is None
    page.click("#consent-accept")
    page.wait_for_function("document.getElementById('calib-help').textContent.includes('Calibration:')",
                           polling=100, timeout=60_000)
    page.wait_for_function("window.gazecrowdRecorder.webcam.stats().faces > 3", polling=100, timeout=60_000)
    _calibrate_webcam(page)
    page.locator("#calib-result").wait_for(state="visible", timeout=60_000)
    text = page.inner_text("#calib-accuracy")
    shot(page, "31-webcam-validation")
    validation = page.evaluate("window.gazecrowdRecorder.validationDeg")
    assert "Mean error" in text and validation is not None and 0 <= validation <= 90, text
    stats = page.evaluate("window.gazecrowdRecorder.webcam.stats()")
    # The face model found the photograph's face (with irises) in (nearly) every camera frame.
    assert stats["faces"] >= 0.9 * stats["frames"] and stats["frames"] > 20, stats
    page.click("#calib-go")
    page.wait_for_function("window.gazecrowdRecorder.state === 'finished'", timeout=120_000, polling=100)
    recorder = page.evaluate("""(() => { var r = window.gazecrowdRecorder;
        return {timing: r.timing, lambda: r.lambda, validationDeg: r.validationDeg}; })()""")

    recording = Recording.objects.get(observer__username="olga")
    assert recording.source == Recording.Source.WEBCAM and recording.status == Recording.Status.FINISHED
    assert recording.validation_error_deg == pytest.approx(validation, abs=1e-3)
    assert 0 <= recording.validation_error_deg <= 90 and recording.drift_error_deg is None
    assert len(_samples(recording)) > 10  # gaze estimates went through the batch API
    assert foreign == [], foreign  # the face model, its wasm and data: all from this server

    timing = recorder["timing"]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "timings": "page defaults" if BENCH else "shortened (test)",
        "estimation_hz_mean": round(stats["meanHz"], 1), "estimation_hz_last_2s": round(stats["hz"], 1),
        "frames": stats["frames"], "faces": stats["faces"],
        "calibration_start_to_first_sample_s": round((timing["firstSample"] - timing["calibrationStart"]) / 1000, 1),
        "validation_error_deg": round(validation, 2), "lambda": recorder["lambda"],
        "samples": int(len(_samples(recording))), "cpu_count": os.cpu_count(),
    }
    out = ROOT / ("bench/out" if BENCH else "test-artifacts") / "webcam.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


def test_webcam_accuracy_and_drift_with_moving_irises(observed_sequence, login, live_server, shot):
    study, sequence = observed_sequence
    study.repeats_per_observer = 2  # Olga records the sequence twice (the second after a drift check)
    study.save(update_fields=["repeats_per_observer"])
    page = _open(login, study, sequence, FAST + MOVE_IRISES)
    foreign = _offline(page, live_server)
    _ready(page, study, sequence)
    page.fill("#screen-cm", "34.5")
    page.fill("#distance-cm", "60")
    _start_webcam(page)
    _calibrate_webcam(page)
    page.locator("#calib-result").wait_for(state="visible", timeout=60_000)
    validation = page.evaluate("window.gazecrowdRecorder.validationDeg")
    assert validation is not None and validation < 3, page.inner_text("#calib-accuracy")
    assert "recommended" not in page.inner_text("#calib-accuracy")
    assert page.evaluate("window.irisHookCalls") > 20
    page.click("#calib-go")
    page.wait_for_function("window.gazecrowdRecorder.state === 'finished'", timeout=120_000, polling=100)
    first = Recording.objects.get(observer__username="olga")
    assert first.validation_error_deg == pytest.approx(validation, abs=1e-3) and first.drift_error_deg is None
    # The hook looks at the window's centre during playback: the centre of the fitted image.
    valid = _samples(first)
    assert abs(np.median(valid[:, 2]) - (sequence.width - 1) / 2) < 0.15 * sequence.width
    assert abs(np.median(valid[:, 3]) - (sequence.height - 1) / 2) < 0.15 * sequence.height

    # The next sequence in this tab: the kept calibration is offered; a 5-target drift check
    # replaces the calibration, and its error is stored beside the validation's.
    _ready(page, study, sequence)
    assert page.locator("#reuse-row").is_visible()
    assert page.input_value("#screen-cm") == "34.5"  # the stated geometry of the last recording
    page.check("input[value=webcam]")
    page.click("#start")
    page.click("#consent-accept")
    page.wait_for_function("document.getElementById('calib-help').textContent.includes('Drift check')",
                           polling=100, timeout=60_000)
    page.locator("#calib-result").wait_for(state="visible", timeout=60_000)
    drift = page.evaluate("window.gazecrowdRecorder.driftDeg")
    assert drift is not None and drift < 3, page.inner_text("#calib-accuracy")
    shot(page, "32-webcam-drift-check")
    page.click("#calib-go")
    page.wait_for_function("window.gazecrowdRecorder.state === 'finished'", timeout=120_000, polling=100)
    second = Recording.objects.filter(observer__username="olga").order_by("-id").first()
    assert second.pk != first.pk and second.source == "webcam"
    assert second.drift_error_deg == pytest.approx(drift, abs=1e-3)
    assert second.validation_error_deg == pytest.approx(validation, abs=1e-3)
    page.goto(f"/recordings/{second.pk}/")
    assert f"{second.drift_error_deg:.2f}°" in page.inner_text("[data-drift]")
    assert foreign == [], foreign


@pytest.mark.parametrize("error", ["NotAllowedError", "NotFoundError"])
def test_webcam_falls_back_to_the_mouse(observed_sequence, login, live_server, error):
    """Permission refused, or no camera: the page records with the mouse pointer instead.

    The refusal is made in the page (getUserMedia rejects with the browser's error) since this
    browser's fake camera always says yes.
    """
    deny = ("navigator.mediaDevices.getUserMedia = function () {"
            f" return Promise.reject(new DOMException('refused', '{error}')); }};")
    study, sequence = observed_sequence
    page = _open(login, study, sequence, FAST + deny)
    foreign = _offline(page, live_server)
    _ready(page, study, sequence)
    page.uncheck("#calibrate")
    page.check("input[value=webcam]")
    page.click("#start")
    page.click("#consent-accept")
    page.wait_for_function("window.gazecrowdRecorder.state === 'finished'", timeout=60_000, polling=100)
    note = page.inner_text("#finish-text")
    assert "mouse pointer" in note and ("not allowed" if error == "NotAllowedError" else "no camera") in note
    recording = Recording.objects.get(observer__username="olga")
    assert recording.source == Recording.Source.MOUSE and recording.validation_error_deg is None
    assert foreign == [], foreign


def test_consent_can_choose_the_mouse(observed_sequence, login, live_server, shot):
    study, sequence = observed_sequence
    page = _open(login, study, sequence, FAST)
    _ready(page, study, sequence)
    # The screen's width from a bank card matched on the screen (85.6 mm = 400 CSS px here).
    page.click("#card-check")
    page.evaluate("""(() => { var r = document.getElementById('card-size'); r.value = 400;
                              r.dispatchEvent(new Event('input')); })()""")
    assert page.locator("#card-box").bounding_box()["width"] == pytest.approx(400, abs=1)
    shot(page, "33-card-check")
    page.click("#card-done")
    expected = round(page.evaluate("screen.width") * 8.56 / 400, 1)
    assert float(page.input_value("#screen-cm")) == pytest.approx(expected, abs=0.05)
    page.uncheck("#calibrate")
    page.check("input[value=webcam]")
    page.click("#start")
    page.click("#consent-mouse")
    page.wait_for_function("window.gazecrowdRecorder.state === 'finished'", timeout=60_000, polling=100)
    assert page.evaluate("window.gazecrowdRecorder.webcam") is None  # the camera never started
    assert Recording.objects.get(observer__username="olga").source == Recording.Source.MOUSE
    page.goto("/privacy/webcam/")
    assert "never leaves your computer" in page.inner_text("main")
