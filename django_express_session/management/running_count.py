"""The progress of a command that counts as it goes (``clearsessions``,
``reindexsessions``): ``12,000 expired sessions removed...`` redrawn in place on a
terminal, nothing in a log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RunningCount:
    def __init__(self, stream: Any, label: str) -> None:
        self.stream = stream
        self.label = label  # "expired sessions removed"
        self.interactive = stream.isatty()

    @property
    def callback(self) -> Callable[[int], None] | None:
        """What the store's ``progress`` parameter gets: None off a terminal."""
        return self.show if self.interactive else None

    def show(self, count: int) -> None:
        self.stream.write(f"\r{count:,} {self.label}...", ending="")
        self.stream.flush()

    def end(self) -> None:
        if self.interactive:
            self.stream.write("\r", ending="")


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 session``, ``2 sessions``, ``1,000 index entries``: the count and its noun."""
    noun = singular if count == 1 else plural or singular + "s"
    return f"{count:,} {noun}"
