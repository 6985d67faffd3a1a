"""The members page in a real browser, and the laptop-width checks of the dashboard and the
report (1366x768, the commonest laptop screen). Screenshots of the three pages go to
docs/screenshots/ for the user guide (docs/web.md).

Alice coordinates a study. She adds Bob, who has an account, as a researcher; Bob opens the
study. She pastes a list of addresses to invite, with a typo and a repeat in it. She removes
Bob (confirming first): his next request is refused. The audit trail lists all of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowd import services
from crowd.models import Invitation, MemberEvent, StudyMembership

from .conftest import ROOT, log_in_page

Role = StudyMembership.Role
LAPTOP = {"width": 1366, "height": 768}
DOCS_SHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def laptop(browser, live_server):
    """``laptop()`` -> a page of a fresh 1366x768 browser context on the live server."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport=LAPTOP, base_url=live_server.url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def _docs_shot(page, name: str) -> Path:
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOCS_SHOTS / name
    page.screenshot(path=str(path))
    return path


def _overflow(page, selector: str | None = None) -> dict:
    """The page's and (given ``selector``) a box's scroll and client widths."""
    return page.evaluate(
        """(sel) => {
          const doc = document.documentElement;
          const out = {page: doc.scrollWidth, view: doc.clientWidth};
          if (sel) { const b = document.querySelector(sel);
                     out.box = b.scrollWidth; out.boxView = b.clientWidth;
                     out.overflowX = getComputedStyle(b).overflowX; }
          return out;
        }""", selector)


def test_add_invite_remove_and_the_trail(laptop, user):
    alice_user, bob_user = user("alice"), user("bob")
    study = services.study_create(name="Colonoscopy", created_by=alice_user)

    alice = log_in_page(laptop(), "alice")
    alice.goto(f"/studies/{study.pk}/members/")
    alice.fill("#id_identifier", "bob")
    alice.select_option("#id_role", "researcher")
    alice.click("#member-add button[type=submit]")
    alice.wait_for_selector("text=bob added as researcher.")
    assert alice.locator("#members tr[data-member=bob] .badge").inner_text() == "researcher"

    bob = log_in_page(laptop(), "bob")
    response = bob.goto(f"/studies/{study.pk}/")
    assert response.status == 200 and "Colonoscopy" in bob.content()

    # Bulk invitations: one link per address, the rest reported by line number.
    alice.fill("#id_bulk_emails", "ann@example.org\nann@example.org\nnot-an-address\nben@example.org")
    alice.click("#bulk-invite button[type=submit]")
    alice.wait_for_selector("text=2 invitation links created.")
    report = alice.locator(".messages, [role=status], body").first.inner_text()
    assert "line 2: ann@example.org is already on line 1" in report
    assert "line 3: “not-an-address” is not an e-mail address" in report
    assert alice.locator("[data-invite-link]").count() == 2
    assert sorted(Invitation.objects.filter(study=study).values_list("email", flat=True)) == [
        "ann@example.org", "ben@example.org"]
    _docs_shot(alice, "members.png")  # Bob in the table, the report of the pasted list on top

    # Remove Bob: the button is behind a confirmation.
    row = alice.locator("#members tr[data-member=bob]")
    confirm = row.locator("button:has-text('Yes, remove bob')")
    assert not confirm.is_visible()
    row.locator("summary:has-text('Remove')").click()
    assert "They lose access at once" in row.inner_text()
    confirm.click()
    alice.wait_for_selector("text=bob removed from the study; their recordings stay.")
    assert alice.locator("#members tr[data-member=bob]").count() == 0
    assert not StudyMembership.objects.filter(study=study, user=bob_user).exists()

    # Bob's very next request is refused (same browser session, nothing cached).
    response = bob.goto(f"/studies/{study.pk}/")
    assert response.status == 404
    assert "Colonoscopy" not in bob.content()

    # The audit trail, newest first.
    alice.reload()
    trail = alice.locator("#audit-trail tbody tr")
    actions = [trail.nth(i).get_attribute("data-action") for i in range(trail.count())]
    assert actions == ["member_removed", "invitation_created", "invitation_created", "member_added",
                       "member_added"]
    assert "alice" in trail.nth(0).inner_text() and "bob" in trail.nth(0).inner_text()
    assert MemberEvent.objects.filter(study=study).count() == 5
    doc = _overflow(alice)
    assert doc["page"] <= doc["view"], doc


def test_the_dashboard_fits_a_laptop_screen(laptop, user, sequence_files):
    alice_user = user("alice")
    study = services.study_create(name="Many observers", created_by=alice_user, quorum=20)
    sequence = services.sequence_import(study=study, path=sequence_files[0], name="disc-long-sequence-name")
    for i in range(16):  # a wide matrix: one column per observer
        observer = user(f"observer-with-a-long-name-{i:02d}")
        services.membership_set(study=study, user=observer, role=Role.OBSERVER)
        services.assignment_create(sequence=sequence, observer=observer)
    alice = log_in_page(laptop(), "alice")
    alice.goto(f"/studies/{study.pk}/")
    # The page never scrolls sideways; the matrix scrolls inside its own box when it must.
    page = _overflow(alice)
    assert page["page"] <= page["view"], page
    widths = _overflow(alice, "#matrix-box")
    assert widths["overflowX"] == "auto"
    assert widths["box"] > widths["boxView"], widths  # 16 observers do not fit: its box scrolls
    _docs_shot(alice, "dashboard.png")


def test_the_report_reads_at_laptop_width(laptop, tmp_path):
    from segmentation.engine.report import build_report, write_report

    rng = np.random.default_rng(0)
    T, H, W = 4, 40, 60
    # 5x5-pixel block superpixels numbered over the sequence, a square object.
    per_frame = (H // 5) * (W // 5)
    blocks = np.arange(per_frame).reshape(H // 5, W // 5).repeat(5, 0).repeat(5, 1)
    labels = np.stack([blocks + t * per_frame for t in range(T)])
    truth = np.zeros((T, H, W), bool)
    truth[:, 10:30, 20:40] = True
    n = int(labels.max()) + 1
    inside = np.array([truth[k // per_frame][labels[k // per_frame] == k].mean() > 0.5 for k in range(n)])
    names = ["ann", "bob", "cat", "dan", "eve"]
    est = np.array([np.clip(inside * 0.7 + 0.1 + rng.normal(0, 0.15, n), 0, 1) for _ in names])
    frames = (rng.normal(90, 20, (T, H, W)) + 80 * truth).clip(0, 255).astype(np.uint8)
    samples = T * 20
    gaze = []
    for o in names:  # eve's tracker lost the eye on most samples: flagged by her own gaze
        x, y = 30 + rng.normal(0, 1, samples), 20 + rng.normal(0, 1, samples)
        if o == "eve":
            x[rng.random(samples) < 0.8] = np.nan
        gaze.append(pd.DataFrame({"observer": o, "t_ms": np.arange(samples) * 20.0,
                                  "frame": np.repeat(np.arange(T), 20), "x": x, "y": y}))
    report = build_report(estimates=est, observers=names, labels=labels, frames=frames, truth=truth,
                          gaze=gaze, px_per_degree=8.0, method_scores={"eel": dict(zip(names, est, strict=True))},
                          delivered_masks=truth, title="Report at 1366 px")
    write_report(report, tmp_path, svg=False)
    page = laptop()
    page.goto((tmp_path / "report.html").as_uri())
    widths = _overflow(page)
    assert widths["page"] <= widths["view"], widths
    boxes = page.locator(".scroll")
    assert boxes.count() == 2
    for i in range(boxes.count()):
        style = boxes.nth(i).evaluate("b => getComputedStyle(b).overflowX")
        assert style == "auto"
    headings = page.locator("h2").all_inner_texts()
    assert "ROC curves" in headings and "Roc" not in headings
    assert "Delivered masks on frames" in headings
    assert re.search(r"<th class=\"text\">flagged observers</th><td class=\"text\">eve</td>", page.content())
    page.get_by_role("heading", name="Observers", exact=True).scroll_into_view_if_needed()
    _docs_shot(page, "report.png")
