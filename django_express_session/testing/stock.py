"""Django's stock test client, unchanged, under this engine.

``django.test.Client`` keeps a session as Django's engines do: the raw session key, in a
cookie named ``SESSION_COOKIE_NAME`` (``client.session``, ``login()``,
``force_login()``), and it reads that cookie back from the responses. The middleware
never accepts an unsigned id from a browser. It accepts the stock client's cookie only
when both of these hold, neither of which an HTTP request can bring about:

* the package's test support enabled it in this process (``enable()``): its pytest
  plugin does, for every pytest run, and so does its ``manage.py test``; no server
  process does;
* the request was made in-process by Django's test client: its handler
  (``ClientHandler``, ``AsyncClientHandler``) sends ``request_started`` with itself as the
  sender and the request's WSGI environ or ASGI scope, and ``enable()``'s receiver marks
  that environ or scope (``MARK``). No server sends the signal from those handlers, and no
  header can set the key (headers become ``HTTP_*`` keys). The CSRF exemption flag the
  handler also sets is no proof: a project's own middleware may set it on real requests.

For such a request the raw cookie is tried after the signed one, and the response keeps
it in step with the session (set to the id whenever the signed cookie is set, removed
whenever it is cleared), as Django's own middleware would, so ``client.session`` after a
view's ``login()`` is that session. A live server in a test process (``LiveServerTestCase``)
serves real HTTP requests: they get no such treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import request_started
from django.http import HttpRequest, HttpResponseBase
from django.test.client import AsyncClientHandler, ClientHandler

from .. import opening
from ..core.decide import Decision
from ..session import SessionStore

#: The key ``enable()``'s receiver sets in the environ or scope of a request Django's test
#: client makes.
MARK = "django_express_session.test_client"


def _mark_test_client_request(sender: Any, **kwargs: Any) -> None:
    """``request_started``: mark the request of a test client handler."""
    if isinstance(sender, type) and issubclass(sender, (ClientHandler, AsyncClientHandler)):
        target = kwargs.get("environ") if kwargs.get("environ") is not None else kwargs.get("scope")
        if isinstance(target, dict):
            target[MARK] = True


def made_by_test_client(request: HttpRequest) -> bool:
    """The request came from Django's test client, as ``enable()``'s receiver marked it
    (a WSGI request's ``META`` is its environ; an ASGI request keeps its ``scope``)."""
    scope = getattr(request, "scope", None)
    return request.META.get(MARK) is True or (isinstance(scope, dict) and scope.get(MARK) is True)


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
    request_started.connect(_mark_test_client_request, dispatch_uid=MARK)
    opening.install_test_opener(OPENER)


def disable() -> None:
    opening.remove_test_opener(OPENER)
    request_started.disconnect(dispatch_uid=MARK)


def enabled() -> bool:
    return OPENER in opening.test_openers()
