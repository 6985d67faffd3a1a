"""Under ``manage.py serve`` (embedded broker, a real worker): an upload that completes the
quorum returns at once, then the dashboard follows the run it started to its results."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import PASSWORD, VIEWPORT, log_in_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import os
from crowd import services
from annotation import services as annotation_services
from segmentation.engine import load_sample
password = os.environ["E2E_PASSWORD"]
sample = load_sample("brats-pat0001")
alice = services.user_get_or_create(username="alice", password=password)
study = services.study_create(name="Serve test", created_by=alice, target_structure="tumour",
                              quorum=len(sample.gaze_paths), status="active")
sequence = services.sequence_import(study=study, path=sample.frames_path, name="pat0001")
for path in sample.gaze_paths:
    user = services.user_get_or_create(username=path.stem, password=password)
    services.membership_set(study=study, user=user, role="observer")
    services.assignment_create(sequence=sequence, observer=user)
for path in sample.gaze_paths[:-1]:  # the last observer uploads in the browser
    annotation_services.recording_import_file(sequence=sequence, observer=services.user_get_or_create(
        username=path.stem), path=path, fmt="csv")
print(study.pk, sequence.pk, sample.gaze_paths[-1])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """A study one recording short of its quorum, and ``manage.py serve`` on a free port."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                        "CELERY_TASK_ALWAYS_EAGER", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["GAZECROWD_DATA_DIR"] = str(tmp_path / "var")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    setup = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP],
                           cwd=ROOT, env={**env, "E2E_PASSWORD": PASSWORD}, capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr[-3000:]
    study_id, sequence_id, gaze = setup.stdout.split()[-3:]
    port = _free_port()
    log = tmp_path / "serve.log"  # a file, not a pipe: nobody would drain a pipe meanwhile
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--addrport",
                                 f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "is listening on" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)
    yield {"url": f"http://127.0.0.1:{port}", "study": int(study_id),
           "sequence": int(sequence_id), "gaze": Path(gaze), "log": log}
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def _login(browser, base_url, username):
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    context.set_default_timeout(20_000)
    return log_in_page(context.new_page(), username)


def test_a_quorum_completing_upload_returns_at_once_and_the_run_is_followed_live(browser, served):
    observer = _login(browser, served["url"], served["gaze"].stem)
    observer.goto(f"/studies/{served['study']}/sequences/{served['sequence']}/upload-gaze/")
    observer.set_input_files("input[type=file]", str(served["gaze"]))
    started = time.perf_counter()
    observer.click("form[data-xhr-upload] button[type=submit]")
    try:
        observer.wait_for_url("**/recordings/**")
    except Exception:
        raise AssertionError(observer.inner_text("main")) from None
    answered = time.perf_counter() - started
    # Before the embedded worker, this request computed the estimate and the whole run.
    assert answered < 5.0, f"the upload took {answered:.1f} s"

    coordinator = _login(browser, served["url"], "alice")
    coordinator.goto(f"/studies/{served['study']}/")
    row = coordinator.locator("tr[data-run]").first
    row.wait_for(timeout=120_000)  # the page reloads itself when the quorum run appears
    coordinator.evaluate("window.__sameDocument = true")
    seen = set()
    deadline = time.monotonic() + 300
    results = row.locator("[data-results]")
    while time.monotonic() < deadline and not results.is_visible():
        seen.add(round(float(row.locator("[data-progress]").evaluate("e => e.value")), 2))
        time.sleep(0.2)
    assert results.is_visible(), served["log"].read_text()[-4000:]
    # It was followed live: seen unfinished, then done, in the same document (no reload).
    assert min(seen) < 1.0, seen
    assert coordinator.evaluate("window.__sameDocument === true")
    assert row.locator("[data-status]").inner_text() == "succeeded"
    coordinator.click("tr[data-run] [data-results]")
    coordinator.wait_for_selector("#viewer-canvas")
