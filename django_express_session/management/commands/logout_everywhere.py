"""``manage.py logout_everywhere USERNAME [--keep SID] [--dry-run]``: end every session
of a user, those the Express app wrote included (after a stolen laptop, a password
reset, an offboarding)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ... import users
from ..printable import printable
from ..running_count import counted


class Command(BaseCommand):
    help = "Ends every session of a user, on Django and on the Express app sharing the store."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", help="The user's USERNAME_FIELD value.")
        parser.add_argument(
            "--keep",
            metavar="SID",
            help="A session id to leave logged in (--keep=SID: an id may start with '-').",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List the sessions; end nothing."
        )

    def handle(
        self, *args: Any, username: str, keep: str | None, dry_run: bool, **options: Any
    ) -> None:
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(
                f"No user has {model.USERNAME_FIELD} {username!r}: no session ended."
            ) from None
        try:
            if dry_run:
                kept = None if keep is None else users.ref_of(keep)
                sessions = [s for s in users.sessions_of(user) if s.ref != kept]
            else:
                sessions = users.end_sessions(user, keep)
        except users.CannotListSessions as error:
            raise CommandError(str(error)) from None
        verb = "would be ended" if dry_run else "ended"
        self.stdout.write(printable(f"{counted(len(sessions), 'session')} of {username} {verb}."))
        for session in sessions:
            self.stdout.write(printable("  " + describe(session)))
        if not dry_run and (old := users.end_old_sessions(user)):
            plural = "" if old == 1 else "s"
            self.stdout.write(f"{old:,} session{plural} the old engine (migrateFrom) held ended.")


def describe(session: users.UserSession) -> str:
    """``ab12cd…  written by express, last seen 2026-12-01 10:00 UTC``."""
    details = []
    if session.written_by:
        details.append(f"written by {session.written_by}")
    seen = session.last_seen_at or session.created_at
    if seen is not None:
        details.append(
            f"{'last seen' if session.last_seen_at else 'started'} {seen:%Y-%m-%d %H:%M} UTC"
        )
    if session.user_agent:
        details.append(session.user_agent)
    return "  ".join([session.hint, ", ".join(details)]).rstrip()
