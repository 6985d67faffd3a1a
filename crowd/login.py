"""Login throttling: what django-axes calls (settings ``AXES_CLIENT_IP_CALLABLE`` and
``AXES_LOCKOUT_CALLABLE``) and what the token endpoint says when a client is locked out.

django-axes counts failed logins per account and per client address in the database (every
process shares the counts); settings.py configures the limit and the cool-off.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from .views import wants_json


def client_address(request) -> str | None:
    """The client's address for login throttling: REMOTE_ADDR, or behind
    ``GAZECROWD_PROXY_COUNT`` reverse proxies the address the outermost of them saw (the
    N-th entry from the right of X-Forwarded-For, which each proxy appends to). Entries a
    client put in the header itself stay to the left and are never used."""
    meta = getattr(request, "META", {})
    count = settings.GAZECROWD_PROXY_COUNT
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if count and len(forwarded) >= count:
        return forwarded[-count]
    return meta.get("REMOTE_ADDR")


def lockout_message() -> tuple[str, int]:
    """(message, seconds to wait) for a client past the failed-login limit."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, round(seconds / 60))
    return (
        f"Too many failed logins for this account or from this address: logging in is blocked "
        f"for {minutes} minute{'s' if minutes != 1 else ''}. Try again later, or ask an "
        "administrator to unlock it.", seconds,
    )


def login_locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out login gets: 429 with a clear message and ``Retry-After``, as JSON for
    API and XHR callers, else the login page showing it."""
    message, seconds = lockout_message()
    if request.path.startswith("/api/") or wants_json(request):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/login.html",
                          {"form": AuthenticationForm(request), "locked_out": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
