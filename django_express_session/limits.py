"""A session limit per user: ``EXPRESS_SESSION["maxSessionsPerUser"]`` and
``"onSessionLimit"``.

Enforced where a login happens: at Django's ``login()``/``alogin()``, when the
``passport`` bridge first sees a login the Express app made, and (by the npm
package's ``guard()``) at passport's login on Express. The new login's session is
stored first, then the store's ``trim_sessions`` lists the user's sessions and, over
the limit, ends the least recently used others (``"endOldest"``, ``session_ended``
reason ``"limit"``) or deletes the new one (``"refuse"``: ``login()`` raises
``SessionLimitReached``, which a login view shows; unhandled, it is a 403). Which stores
keep two simultaneous logins from both staying past the limit is in the documentation
(``docs/policies/session-limit.md``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest

from . import signals
from .core.drive import run
from .core.limit import Trimmed
from .identity import EXPRESS_TO_DJANGO
from .record import sid_hint
from .users import owner_of

if TYPE_CHECKING:
    from .conf import Options
    from .session import SessionStore

logger = logging.getLogger("django_express_session")

#: ``session_ended``'s reason for the sessions the limit ends.
REASON = "limit"
#: Set on a request whose Express login the bridge just made a Django login: the
#: middleware enforces the limit on it once the bridge is done (``enforce_bridged``).
BRIDGED_ATTRIBUTE = "_express_session_limit_due"


class SessionLimitReached(PermissionDenied):
    """``onSessionLimit: "refuse"``: the user has ``limit`` sessions already, so this
    login was refused (the request is logged out). A login view catches it and shows
    ``str(error)``; unhandled, Django answers 403."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        devices = "one device" if limit == 1 else f"{limit} devices"
        super().__init__(
            f"This account is signed in on {devices} already, the most it may be. Sign out "
            f"on one of them, or end that session from your account page, then sign in again."
        )


def limit_for(options: Options, user: Any) -> int | None:
    """The user's limit: the number ``maxSessionsPerUser`` gives, or what its function
    returns for ``user`` (None: no limit)."""
    value = options.max_sessions_per_user
    if callable(value):
        value = value(user)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ImproperlyConfigured(
            f"EXPRESS_SESSION['maxSessionsPerUser'] gave {value!r} for user {user.pk!r}; "
            f"it must give a whole number from 1, or None for no limit"
        )
    return value


def enforce(session: SessionStore, user: Any) -> Trimmed | None:
    """Count the login of ``session`` (``user``'s) against the limit; None without one.
    The session is stored first, so that a login running at the same moment counts it."""
    options = session.options
    limit = limit_for(options, user)
    if limit is None or session.session_key is None:
        return None
    if not session.state.stored:
        session.save()
    store = session.store
    trimmed = store.trim_sessions(
        owner_of(user), session.session_key, limit, options.on_session_limit
    )
    for sid in trimmed.ended:
        logger.info(
            "session ended: user %r is over the session limit (session %s)", user.pk, sid_hint(sid)
        )
        signals.session_ended.send(
            sender=type(session), session=None, session_key=sid, reason=REASON
        )
    if trimmed.refused:
        run(session.destroying(REASON), store)
    return trimmed


def at_login(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any
) -> None:
    """``user_logged_in`` (connected in ``AppConfig.ready``): the login counts against
    the limit; refused, ``login()`` raises ``SessionLimitReached`` and the request is
    logged out."""
    from django.contrib.auth.models import AnonymousUser  # auth's models: only at a login

    from .session import SessionStore

    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore) or user is None:
        return
    trimmed = enforce(session, user)
    if trimmed is not None and trimmed.refused:
        request.user = AnonymousUser()
        raise SessionLimitReached(limit_for(session.options, user))


def mark_bridged(
    sender: Any, user: Any, session: Any, direction: str, request: HttpRequest, **kwargs: Any
) -> None:
    """``identity_bridged``: an Express login became a Django login; the middleware
    enforces the limit on it right after the bridge (sync or async)."""
    if direction == EXPRESS_TO_DJANGO:
        setattr(request, BRIDGED_ATTRIBUTE, user)


def enforce_bridged(request: HttpRequest) -> None:
    """After the bridge: count the Express login it saw. Refused, the session ends (the
    request goes on logged out, on both apps)."""
    user = getattr(request, BRIDGED_ATTRIBUTE, None)
    if user is None:
        return
    delattr(request, BRIDGED_ATTRIBUTE)
    trimmed = enforce(request.session, user)
    if trimmed is not None and trimmed.refused:
        logger.info("session ended: an Express login of user %r is over the session limit", user.pk)


async def aenforce_bridged(request: HttpRequest) -> None:
    if getattr(request, BRIDGED_ATTRIBUTE, None) is not None:
        await sync_to_async(enforce_bridged)(request)
