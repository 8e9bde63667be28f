"""Signals of a session's life, for projects and monitoring.

Each is a ``django.dispatch.Signal`` sent with keyword arguments only:

``session_created(sender, session, session_key)``
    A new session was stored (a first save, ``create()``, or the new id of a
    ``regenerate()``/``cycle_key()``).
``session_ended(sender, session, session_key, reason)``
    A stored session was ended under ``session_key``. ``reason`` is ``"logout"``
    (``flush()``, which ``logout()`` calls), ``"password_change"`` (Django's
    authentication flushed it because its ``_auth_user_hash`` no longer matches the
    user's password), ``"destroy"`` (``destroy()``, ``delete()``, or ``unset: "destroy"``),
    ``"regenerate"`` (``regenerate()``/``cycle_key()``, which ``login()`` and
    ``update_session_auth_hash()`` call: the data lives on under a new id),
    ``"expired"`` (the ``absoluteMaxAge`` cap was reached; or Redis expired it idle,
    reported by ``manage.py sessionevents`` with ``session`` None) or ``"everywhere"`` (ended from outside the session: ``users.logout_everywhere()``,
    ``users.end_session()``, ``manage.py logout_everywhere``; ``session`` is None
    unless it is the request's own session), ``"limit"`` (``maxSessionsPerUser``: the
    least recently used of the user's sessions, or a refused login), ``"deactivated"``
    or ``"deleted"`` (``endSessionsOn``: the user was set inactive, or deleted).
``identity_bridged(sender, user, session, direction, request)``
    The ``passport`` option carried a login across: ``direction`` is
    ``"express_to_django"`` (an Express login became ``request.user``) or
    ``"django_to_express"`` (``login()`` wrote ``passport.user``).
``store_unavailable(sender, request, error)``
    The store could not be reached while opening or saving a request's session (the
    response is a 503, or with ``storeUnavailable: "continue"`` the request goes on
    without a session). ``error`` is the ``StoreUnavailable``.
``update_conflict(sender, request, error)``
    A save kept losing its compare-and-set to concurrent writers and gave up (a 503).

The session signals have the session class as ``sender``, the middleware ones the
middleware class. Receivers run where the session operation runs: under ASGI with a
store that has a native asyncio client that is the event loop, so a receiver there must
not block (hand slow work, such as ORM writes, to a task or a queue).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from .compat import calling_code

session_created = Signal()
session_ended = Signal()
identity_bridged = Signal()
store_unavailable = Signal()
update_conflict = Signal()

REASONS = (
    "logout", "password_change", "destroy", "regenerate", "expired", "everywhere",
    "limit", "deactivated", "deleted",
)  # fmt: skip


def ended(session: Any, session_key: str | None, reason: str) -> None:
    session_ended.send(
        sender=type(session), session=session, session_key=session_key, reason=reason
    )


def created(session: Any, session_key: str) -> None:
    session_created.send(sender=type(session), session=session, session_key=session_key)


def store_failed(sender: Any, request: Any, error: Exception) -> None:
    """The middleware met ``StoreUnavailable`` or ``UpdateConflict``."""
    from .exceptions import UpdateConflict

    signal = update_conflict if isinstance(error, UpdateConflict) else store_unavailable
    signal.send(sender=sender, request=request, error=error)


def flush_reason() -> str:
    """Why ``flush()``/``aflush()`` (the caller of this function) is called:
    ``"password_change"`` when Django's ``get_user()``/``aget_user()`` calls it (the
    session's password hash no longer verifies), else ``"logout"``."""
    from django.contrib import auth

    checks = {auth.get_user.__code__, auth.aget_user.__code__}
    caller = calling_code(2)  # 1: flush()/aflush(), 2: its caller
    return "password_change" if caller in checks else "logout"
