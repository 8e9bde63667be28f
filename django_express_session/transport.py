"""The session id beyond the browser's cookie: the ``header`` and ``socketRecheck`` options.

``EXPRESS_SESSION["header"] = "X-Session-Id"`` (off by default) lets a client that keeps
no cookies (a mobile app, a script) send the same signed value the cookie carries,
``s:<id>.<signature>``, in that header. It is read only when the request has no cookie
of the session's name, and the response carries the value back in the same header when
the id changes (a login, a new session), so the client can keep it. A new session that
only ``saveUninitialized`` stored is not announced to a client that did not use the
header (a browser's first visit gets its cookie, as before, and nothing more). The value
read is masked in ``request.META`` at once, so error reports and request logs never show
it. ``socketRecheck`` is read by ``django_express_session.channels``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from django.http import HttpResponseBase
from django.utils.cache import patch_vary_headers

from . import signing
from .core.decide import Decision
from .validation import invalid

#: ``socketRecheck`` when not given: seconds between checks that a socket's session stands.
DEFAULT_SOCKET_RECHECK = 30.0
#: What replaces the id in ``request.META`` once read (Django's own mask).
MASK = "********************"

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
#: Headers with a meaning of their own to browsers, proxies or Django.
_RESERVED = {"cookie", "set-cookie", "authorization", "host", "content-type", "content-length"}


@dataclass(frozen=True)
class HeaderTransport:
    """The ``header`` option: the header's name, and its key in ``request.META``."""

    name: str

    @property
    def meta_key(self) -> str:
        return "HTTP_" + self.name.upper().replace("-", "_")

    def take(self, meta: dict[str, Any]) -> str | None:
        """The header's value, decoded as a cookie value is; masked in ``meta`` so the
        id reaches no log or error report. None when the request has no such header."""
        key = self.meta_key
        raw = meta.get(key)
        if raw is None:
            return None
        meta[key] = MASK
        value = raw.strip()
        return unquote(value) if "%" in value else value


def parse_header(value: Any) -> HeaderTransport | None:
    """``EXPRESS_SESSION["header"]``: a header name such as ``"X-Session-Id"``, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise invalid(
            "'header'",
            f'must be a header name of letters, digits and "-" (such as "X-Session-Id"), '
            f"or None, not {value!r}",
        )
    if value.lower() in _RESERVED:
        raise invalid("'header'", f"cannot be {value!r}: that header means something else")
    return HeaderTransport(value)


def parse_socket_recheck(value: Any) -> float:
    """``EXPRESS_SESSION["socketRecheck"]``: seconds, above 0."""
    if value is None:
        return DEFAULT_SOCKET_RECHECK
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise invalid("'socketRecheck'", f"must be seconds (a number above 0), not {value!r}")
    return float(value)


@dataclass(frozen=True)
class HeaderReply:
    """What a response owes the header transport (``opening.Owed``): the new signed id
    when the id changed; to a client that sent the header, an empty value when no new
    id is sent and the id it sent names no session (ended, unknown, forged); and
    ``Vary`` on the header."""

    transport: HeaderTransport
    secret: signing.Secret
    incoming_sid: str | None
    by_header: bool
    session: Any

    def settle(self, response: HttpResponseBase, decision: Decision, sid: str | None) -> None:
        name = self.transport.name
        if decision.vary:
            patch_vary_headers(response, (name,))
        if decision.set_cookie and sid is not None and sid != self.incoming_sid:
            # A session only saveUninitialized stored is not offered to a cookie client.
            if self.by_header or self.session.data_without_access():
                response[name] = "s:" + signing.sign(sid, self.secret)
        elif self.by_header and (sid is None or sid != self.incoming_sid):
            response[name] = ""  # the id sent names no session (now): forget it


@dataclass(frozen=True)
class HeaderReplying:
    """The opener that leaves a ``HeaderReply`` (``opening.Opener``); it opens nothing
    itself: ``Incoming`` already took the id from the header when there was no cookie."""

    transport: HeaderTransport

    def opening(self, incoming: Any, session: Any) -> Any:
        secret = incoming.options.secrets[0]
        reply = HeaderReply(
            self.transport, secret, incoming.cookie_sid, incoming.by_header, session
        )
        return session, reply
        yield  # (a plan that asks the store nothing)
