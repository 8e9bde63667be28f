"""``manage.py clearsessions``: delete expired sessions from the configured store.

Replaces Django's command of the same name (this app's commands win when it is listed
before ``django.contrib.sessions``, which this package does not need). Stores whose
backend expires records by itself (Redis, memcached, a MongoDB TTL index) have nothing
to do; the database and file stores delete in bounded batches.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ... import conf
from ...stores.base import Store
from ..running_count import RunningCount, counted


class Command(BaseCommand):
    help = "Deletes expired sessions from the EXPRESS_SESSION store (run it from cron)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the expired sessions and delete nothing.",
        )

    def handle(self, *args, dry_run: bool = False, **options):
        store = conf.get_store()
        verb = "would be removed" if dry_run else "removed"
        count = RunningCount(self.stdout, f"expired sessions {verb}")
        removed = store.prune(dry_run=dry_run, progress=count.callback)
        count.end()
        if removed is None:
            self.stdout.write(nothing_to_clear(store))
            return
        self.stdout.write(f"{counted(removed, 'expired session')} {verb}.")


def nothing_to_clear(store: Store) -> str:
    """Why ``prune()`` had nothing to do: the backend expires records by itself (the
    built-in stores that return None: Redis, memcached, MongoDB's TTL index), or, for a
    custom store without ``prune``, nothing here can tell which records expired."""
    inner = getattr(store, "store", store)  # under migrateFrom's wrapper
    built_in = type(inner).__module__.startswith("django_express_session.")
    if not built_in and type(inner).prune is Store.prune:
        return (
            f"The session store {type(inner).__module__}.{type(inner).__qualname__} does not "
            "implement prune(): nothing was cleared. Its backend must expire sessions by "
            "itself, or the store must implement prune() for clearsessions to delete them."
        )
    return f"The {store.name} store expires sessions by itself: nothing to clear."
