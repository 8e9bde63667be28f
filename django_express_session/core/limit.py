"""The per-user session limit's one rule (``maxSessionsPerUser``, ``onSessionLimit``):
which of a user's sessions end, or whether the new one is refused, once a new login has
been stored. Pure: the stores apply it under their own lock (``Store.trim_sessions``),
and the Redis store's script and the npm package apply the same rule.

A session's *last use* is the latest of the moments its ``djangoExpressSession`` dict
holds (``lastSeenAt`` with ``track``, ``authAt`` of its login, ``createdAt``,
``startedAt``) and the moment its expiry was last set (``cookie.expires -
cookie.originalMaxAge``, or the store's own expiry): what a store can tell without a
write on every request. Ties go by id, so two stores,
or two processes, choose the same sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..record import expires_ms
from .state import OWN_KEY, own_moment

END_OLDEST = "endOldest"
REFUSE = "refuse"
POLICIES = (END_OLDEST, REFUSE)
#: The moments of the record's own dict that tell of a use: the last visit (``track``),
#: the last proof of identity (a login), the first write.
USE_MOMENTS = ("lastSeenAt", "authAt", "createdAt", "startedAt")


@dataclass(frozen=True)
class Trimmed:
    """What enforcing the limit did: the sessions it ended (the least recently used,
    ``endOldest``), or that the new one is refused (``refuse``: deleted; or gone
    already, ended by a simultaneous login's trim)."""

    ended: tuple[str, ...] = ()
    refused: bool = False


def last_used_ms(record: Mapping[str, Any], store_expires_at: int | None = None) -> int:
    """When ``record`` was last used, as far as the record (and the store's own expiry,
    epoch ms, where it knows it) tells; 0 when nothing does."""
    own = record.get(OWN_KEY)
    own = own if isinstance(own, Mapping) else None
    seen = max(own_moment(own, key) or 0 for key in USE_MOMENTS)
    cookie = record.get("cookie")
    max_age = cookie.get("originalMaxAge") if isinstance(cookie, Mapping) else None
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
        return seen
    expires = store_expires_at
    if expires is None:
        expires = expires_ms(record)
    return seen if expires is None else max(seen, int(expires - max_age))


def choose(last_used: Mapping[str, int], keep: str, limit: int, policy: str) -> Trimmed:
    """The rule: ``last_used`` holds every live session of the user (sid: last use),
    ``keep`` the new login's among them. Over ``limit``, ``"refuse"`` refuses ``keep``;
    ``"endOldest"`` ends the least recently used of the others, never ``keep``. A
    ``keep`` that is gone counts as refused, whatever the policy."""
    if keep not in last_used:
        # No longer stored: a login at the same moment ended it (its trim ran first).
        return Trimmed(refused=True)
    count = len(last_used)
    if count <= limit:
        return Trimmed()
    if policy == REFUSE:
        return Trimmed(refused=True)
    others = sorted((moment, sid) for sid, moment in last_used.items() if sid != keep)
    return Trimmed(ended=tuple(sid for _, sid in others[: count - limit]))
