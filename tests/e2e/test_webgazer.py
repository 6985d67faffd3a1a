"""With WebGazer served by this server the webcam source works (without it, the story test
sees the source disabled).

WebGazer itself (GPL-3.0) is not in the project, and headless Chromium has no camera: a small
stand-in ``webgazer.js`` with WebGazer's API, installed the way docs/web.md tells a deployer to
install the real one, checks the page's side of the integration (the files found among the
static files, the model path pointed at this server, the gaze listener as the gaze source, the
recording stored as a webcam recording, no request to another host).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotation.models import Recording

from .scene import FRAMES

ROOT = Path(__file__).resolve().parents[2]

FAST = "window.GAZECROWD_TIMING = {dwellMs: 300, countdownS: 0};"

pytestmark = pytest.mark.django_db(transaction=True)

STAND_IN = """
// A stand-in with WebGazer's API: it "sees" the observer look at the centre of the window.
window.webgazer = (function () {
  var listener = null, timer = null;
  var wg = {
    params: { faceMeshSolutionPath: "./mediapipe/face_mesh" },
    saveDataAcrossSessions: function () { return wg; },
    setGazeListener: function (f) { listener = f; return wg; },
    showVideoPreview: function () { return wg; },
    showPredictionPoints: function () { return wg; },
    begin: function () {
      window.faceMeshPathAtBegin = wg.params.faceMeshSolutionPath;
      timer = setInterval(function () {
        if (listener) listener({ x: window.innerWidth / 2, y: window.innerHeight / 2 }, 0);
      }, 30);
      return Promise.resolve(wg);
    },
    end: function () { clearInterval(timer); return wg; },
  };
  return wg;
})();
"""


def test_webcam_recording_with_webgazer_served_locally(observed_sequence, login, settings, tmp_path,
                                                       live_server, shot):
    vendor = tmp_path / "static" / "vendor" / "webgazer"
    (vendor / "mediapipe" / "face_mesh").mkdir(parents=True)
    (vendor / "webgazer.js").write_text(STAND_IN)
    (vendor / "mediapipe" / "face_mesh" / "face_mesh.js").write_text("// model files go here\n")
    settings.STATICFILES_DIRS = [ROOT / "static", tmp_path / "static"]

    study, sequence = observed_sequence
    page = login("olga", init_script=FAST)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"/studies/{study.pk}/sequences/{sequence.pk}/record/")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'ready'", polling=100)
    webcam = page.locator("input[value=webgazer]")
    assert webcam.is_enabled()
    webcam.check()
    page.uncheck("#calibrate")
    shot(page, "20-record-setup-webcam")
    page.click("#start")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'finished'", timeout=30_000, polling=100)

    assert page.evaluate("window.faceMeshPathAtBegin") == "/static/vendor/webgazer/mediapipe/face_mesh"
    recording = Recording.objects.get(observer__username="olga")
    assert recording.source == Recording.Source.WEBCAM
    assert recording.status == Recording.Status.FINISHED
    from annotation import selectors

    samples = selectors.recording_samples(recording)
    valid = samples[~np.isnan(samples[:, 2])]  # lost samples (no estimate yet) dropped
    assert len(valid) > 20
    assert len(set(valid[:, 1].astype(int))) >= FRAMES - 2  # gaze on (nearly) every frame
    # The stand-in looks at the window's centre: the centre of the fitted image.
    assert abs(valid[:, 2].mean() - (sequence.width - 1) / 2) < 1.5
    assert abs(valid[:, 3].mean() - (sequence.height - 1) / 2) < 1.5
    foreign = [u for u in requests if not u.startswith((live_server.url, "data:"))]
    assert foreign == [], foreign
