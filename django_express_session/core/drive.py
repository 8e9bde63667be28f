"""Run a plan against a store: the only code that differs between sync and async.

A *plan* is a generator that yields operations (``ops.Op``, ``ops.Sleep``) and receives
each result, the way h11 keeps the HTTP protocol apart from sockets. The session's
loops (create with a fresh id on collision, compare-and-set merge with back-off) are
written once, as plans; ``run`` performs their operations with the store's plain
methods, ``arun`` with its ``a*`` twins. This was chosen over generating sync code from
async code (unasync, as httpcore does) because most stores here block on I/O and run
a whole plan in one worker-thread hop, which a generated twin could not express.

An exception raised by an operation is thrown back into the plan at its ``yield``, so
the plan decides (a ``CreateError`` means "take another id"); an error of the store's
client that means "cannot reach the backend" arrives there as ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async

from ..exceptions import StoreUnavailable
from .ops import Exclusive, Op, Sleep

if TYPE_CHECKING:
    from ..stores.base import Store

T = TypeVar("T")
Plan = Generator["Op | Sleep | Exclusive", Any, T]


class _Conversation:
    """A plan and the answer owed to it: the result of its last operation, or the
    exception that operation raised."""

    __slots__ = ("error", "outcome", "plan", "store", "value")

    def __init__(self, plan: Plan[Any], store: Store) -> None:
        self.plan = plan
        self.store = store
        self.outcome: Any = None
        self.error: BaseException | None = None
        self.value: Any = None

    def next(self) -> Op | Sleep | Exclusive | None:
        """The plan's next operation, or None once it returned (``value``)."""
        outcome, error = self.outcome, self.error
        self.outcome, self.error = None, None
        try:
            return self.plan.throw(error) if error is not None else self.plan.send(outcome)
        except StopIteration as stop:
            self.value = stop.value
            return None

    # ``with conversation:`` around an operation catches what it raises, to throw it
    # back into the plan (a class, not @contextmanager: this runs for every operation).
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        if isinstance(error, self.store.connection_errors):
            self.error = unavailable(self.store, error)
        else:
            self.error = error
        return True


def unavailable(store: Store, error: BaseException) -> StoreUnavailable:
    failure = StoreUnavailable(f"the {store.name} session store is unreachable: {error}")
    failure.__cause__ = error
    return failure


class _ThreadLock:
    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


# The per-key locks of ``Exclusive``, alive while someone holds or waits for them.
_thread_locks: weakref.WeakValueDictionary[Any, _ThreadLock] = weakref.WeakValueDictionary()
_loop_locks: weakref.WeakKeyDictionary[Any, weakref.WeakValueDictionary[Any, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_registry = threading.Lock()


def _thread_lock(key: Any) -> _ThreadLock:
    with _registry:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = _ThreadLock()
        return lock


def _loop_lock(key: Any) -> asyncio.Lock:
    with _registry:
        locks = _loop_locks.setdefault(asyncio.get_running_loop(), weakref.WeakValueDictionary())
        lock = locks.get(key)
        if lock is None:
            lock = locks[key] = asyncio.Lock()
        return lock


def run(plan: Plan[T], store: Store) -> T:
    """Perform ``plan`` with the store's blocking primitives."""
    conversation = _Conversation(plan, store)
    while (op := conversation.next()) is not None:
        with conversation:
            if isinstance(op, Sleep):
                time.sleep(op.seconds)
            elif isinstance(op, Exclusive):
                held = _thread_lock(op.key)
                waited = not held.lock.acquire(blocking=False)
                if waited:
                    held.lock.acquire()
                try:
                    conversation.outcome = run(op.make_plan(waited), store)
                finally:
                    held.lock.release()
            else:
                conversation.outcome = getattr(store, op.method)(*op.args, **dict(op.kwargs))
    return conversation.value


async def arun(plan: Plan[T], store: Store) -> T:
    """Perform ``plan`` with the store's native asyncio primitives or, for a store
    without them, run the whole plan in one worker thread (one hop, not one per op)."""
    if not store.native_async:
        if not store.blocking:
            return run(plan, store)
        return await sync_to_async(run, thread_sensitive=store.thread_sensitive)(plan, store)
    conversation = _Conversation(plan, store)
    while (op := conversation.next()) is not None:
        with conversation:
            if isinstance(op, Sleep):
                await asyncio.sleep(op.seconds)
            elif isinstance(op, Exclusive):
                lock = _loop_lock(op.key)
                waited = lock.locked()
                async with lock:
                    conversation.outcome = await arun(op.make_plan(waited), store)
            else:
                method = getattr(store, "a" + op.method)
                conversation.outcome = await method(*op.args, **dict(op.kwargs))
    return conversation.value
