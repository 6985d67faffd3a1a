"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``) headless
against pytest-django's ``live_server``. No browser is downloaded.

Without Playwright or Chromium every test here skips with the reason, except when ``CI=true``:
then they fail (``.ci/run`` installs Chromium with apt). Screenshots of each page go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from annotation import hooks
from crowd import services
from crowd.models import StudyMembership

from .scene import png_zip, sequence_arrays

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("GAZECROWD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "e2e-Pass-4821"
VIEWPORT = {"width": 1280, "height": 800}



def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"Chromium is missing at {CHROMIUM} (apt-get install chromium, or set GAZECROWD_CHROMIUM)"
    return None


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is ``e2e``; skip them all (fail in CI) without a browser."""
    reason = _missing()
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if reason and not IN_CI:
            item.add_marker(pytest.mark.skip(reason=reason))


@contextmanager
def chromium(args=CHROMIUM_ARGS):
    """Headless Chromium started with ``args`` (the browser fixtures of this folder).

    Playwright's synchronous API keeps an event loop in the test thread while it runs; Django
    refuses ORM calls from such a thread unless told that this is deliberate (the tests set up
    and check rows directly), so DJANGO_ALLOW_ASYNC_UNSAFE is set for as long as it runs, and
    restored afterwards so that the rest of the suite keeps the check.
    """
    reason = _missing()
    if reason:
        pytest.fail(f"CI=true but {reason}")  # only reached in CI: elsewhere the test skipped
    from playwright.sync_api import sync_playwright

    old = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(args), headless=True)
            yield browser
            browser.close()
    finally:
        if old is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = old


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, for one test module."""
    with chromium() as launched:
        yield launched


def block_outside_hosts(page, base_url: str) -> list[str]:
    """Every request of ``page`` to a host other than ``base_url``'s fails (data: and blob:
    URLs stay local); returns the list of those attempted, filled as the page runs."""
    own = urlsplit(base_url).netloc
    outside: list[str] = []

    def local(url: str) -> bool:
        return url.startswith(("data:", "blob:")) or urlsplit(url).netloc in (own, "")

    def route(r):
        if local(r.request.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.context.route("**/*", route)
    # Requests that routing does not see (a worker's) are still recorded, except those the
    # page's own Content-Security-Policy stopped before they left the browser.
    page.on("request", lambda r: None if local(r.url) else outside.append(r.url))

    def failed(r):
        # Chromium names it "csp" (net::ERR_BLOCKED_BY_CSP in older versions).
        if "csp" in (r.failure or "").lower() and r.url in outside:
            outside.remove(r.url)

    page.on("requestfailed", failed)
    return outside


@pytest.fixture(autouse=True)
def _media_and_fast_passwords(settings, tmp_path):
    """Media in the test's folder; a fast password hash (each log-in hashes once)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def anonymous(browser, live_server):
    """``anonymous(init_script=None)`` -> a page of a fresh browser context on the live server."""
    contexts = []

    def open_page(init_script: str | None = None):
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=live_server.url)
        context.set_default_timeout(20_000)
        if init_script:
            context.add_init_script(init_script)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def login(anonymous):
    """``login(username)`` -> a page of a fresh browser context, logged in through the form."""

    def log_in(username: str, *, password: str = PASSWORD, init_script: str | None = None):
        return log_in_page(anonymous(init_script), username, password)

    return log_in


def log_in_page(page, username: str, password: str = PASSWORD):
    """Log ``page`` in through the login form of its context's server; returns the page."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


@pytest.fixture
def user():
    """``user(name)`` creates a user with the shared test password."""
    return lambda name: services.user_get_or_create(username=name, password=PASSWORD)


@pytest.fixture
def sequence_files(tmp_path) -> tuple[Path, Path]:
    """(frames zip, masks zip) of the moving-disc sequence."""
    frames, masks = sequence_arrays()
    frames_zip, masks_zip = tmp_path / "disc.zip", tmp_path / "disc-masks.zip"
    frames_zip.write_bytes(png_zip(frames, "frames"))
    masks_zip.write_bytes(png_zip(masks.astype(np.uint8) * 255, "masks"))
    return frames_zip, masks_zip


@pytest.fixture
def observed_sequence(user, sequence_files, monkeypatch):
    """A study with the disc sequence assigned to observer Olga; no estimate on finish."""
    monkeypatch.setattr(hooks, "_recording_finished", [])
    coordinator, olga = user("cora"), user("olga")
    study = services.study_create(name="Webcam study", created_by=coordinator, frame_rate=8.0)
    sequence = services.sequence_import(study=study, path=sequence_files[0], name="disc")
    services.membership_set(study=study, user=olga, role=StudyMembership.Role.OBSERVER)
    services.assignment_create(sequence=sequence, observer=olga)
    return study, sequence
