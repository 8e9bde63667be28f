"""``manage.py reindexsessions [--dry-run]``: rebuild the store's per-user index of
sessions from the records themselves (``Store.reindex``), for sessions an Express app
wrote without it, or an index that drifted. Stores whose index the backend maintains
itself (the database's expression indexes) or that keep none have nothing to do."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ... import conf
from ..running_count import RunningCount, counted


class Command(BaseCommand):
    help = "Rebuilds the EXPRESS_SESSION store's index of each user's sessions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the entries to fix; change nothing."
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        store = conf.get_store()
        verb = "would be fixed" if dry_run else "fixed"
        count = RunningCount(self.stdout, f"index entries {verb}")
        fixed = store.reindex(dry_run=dry_run, progress=count.callback)
        count.end()
        if fixed is None:
            self.stdout.write(
                f"The {store.name} store keeps no index of users' sessions that can drift: "
                "nothing to rebuild."
            )
            return
        self.stdout.write(f"{counted(fixed, 'index entry', 'index entries')} {verb}.")
