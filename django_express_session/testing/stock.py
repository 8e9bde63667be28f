"""Django's stock test client, unchanged, under this engine.

``django.test.Client`` keeps a session as Django's engines do: the raw session key, in a
cookie named ``SESSION_COOKIE_NAME`` (``client.session``, ``login()``,
``force_login()``), and it reads that cookie back from the responses. The middleware
never accepts an unsigned id from a browser. It accepts the stock client's cookie only
when both of these hold, neither of which an HTTP request can bring about:

* the package's test support enabled it in this process (``enable()``): its pytest
  plugin does, for every pytest run, and so does its ``manage.py test``; no server
  process does;
* the request object was built in-process by Django's test client handler (it marks
  every request it makes with ``_dont_enforce_csrf_checks``, which Django's CSRF
  middleware reads for the same purpose: ``compat.made_by_test_client``).

For such a request the raw cookie is tried after the signed one, and the response keeps
it in step with the session (set to the id whenever the signed cookie is set, removed
whenever it is cleared), as Django's own middleware would, so ``client.session`` after a
view's ``login()`` is that session. A live server in a test process (``LiveServerTestCase``)
serves real HTTP requests: they get no such treatment.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponseBase

from .. import opening
from ..compat import made_by_test_client
from ..core.decide import Decision
from ..session import SessionStore


@dataclass(frozen=True)
class StockCookieMirror:
    """Set or remove the stock client's cookie as the signed one was set or removed."""

    #: The request carried the stock client's cookie.
    sent: bool

    def settle(self, response: HttpResponseBase, decision: Decision, sid: str | None) -> None:
        name = settings.SESSION_COOKIE_NAME
        response.cookies.pop(name, None)  # this replaces the old engine's cookie's deletion
        if decision.set_cookie and sid is not None:
            response.set_cookie(name, sid, path=settings.SESSION_COOKIE_PATH)
        elif decision.clear_cookie or (self.sent and sid is None):
            response.delete_cookie(name, path=settings.SESSION_COOKIE_PATH)


class StockTestClient:
    """The opener of the stock client's requests: its raw cookie, after the signed one."""

    def opening(self, incoming: opening.Incoming, session: SessionStore | None) -> opening.Plan:
        request = incoming.request
        if not made_by_test_client(request):
            return session, None
        stock_sid = incoming.cookies.get(settings.SESSION_COOKIE_NAME) or None
        stored = session is not None and session.state.stored
        if not stored and stock_sid is not None and stock_sid != incoming.cookie_sid:
            session = yield from SessionStore.opening(request, stock_sid)
        return session, StockCookieMirror(sent=stock_sid is not None)


#: The one opener (installed at most once).
OPENER = StockTestClient()


def enable() -> None:
    """Honour the stock client's cookie in this process (the package's test support)."""
    opening.install_test_opener(OPENER)


def disable() -> None:
    opening.remove_test_opener(OPENER)


def enabled() -> bool:
    return OPENER in opening.test_openers()
