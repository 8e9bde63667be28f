"""Django's stock test client, unchanged, under this engine.

``django.test.Client`` keeps a session as Django's engines do: the raw session key, in a
cookie named ``SESSION_COOKIE_NAME`` (``client.session``, ``login()``,
``force_login()``), and it reads that cookie back from the responses. The middleware
never accepts an unsigned id from a browser. It accepts the stock client's cookie only
when both of these hold, neither of which an HTTP request can bring about:

* Django's test environment is set up in this process
  (``django.test.utils.setup_test_environment()``, which ``manage.py test`` and
  pytest-django call before any test runs, and no server calls);
* the request object was built in-process by Django's test client handler (it marks
  every request it makes with ``_dont_enforce_csrf_checks``, which Django's CSRF
  middleware reads for the same purpose).

For such a request the raw cookie is tried after the signed one, and the response keeps
it in step with the session (set to the id whenever the signed cookie is set, removed
whenever it is cleared), as Django's own middleware would, so ``client.session`` after a
view's ``login()`` is that session. A live server in a test process (``LiveServerTestCase``)
serves real HTTP requests: they get no such treatment.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from ..http import parse_cookie_header

if TYPE_CHECKING:
    from ..core.decide import Decision


def in_test_environment() -> bool:
    """``setup_test_environment()`` has run in this process (and not been torn down)."""
    utils = sys.modules.get("django.test.utils")
    return utils is not None and hasattr(utils._TestState, "saved_data")


def from_test_client(request: HttpRequest) -> bool:
    """The request was made in-process by ``django.test.Client`` or ``AsyncClient``."""
    return hasattr(request, "_dont_enforce_csrf_checks") and in_test_environment()


def stock_client_sid(request: HttpRequest) -> str | None:
    """The raw session id in the stock test client's cookie (for its requests only:
    check ``from_test_client`` first)."""
    cookies = parse_cookie_header(request.META.get("HTTP_COOKIE", ""))
    return cookies.get(settings.SESSION_COOKIE_NAME) or None


def mirror(response: HttpResponseBase, decision: Decision, sid: str | None, *, sent: bool) -> None:
    """Set or remove the stock client's cookie as the signed one was set or removed
    (``sid``: the id a stored record stands behind; ``sent``: the request had the cookie)."""
    name = settings.SESSION_COOKIE_NAME
    response.cookies.pop(name, None)  # this replaces the old engine's cookie's deletion
    if decision.set_cookie and sid is not None:
        response.set_cookie(name, sid, path=settings.SESSION_COOKIE_PATH)
    elif decision.clear_cookie or (sent and sid is None):
        response.delete_cookie(name, path=settings.SESSION_COOKIE_PATH)
