"""``manage.py migratesessions``: move the sessions stored by the ``migrateFrom`` engine
into the express store, in batches, with a progress bar on stderr (see
``django_express_session.migration_bulk``)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ... import conf, migration_status, store_copy
from ...migration_bulk import CannotList, Summary, convert
from ..running_count import counted

BAR = 30


class Command(BaseCommand):
    help = (
        "Converts the sessions stored by EXPRESS_SESSION['migrateFrom']['engine'] into "
        "express sessions, or (--from-store) copies another store's sessions into the "
        "configured one. Safe to run while the site serves traffic, and to run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Convert nothing; count.")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Sessions per batch (1000)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")
        parser.add_argument(
            "--from-store",
            metavar="STORE",
            help="Copy the live sessions of another store of this package into "
            "EXPRESS_SESSION['store'], under the same ids: a JSON object like "
            "EXPRESS_SESSION['store'], or the name of a setting holding one.",
        )
        parser.add_argument(
            "--status",
            action="store_true",
            help="Convert nothing; say how many old sessions are left, the newest old "
            "expiry, and until when migrateFrom must stay.",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool,
        batch_size: int,
        no_progress: bool,
        status: bool,
        from_store: str | None,
        **options: Any,
    ) -> None:
        if from_store is not None:
            self.stdout.write(copy_from(from_store, dry_run=dry_run))
            return
        migrate = conf.get_options().migrate_from
        if migrate is None:
            raise CommandError(
                "EXPRESS_SESSION['migrateFrom'] is not set: there is no old engine to read."
            )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if status:
            found = migration_status.read(migrate, conf.get_store(), batch_size)
            cookie_age = settings.SESSION_COOKIE_AGE
            self.stdout.write(migration_status.describe(found, migrate, timezone.now(), cookie_age))
            return
        progress = None if no_progress else Progress(self.stderr, tty=sys.stderr.isatty())
        try:
            summary = convert(migrate, batch_size=batch_size, dry_run=dry_run, progress=progress)
        except CannotList as error:
            raise CommandError(f"Cannot convert in bulk: {error}.") from None
        if progress is not None:
            progress.end()
        if not dry_run:
            migration_status.remember(conf.get_store(), summary.newest)
        self.stdout.write(report(summary, dry_run))


class Progress:
    """``[#####.....]  52%  52,000/100,000 sessions  3,100/s`` on stderr: redrawn in
    place on a terminal, a line per tenth otherwise (logs, CI)."""

    def __init__(self, stream: Any, *, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.tenth = -1
        self.drawn = False

    def __call__(self, summary: Summary, total: int | None) -> None:
        seen = summary.seen
        if total:
            share = min(seen / total, 1.0)
            filled = int(share * BAR)
            line = (
                f"[{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%}  {seen:,}/{total:,} sessions"
            )
            tenth = int(share * 10)
        else:
            line = f"{seen:,} sessions"
            tenth = seen // 10_000
        line += f"  ({summary.converted:,} converted)"
        if self.tty:
            self.stream.write("\r" + line, ending="")
            self.stream.flush()
            self.drawn = True
        elif tenth != self.tenth:
            self.stream.write(line)
        self.tenth = tenth

    def end(self) -> None:
        if self.drawn:
            self.stream.write("")


def copy_from(given: str, *, dry_run: bool) -> str:
    options = conf.get_options()
    try:
        source = store_copy.source_store(given, options.lifetime)
    except ImproperlyConfigured as error:
        raise CommandError(str(error)) from None
    try:
        copied = store_copy.copy_sessions(source, conf.get_store(), dry_run=dry_run)
    except NotImplementedError as error:  # a store that cannot list its sessions
        raise CommandError(f"Cannot copy: {error}.") from None
    finally:
        source.close()
    verb = "Would copy" if dry_run else "Copied"
    lines = [
        f"{verb} {counted(copied.copied, 'session')} from the {source.name} store to the "
        f"{conf.get_store().name} store.",
        f"Skipped: {copied.already:,} already there.",
        f"Failed: {sum(copied.failed.values()):,}.",
    ]
    lines += [f"  {count:,} x {why}" for why, count in copied.failed.most_common(10)]
    return "\n".join(lines)


def report(summary: Summary, dry_run: bool) -> str:
    rate = summary.converted / summary.seconds if summary.seconds else 0
    verb = "Would convert" if dry_run else "Converted"
    lines = [
        f"{verb} {counted(summary.converted, 'session')} in {summary.seconds:.1f} s "
        f"({rate:,.0f}/s).",
        f"Skipped: {summary.expired:,} expired or empty, {summary.already:,} already converted.",
    ]
    failed = sum(summary.failed.values())
    lines.append(f"Failed: {failed:,}.")
    for why, count in summary.failed.most_common(10):
        lines.append(f"  {count:,} x {why}")
    return "\n".join(lines)
