"""Every session of a user: list them, end them (``sessions_of``, ``logout_everywhere``,
``end_session``, and their async twins; ``manage.py logout_everywhere``).

A user is found in a record by Django's ``_auth_user_id`` and, when the ``passport``
option is set, by passport's ``passport.user``, so sessions the Express app wrote are
found too. How a store finds them (an index, or a scan) is the store's
``sessions_of``; what it costs per store is in the documentation. A store that cannot
list them (memcached) raises ``CannotListSessions``.

Each function is written once, as a plan (``core.drive``): the sync one runs it with
the store's plain methods, the async twin with its ``a*`` methods. Sessions ended here
send ``session_ended`` with the reason ``"everywhere"``; when the request passed in is
one of them, its session object is ended as well, so its response saves nothing and
clears the cookie.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.utils.crypto import salted_hmac

from . import conf, migration_bulk, signals, tracking
from .core.drive import arun, run
from .core.ops import Destroy, Plan, SessionsOf
from .core.state import own_moment, own_of
from .exceptions import CannotListSessions
from .owner import Owner
from .recent_auth import AUTH_AT
from .record import Record, expires_ms, now_ms, sid_hint

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

    from .session import SessionStore
    from .stores.base import Store

__all__ = [
    "CannotListSessions",
    "UserSession",
    "aend_session",
    "aend_sessions",
    "alogout_everywhere",
    "asessions_of",
    "end_old_sessions",
    "end_session",
    "end_sessions",
    "logout_everywhere",
    "owner_of",
    "sessions_of",
]

#: ``session_ended``'s reason for the sessions ``logout_everywhere`` ends.
REASON = "everywhere"


@dataclass(frozen=True)
class UserSession:
    """One live session of a user, as ``sessions_of`` shows it (never the whole id)."""

    #: The first characters of the id, to tell sessions apart in a list.
    hint: str
    #: An opaque reference to the session (a keyed hash of its id) for ``end_session``.
    ref: str
    #: The request's own session.
    current: bool
    created_at: datetime | None
    last_seen_at: datetime | None
    expires_at: datetime | None
    #: ``"django"`` or ``"express"``: which app wrote the record last (None: not known).
    written_by: str | None
    #: Recorded only with the ``track`` option.
    ip: str | None
    user_agent: str | None
    #: When the user last proved who they are in this session (``recent_auth``).
    auth_at: datetime | None = None


def owner_of(user: AbstractBaseUser) -> Owner:
    """The keys ``user``'s sessions carry."""
    passport = conf.get_options().passport
    return Owner(
        django_id=str(user.pk),
        passport=None if passport is None else passport.serializer.to_passport(user),
    )


def ref_of(sid: str) -> str:
    return salted_hmac("django_express_session.users.ref", sid, algorithm="sha256").hexdigest()[:24]


def _moment(ms: int | None) -> datetime | None:
    """The moment, or None where a datetime cannot show it: JavaScript dates reach
    past year 9999 (to 8.64e15 ms), and a record may hold any number."""
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def describe(sid: str, record: Record, current_sid: str | None) -> UserSession:
    ours = own_of(record) or {}
    text = lambda key: value if isinstance(value := ours.get(key), str) else None  # noqa: E731
    created = "createdAt" if "createdAt" in ours else "startedAt"  # (without track)
    return UserSession(
        hint=sid_hint(sid),
        ref=ref_of(sid),
        current=sid == current_sid,
        created_at=_moment(own_moment(ours, created)),
        last_seen_at=_moment(own_moment(ours, "lastSeenAt")),
        expires_at=_moment(expires_ms(record)),
        written_by=tracking.written_by(record, conf.get_store().metadata_keys),
        ip=text("ip"),
        # Cut as ``track`` cuts it on write: an Express app may store any length.
        user_agent=(agent := text("userAgent")) and agent[: tracking.USER_AGENT_LIMIT],
        auth_at=_moment(own_moment(ours, AUTH_AT)),
    )


def _current_sid(request: HttpRequest | None) -> str | None:
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def recency(session: UserSession) -> float:
    """When ``session`` was last seen (else created), in epoch seconds: the lists put
    the most recent first, and those with no recorded visit last (-inf)."""
    moment = session.last_seen_at or session.created_at
    return -math.inf if moment is None else moment.timestamp()


def _ordered(sessions: list[UserSession]) -> list[UserSession]:
    return sorted(sessions, key=lambda s: (not s.current, -recency(s)))


def _listing(owner: Owner, *, thorough: bool = False) -> Plan[Any]:
    """The store's live records of ``owner`` by id; ``CannotListSessions`` where the
    store cannot list them. ``thorough`` (for ending sessions: after a stolen laptop
    every one must end) also finds those a store's index does not list yet, the ones
    Node wrote, at the price of a scan on Redis."""
    try:
        return (yield SessionsOf(owner, thorough))
    except NotImplementedError as error:
        raise CannotListSessions(
            f"{error}; a user's sessions cannot be listed or ended on this store (the "
            f"database, file, memory, redis and mongodb stores can)"
        ) from error


def _described(
    user: AbstractBaseUser, request: HttpRequest | None, store: Store, thorough: bool
) -> Plan[Any]:
    """The user's sessions, described; those past their absolute cap are over for the
    user (the session layer ends them at their next read) and are not listed."""
    records = yield from _listing(owner_of(user), thorough=thorough)
    current, now = _current_sid(request), now_ms()
    return _ordered(
        [
            describe(sid, record, current)
            for sid, record in records.items()
            if not store.past_cap(record, now)
        ]
    )


def sessions_of(
    user: AbstractBaseUser, request: HttpRequest | None = None, *, thorough: bool = False
) -> list[UserSession]:
    """The user's live sessions, the request's own first, then the most recently seen.
    ``thorough`` also finds those a store's index does not list yet (on Redis, sessions
    only the Express app has written, unless ``manage.py sessionevents`` keeps the
    index: a scan otherwise); the package's pages ask for it, so that they list what
    the list across users shows. ``CannotListSessions`` on a store that cannot list
    them (memcached)."""
    store = conf.get_store()
    return run(_described(user, request, store, thorough), store)


async def asessions_of(
    user: AbstractBaseUser, request: HttpRequest | None = None, *, thorough: bool = False
) -> list[UserSession]:
    store = conf.get_store()
    return await arun(_described(user, request, store, thorough), store)


def _kept_sid(keep: SessionStore | str | None) -> str | None:
    from .session import SessionStore

    if keep is None or isinstance(keep, str):
        return keep
    if isinstance(keep, SessionStore):
        return keep.session_key
    raise TypeError(f"keep must be a session, a session id or None, not {type(keep).__name__}")


def _ending(sid: str, request: HttpRequest | None, reason: str = REASON) -> Plan[Any]:
    """End one session. The request's own is ended through its session object, so
    that the response saves nothing of it (no resave, no modified data brings it
    back) and clears the browser's cookie."""
    from .session import SessionStore

    session = getattr(request, "session", None)
    if isinstance(session, SessionStore) and session.session_key == sid:
        yield from session.destroying(reason)
        return
    yield Destroy(sid)
    signals.session_ended.send(sender=SessionStore, session=None, session_key=sid, reason=reason)


def _ending_all(
    user: AbstractBaseUser,
    keep: SessionStore | str | None,
    request: HttpRequest | None,
    reason: str = REASON,
) -> Plan[Any]:
    """End the user's sessions but ``keep``; return those ended, described."""
    kept = _kept_sid(keep)
    records = yield from _listing(owner_of(user), thorough=True)
    current = _current_sid(request)
    ended = []
    for sid, record in records.items():
        if sid != kept:
            yield from _ending(sid, request, reason)
            ended.append(describe(sid, record, current))
    return ended


def logout_everywhere(
    user: AbstractBaseUser,
    keep: SessionStore | str | None = None,
    *,
    request: HttpRequest | None = None,
) -> int:
    """End every session of ``user`` but ``keep`` (a session, or a session id); return
    how many were ended. Pass the ``request`` when it may be one of them: its session
    then ends in this response too. Under ``migrateFrom``, the user's sessions that the
    old engine still holds end too, where it can list them (``end_old_sessions``)."""
    return len(end_sessions(user, keep, request=request)) + end_old_sessions(user)


async def alogout_everywhere(
    user: AbstractBaseUser,
    keep: SessionStore | str | None = None,
    *,
    request: HttpRequest | None = None,
) -> int:
    ended = await aend_sessions(user, keep, request=request)
    return len(ended) + await sync_to_async(end_old_sessions)(user)


def end_sessions(
    user: AbstractBaseUser,
    keep: SessionStore | str | None = None,
    *,
    request: HttpRequest | None = None,
    reason: str = REASON,
) -> list[UserSession]:
    """``logout_everywhere``, returning the sessions it ended, described as they were
    (``manage.py logout_everywhere`` lists them); ``reason`` is ``session_ended``'s."""
    return run(_ending_all(user, keep, request, reason), conf.get_store())


async def aend_sessions(
    user: AbstractBaseUser,
    keep: SessionStore | str | None = None,
    *,
    request: HttpRequest | None = None,
) -> list[UserSession]:
    return await arun(_ending_all(user, keep, request), conf.get_store())


def end_old_sessions(user: AbstractBaseUser) -> int:
    """Under ``migrateFrom``, delete the user's sessions the old engine still holds
    (else each would be converted, logged in, at its next visit), where the engine can
    list them (``db``, ``cached_db``, ``cache`` on django-redis, ``file``); return how
    many. 0 without ``migrateFrom``."""
    migrate = conf.get_options().migrate_from
    return 0 if migrate is None else migration_bulk.end_old_sessions(migrate, owner_of(user))


def _ending_ref(user: AbstractBaseUser, ref: str, request: HttpRequest | None) -> Plan[Any]:
    if not isinstance(ref, str):
        raise TypeError(f"ref must be a UserSession's ref (a str), not {type(ref).__name__}")
    owner = owner_of(user)
    # The index first; then, if the session is not there (one only the Express app has
    # written, which a list across users shows), every record.
    for thorough in (False, True):
        records = yield from _listing(owner, thorough=thorough)
        for sid in records:
            if hmac.compare_digest(ref_of(sid), ref):
                yield from _ending(sid, request)
                return True
    return False


def end_session(user: AbstractBaseUser, ref: str, *, request: HttpRequest | None = None) -> bool:
    """End the session of ``user`` whose ``UserSession.ref`` is ``ref``; False when the
    user has no such live session (ended meanwhile, or another user's). A session the
    store's index does not list yet is searched for too (a scan on Redis)."""
    return run(_ending_ref(user, ref, request), conf.get_store())


async def aend_session(
    user: AbstractBaseUser, ref: str, *, request: HttpRequest | None = None
) -> bool:
    return await arun(_ending_ref(user, ref, request), conf.get_store())
