"""Every session of a user: list them, end them (``sessions_of``, ``logout_everywhere``).

A user is found in a record by Django's ``_auth_user_id`` and, when the ``passport``
option is set, by passport's ``passport.user``, so sessions the Express app wrote are
found too. How a store finds them (an index, or a scan) is the store's
``sessions_of``; what it costs per store is in the documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from django.utils.crypto import salted_hmac

from . import conf, signals
from .core.state import LIFETIME_KEY
from .owner import Owner
from .record import Record, expires_ms, sid_hint

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

    from .session import SessionStore

__all__ = [
    "UserSession",
    "alogout_everywhere",
    "asessions_of",
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


def owner_of(user: AbstractBaseUser) -> Owner:
    """The keys ``user``'s sessions carry."""
    passport = conf.get_options().passport
    return Owner(
        django_id=str(user.pk),
        passport=None if passport is None else passport.serializer.to_passport(user),
    )


def ref_of(sid: str) -> str:
    return salted_hmac("django_express_session.users.ref", sid, algorithm="sha256").hexdigest()[:24]


def _moment(ms: Any) -> datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def describe(sid: str, record: Record, current_sid: str | None) -> UserSession:
    ours = record.get(LIFETIME_KEY)
    ours = ours if isinstance(ours, Mapping) else {}
    text = lambda key: value if isinstance(value := ours.get(key), str) else None  # noqa: E731
    return UserSession(
        hint=sid_hint(sid),
        ref=ref_of(sid),
        current=sid == current_sid,
        created_at=_moment(ours.get("createdAt", ours.get("startedAt"))),
        last_seen_at=_moment(ours.get("lastSeenAt")),
        expires_at=_moment(expires_ms(record)),
        written_by=text("writtenBy"),
        ip=text("ip"),
        user_agent=text("userAgent"),
    )


def _current_sid(request: HttpRequest | None) -> str | None:
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def _ordered(sessions: list[UserSession]) -> list[UserSession]:
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(
        sessions,
        key=lambda s: (not s.current, -(s.last_seen_at or s.created_at or epoch).timestamp()),
    )


def sessions_of(user: AbstractBaseUser, request: HttpRequest | None = None) -> list[UserSession]:
    """The user's live sessions, the request's own first, then the most recently seen."""
    records = conf.get_store().sessions_of(owner_of(user))
    current = _current_sid(request)
    return _ordered([describe(sid, record, current) for sid, record in records.items()])


async def asessions_of(
    user: AbstractBaseUser, request: HttpRequest | None = None
) -> list[UserSession]:
    records = await conf.get_store().asessions_of(owner_of(user))
    current = _current_sid(request)
    return _ordered([describe(sid, record, current) for sid, record in records.items()])


def _kept_sid(keep: SessionStore | str | None) -> str | None:
    if keep is None or isinstance(keep, str):
        return keep
    return keep.session_key


def _ended(sid: str) -> None:
    from .session import SessionStore

    signals.session_ended.send(sender=SessionStore, session=None, session_key=sid, reason=REASON)


def logout_everywhere(user: AbstractBaseUser, keep: SessionStore | str | None = None) -> int:
    """End every session of ``user`` but ``keep`` (a session, or a session id); return
    how many were ended. It asks the store for a thorough search: after a stolen laptop,
    a session the store's index does not list yet must end too."""
    store, kept = conf.get_store(), _kept_sid(keep)
    ended = 0
    for sid in store.sessions_of(owner_of(user), thorough=True):
        if sid != kept:
            store.destroy(sid)
            _ended(sid)
            ended += 1
    return ended


async def alogout_everywhere(user: AbstractBaseUser, keep: SessionStore | str | None = None) -> int:
    store, kept = conf.get_store(), _kept_sid(keep)
    ended = 0
    for sid in await store.asessions_of(owner_of(user), thorough=True):
        if sid != kept:
            await store.adestroy(sid)
            _ended(sid)
            ended += 1
    return ended
