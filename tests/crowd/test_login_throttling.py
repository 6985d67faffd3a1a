"""Password guessing is limited per account and per address, on the web login and the token API.

Charlie guesses Alice's password. The ``AXES_FAILURE_LIMIT``-th failure (default 10) within
the cool-off locks: from then on Alice's account answers 429 with a clear message, even to the
right password,
on the login page and on ``/api/auth/token/`` alike (django-axes counts both, in the
database every process shares); from Charlie's address, every other account is blocked too.
Bob, elsewhere, logs in as usual. Once the cool-off has passed, Alice logs in again.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

CHARLIE_IP, BOB_IP = "203.0.113.7", "198.51.100.20"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()  # DRF's request-rate counts live in the cache
    yield
    cache.clear()


def web_login(username, password, ip=CHARLIE_IP):
    return Client(REMOTE_ADDR=ip).post("/accounts/login/", {"username": username, "password": password})


def token(username, password, ip=CHARLIE_IP):
    return APIClient(REMOTE_ADDR=ip).post("/api/auth/token/", {"username": username, "password": password},
                                          format="json")


def test_an_account_locks_after_ten_failures_on_the_login_page(alice, bob):
    for _ in range(9):
        assert web_login("alice", "guess").status_code == 200  # the form again, with its error
    assert web_login("alice", "guess").status_code == 429  # the tenth failure locks
    locked = web_login("alice", "alice-pw-123")  # the right password, too late
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert int(locked["Retry-After"]) == 15 * 60
    # The same account from another address is locked too (per account) ...
    assert web_login("alice", "alice-pw-123", ip=BOB_IP).status_code == 429
    # ... and the token endpoint counts the same failures.
    api = token("alice", "alice-pw-123", ip=BOB_IP)
    assert api.status_code == 429 and "Too many failed logins" in api.json()["detail"]
    # Bob, elsewhere, is not affected.
    assert web_login("bob", "bob-pw-123", ip=BOB_IP).status_code == 302


def test_an_address_guessing_many_accounts_is_locked(alice, bob, carol, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for name in ("alice", "bob"):
        assert token(name, "guess").status_code == 400
    assert token("carol", "guess").status_code == 429  # the third failure from this address
    for name in ("bob", "someone-new"):
        response = token(name, "whatever")
        assert response.status_code == 429, response.content
    assert token("bob", "bob-pw-123", ip=BOB_IP).status_code == 200  # another address


def test_the_token_endpoint_locks_and_says_so(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        response = token("alice", "guess")
        assert response.status_code == 400 and "Unable to log in" in str(response.json())
    assert token("alice", "guess").status_code == 429
    locked = token("alice", "alice-pw-123")
    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed logins for this account or from this address")
    assert locked["Retry-After"] == str(15 * 60)


def test_the_lock_ends_after_the_cool_off(alice, settings):
    from axes.models import AccessAttempt

    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        web_login("alice", "guess")
    assert web_login("alice", "alice-pw-123").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16))
    assert web_login("alice", "alice-pw-123").status_code == 302


def test_a_success_before_the_limit_resets_the_count(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        web_login("alice", "guess")
    assert web_login("alice", "alice-pw-123").status_code == 302
    for _ in range(2):
        web_login("alice", "guess")
    assert web_login("alice", "alice-pw-123").status_code == 302


def test_the_token_endpoint_has_a_request_rate_per_address(alice, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "3/min"}}
    api_settings.reload()
    ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        codes = [token("alice", "alice-pw-123").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert token("alice", "alice-pw-123", ip=BOB_IP).status_code == 200
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}
        api_settings.reload()
        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings):
    from django.test import RequestFactory

    from crowd.login import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    settings.GAZECROWD_PROXY_COUNT = 0
    assert client_address(request) == "127.0.0.1"  # no proxy: the header is the client's own words
    settings.GAZECROWD_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.7"  # what nginx appended; "1.2.3.4" is spoofable
    settings.GAZECROWD_PROXY_COUNT = 3
    assert client_address(request) == "127.0.0.1"  # fewer entries than proxies: not trusted
