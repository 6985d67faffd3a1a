"""The API docs render offline: Swagger UI and Redoc come from the package, not from a CDN."""

from __future__ import annotations

import pytest

from .conftest import block_outside_hosts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_operations_with_outside_hosts_blocked(anonymous, live_server, shot):
    page = anonymous()
    outside = block_outside_hosts(page, live_server.url)
    page.goto("/")
    page.get_by_role("link", name="API").click()
    page.wait_for_url("**/api/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 30
    assert page.get_by_text("/api/studies/").first.is_visible()
    shot(page, "api-docs", full_page=False)
    assert outside == []


def test_redoc_renders_with_outside_hosts_blocked(anonymous, live_server):
    page = anonymous()
    outside = block_outside_hosts(page, live_server.url)
    page.goto("/api/redoc/")
    page.wait_for_selector("h1", timeout=30_000)
    page.wait_for_function("document.body.innerText.includes('/api/studies/')", timeout=30_000)
    assert "GazeCrowd API" in page.inner_text("body")
    assert outside == []


def test_the_api_root_points_to_its_docs(client):
    body = client.get("/api/").json()
    assert body["docs"].endswith("/api/docs/") and body["schema"].endswith("/api/schema/")
    assert client.get("/api/docs/").status_code == 200
