"""``manage.py sessionevents [--no-configure] [--check]``: a long-running listener of the
Redis store's keyspace notifications (``stores.redis.events``). It files every session
into the per-user index as it is written, by Django or by an Express app on a stock
connect-redis store, and sends ``session_ended`` with the reason ``"expired"`` (and
``session`` None) when Redis expires a session that went idle. Run one per Redis
deployment, under a process supervisor; SIGINT or SIGTERM stops it."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import conf, signals
from ...stores.redis import RedisStore
from ...stores.redis.events import Listener, NotificationsUnavailable

#: ``session_ended``'s reason for a session Redis expired.
REASON = "expired"


def report_expiry(sid: str) -> None:
    from ...session import SessionStore

    signals.session_ended.send(sender=SessionStore, session=None, session_key=sid, reason=REASON)


def listener_for(store: RedisStore, *, configure: bool = True, **options: Any) -> Listener:
    """The command's listener on ``store``: expiries go to ``session_ended``."""
    return Listener(store, on_expired=report_expiry, configure=configure, **options)


class Command(BaseCommand):
    help = (
        "Listens to Redis keyspace notifications: files each session written (by Django "
        "or Express) into the per-user index at once, and reports idle expiry."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-configure",
            action="store_true",
            help="Never run CONFIG SET notify-keyspace-events; fail if they are off.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Check that the notifications can be had (turning them on), then exit.",
        )

    def handle(self, *args: Any, no_configure: bool, check: bool, **options: Any) -> None:
        store = conf.get_store()
        if not isinstance(store, RedisStore):
            raise CommandError(
                f"sessionevents listens to Redis only; the {store.name} store needs no "
                "listener (see manage.py reindexsessions)."
            )
        listener = listener_for(store, configure=not no_configure)
        try:
            listener.check()
        except NotificationsUnavailable as error:
            raise CommandError(str(error)) from None
        except store.connection_errors as error:
            raise CommandError(f"Redis cannot be reached: {error}") from None
        if check:
            self.stdout.write("Keyspace notifications are on.")
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: listener.stop())
        self.stdout.write(f"Listening to the sessions under {store.options.prefix!r}...")
        listener.run()
        counts = listener.counts
        self.stdout.write(
            f"Stopped after {counts.events:,} events: {counts.filed:,} sessions filed, "
            f"{counts.expired:,} expiries reported."
        )
