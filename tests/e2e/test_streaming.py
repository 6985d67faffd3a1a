"""Gaze streaming survives a flaky network, and the dashboard follows a run as it progresses.

The network is made flaky in the browser (Playwright's request routing): a batch first answered
503 is retried; a batch that the server never received although the page thought so is resent
when finishing reports it missing. The on-page indicator says what happens.
"""

from __future__ import annotations

import pytest

from annotation import selectors
from annotation.models import Recording
from segmentation.models import Run

FAST = "window.GAZECROWD_TIMING = {dwellMs: 300, countdownS: 0};"
# Keep every text the stream indicator showed (it changes faster than a test can look).
INDICATOR_LOG = """
window.indicatorLog = [];
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("indicator");
  if (el) new MutationObserver(function () { window.indicatorLog.push(el.textContent); })
    .observe(el, { childList: true, characterData: true, subtree: true });
});
"""

pytestmark = pytest.mark.django_db(transaction=True)


def test_batches_are_retried_and_missing_ones_resent(observed_sequence, login, shot):
    study, sequence = observed_sequence
    page = login("olga", init_script=FAST + INDICATOR_LOG)
    attempts: dict[int, int] = {}

    def flaky(route, request):
        number = request.post_data_json["batch"]
        attempts[number] = attempts.get(number, 0) + 1
        if attempts[number] == 1 and number == 0:
            route.fulfill(status=503, body="busy")  # the server is busy: retry later
        elif attempts[number] == 1:
            # Lost on the way although the page was told it arrived: finishing must notice.
            route.fulfill(status=201, content_type="application/json",
                          body=f'{{"batch": {number}, "stored": true, "samples": 1}}')
        else:
            route.continue_()

    page.route("**/api/recordings/*/batches/", flaky)
    page.goto(f"/studies/{study.pk}/sequences/{sequence.pk}/record/")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'ready'", polling=100)
    page.uncheck("#calibrate")
    page.click("#start")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'recording'", polling=100)
    page.mouse.move(640, 400)
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'finished'", timeout=30_000, polling=100)
    shot(page, "21-record-finished-after-retries")

    recording = Recording.objects.get(observer__username="olga")
    counts = selectors.recording_counts(recording)
    assert recording.status == Recording.Status.FINISHED
    assert counts["batches"] == recording.expected_batches == len(attempts) >= 2
    assert counts["batch_numbers_missing"] == []
    assert all(n >= 2 for n in attempts.values()), attempts  # every batch needed a second try
    assert counts["samples"] == page.evaluate("window.gazecrowdRecorder && window.gazecrowdRecorder.samples")
    log = page.evaluate("window.indicatorLog")
    assert any(text.startswith("Retrying batch 0") for text in log), log
    assert page.inner_text("#indicator") == f"All gaze saved: {len(attempts)} batches"


def test_escape_stops_and_aborts_the_recording(observed_sequence, login, shot):
    study, sequence = observed_sequence
    page = login("olga", init_script="window.GAZECROWD_TIMING = {countdownS: 0};")
    page.goto(f"/studies/{study.pk}/sequences/{sequence.pk}/record/")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'ready'", polling=100)
    page.uncheck("#calibrate")
    page.click("#start")
    page.wait_for_function("window.gazecrowdRecorder && window.gazecrowdRecorder.state === 'recording'", polling=100)
    page.keyboard.press("Escape")
    page.locator("#finish-title:text('Recording stopped')").wait_for()
    assert page.inner_text("#indicator") == "Recording stopped"
    shot(page, "23-record-stopped")
    recording = Recording.objects.get(observer__username="olga")
    assert recording.status == Recording.Status.ABORTED


def test_dashboard_follows_a_run_by_polling(observed_sequence, login, user, shot):
    study, sequence = observed_sequence
    run = Run.objects.create(study=study, sequence=sequence, status=Run.Status.RUNNING,
                             progress=0.4, stage="segment: train", code_version="test")
    page = login("cora")
    page.goto(f"/studies/{study.pk}/")
    row = page.locator(f"tr[data-run='{run.pk}']")
    assert row.locator("[data-status]").inner_text() == "running"
    assert row.locator("progress").evaluate("p => p.value") == pytest.approx(0.4)
    assert row.locator("[data-results]").is_hidden()
    shot(page, "22-dashboard-run-running")

    # The worker moves on, then fails: the page shows it without a reload.
    Run.objects.filter(pk=run.pk).update(progress=0.9, stage="report")
    page.wait_for_function(
        f"document.querySelector(\"tr[data-run='{run.pk}'] progress\")?.value > 0.85", timeout=10_000, polling=100
    )
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED, error="ValueError: no gaze")
    row.locator("[data-status]:text('failed')").wait_for(timeout=10_000)
    assert "ValueError: no gaze" in row.locator("[data-error]").inner_text()
    assert row.get_attribute("data-finished") == "1"
