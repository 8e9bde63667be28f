"""Who watches the session layer work (metrics, traces): nobody unless one is installed.

``drive`` hands each store operation to the installed ``Observer`` to perform, so the
observer can time it, trace it and tell how it ended; the middleware tells it of each
touch ``touchAfter`` spared. What the session signals already say (sessions created and
ended, unreachable stores, compare-and-set given up) is for the observer to receive
from ``signals``. With no observer (the default) each operation costs one module
attribute read and one comparison.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from ..exceptions import CorruptRecord, CreateError, StoreUnavailable
from .ops import Op, Performer, Read, Replace


class Observer(Protocol):
    def perform(self, performer: Performer, op: Op) -> Any:
        """``performer.perform(op)``, observed: its result, or what it raised."""

    async def aperform(self, performer: Performer, op: Op) -> Any:
        """``await performer.aperform(op)``, observed."""

    def touch_spared(self) -> None:
        """A request left its session's store expiry alone because of ``touchAfter``
        (express would have touched it)."""


#: The observer installed (``install``), or None.
current: Observer | None = None


def install(observer: Observer | None) -> None:
    """Make ``observer`` the one observer (None: none)."""
    global current
    current = observer


_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_operation_names: dict[type, str] = {}


def operation_name(op: Op) -> str:
    """``Read`` -> ``"read"``, ``SessionsOf`` -> ``"sessions_of"``; a store's own
    operations by their class names alike."""
    kind = type(op)
    name = _operation_names.get(kind)
    if name is None:
        name = _operation_names[kind] = _SNAKE.sub("_", kind.__name__).lower()
    return name


def outcome(
    op: Op,
    result: Any = None,
    error: BaseException | None = None,
    *,
    performer: Performer | None = None,
) -> str:
    """How an operation ended, in one word: ``"ok"``; a read's ``"hit"`` or ``"miss"``;
    a compare-and-set's ``"conflict"`` (another writer came first); a create's
    ``"taken"`` (the id is in use); ``"corrupt"`` (a record that cannot be decoded);
    ``"unavailable"`` (the backend cannot be reached); ``"error"``."""
    if error is not None:
        if isinstance(error, CreateError):
            return "taken"
        if isinstance(error, CorruptRecord):
            return "corrupt"
        unreachable = getattr(performer, "connection_errors", ())
        if isinstance(error, (StoreUnavailable, *unreachable)):
            return "unavailable"
        return "error"
    if isinstance(op, Read):
        return "miss" if result is None else "hit"
    if isinstance(op, Replace) and not result:
        return "conflict"
    return "ok"
