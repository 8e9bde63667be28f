"""When ``migrateFrom`` can go: ``manage.py migratesessions --status``.

An old cookie works only while ``migrateFrom`` is set: its session, converted by a
request or by ``migratesessions``, lives under an id derived from the old key, and only
``migrateFrom`` derives it. So ``migrateFrom`` stays until the last old cookie that could
still name a live session has expired: the newest expiry among the old engine's
sessions left, and among those ``migratesessions`` converted (their users may not have
come back yet). The old engine's records tell the first; the second is written down by
``migratesessions`` beside the sessions (where each store keeps its session policy,
under the side ``"migrateFrom"``), since it deletes the old records it converted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING

from .migration import MigrateFrom
from .migration_bulk import CannotList, source

if TYPE_CHECKING:
    from .stores.base import Store

logger = logging.getLogger("django_express_session")

#: The store's policy slot that holds what ``migratesessions`` converted.
SIDE = "migrateFrom"


@dataclass(frozen=True)
class Status:
    #: Live sessions the old engine still holds (None: it cannot list them).
    left: int | None
    #: The newest expiry among them.
    newest_left: datetime | None
    #: The newest expiry among the sessions ``migratesessions`` converted.
    newest_converted: datetime | None
    #: Why the old engine cannot be listed (when ``left`` is None).
    unlisted: str = ""

    @property
    def needed_until(self) -> datetime | None:
        """When the last old cookie that can name a live session expires."""
        moments = [moment for moment in (self.newest_left, self.newest_converted) if moment]
        return max(moments) if moments else None


def read(migrate: MigrateFrom, store: Store, batch_size: int = 1000) -> Status:
    converted = _recorded(store)
    try:
        old = source(migrate, batch_size)
    except CannotList as error:
        return Status(None, None, converted, unlisted=str(error))
    left, newest = 0, None
    for batch in old.batches:
        for _key, session in batch:
            if session is None:
                continue
            left += 1
            if session.expires is not None and (newest is None or session.expires > newest):
                newest = session.expires
    return Status(left, newest, converted)


def remember(store: Store, newest: datetime | None) -> None:
    """Write down the newest expiry among the sessions just converted (keeping a later
    one written by an earlier run). Best effort: a store that keeps nothing beside its
    sessions (memory) loses it, and ``--status`` then says what it can."""
    if newest is None:
        return
    known = _recorded(store)
    if known is not None and known >= newest:
        return
    document = json.dumps({"newestExpiry": newest.astimezone(dt_timezone.utc).isoformat()})
    try:
        store.publish_policy(SIDE, document)
    except Exception as error:  # the conversion itself succeeded; say so, do not fail it
        logger.warning("migratesessions could not note the newest converted expiry: %r", error)


def _recorded(store: Store) -> datetime | None:
    try:
        text = store.read_policy(SIDE)
        return None if text is None else datetime.fromisoformat(json.loads(text)["newestExpiry"])
    except Exception as error:  # unreadable: the status says it does not know
        logger.warning("The note of converted sessions cannot be read: %r", error)
        return None


def describe(status: Status, migrate: MigrateFrom, now: datetime, cookie_age: int) -> str:
    """The report of ``--status``: what is left, and when ``migrateFrom`` can go."""
    lines = []
    if status.left is None:
        lines.append(f"Old sessions left: unknown ({status.unlisted}).")
    else:
        newest = f"; the newest expires {_when(status.newest_left)}" if status.left else ""
        lines.append(f"Old sessions left ({migrate.engine}): {status.left:,}{newest}.")
    if status.newest_converted is not None:
        lines.append(
            "Converted by migratesessions, waiting for their users: the newest expires "
            f"{_when(status.newest_converted)}."
        )
    until = status.needed_until
    if status.left is None:
        bound = now + timedelta(seconds=cookie_age)
        if until is None or until < bound:
            until = bound
        lines.append(
            f"Keep migrateFrom until {_when(until)} at least: old cookies last "
            f"SESSION_COOKIE_AGE ({cookie_age:,} s) after their last request on the old "
            "engine, which cannot be listed."
        )
    elif until is None or until <= now:
        lines.append(
            "No old cookie can name a live session any more: migrateFrom (and "
            "django.contrib.sessions, if only migrateFrom read its table) can be removed."
        )
    else:
        lines.append(
            f"Keep migrateFrom until {_when(until)}: removing it earlier logs out every "
            "user who still holds an old cookie."
        )
    return "\n".join(lines)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "(unknown)"
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
