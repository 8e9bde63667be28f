"""``manage.py clearsessions``: delete expired sessions from the configured store.

Replaces Django's command of the same name (this app's commands win when it is listed
before ``django.contrib.sessions``, which this package does not need). Stores whose
backend expires records by itself (Redis, memcached, a MongoDB TTL index) have nothing
to do; the database and file stores delete in bounded batches.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ... import conf
from ..running_count import RunningCount


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
            self.stdout.write(
                f"The {store.name} store expires sessions by itself: nothing to clear."
            )
            return
        self.stdout.write(f"{removed:,} expired sessions {verb}.")
