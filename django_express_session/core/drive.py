"""Run a plan against a store: the only code that differs between sync and async.

A *plan* is a generator that yields operations (``ops.Op``) and receives each result,
the way h11 keeps the HTTP protocol apart from sockets. The session's loops (create with
a fresh id on collision, compare-and-set merge with back-off) are written once, as
plans; ``run`` performs their operations with the store's plain methods, ``arun`` with
its ``a*`` twins, through the ``ops.Performer`` protocol. This was chosen over
generating sync code from async code (unasync, as httpcore does) because most stores
here block on I/O and run a whole plan in one worker-thread hop, which a generated twin
could not express.

An exception raised by an operation is thrown back into the plan at its ``yield``, so
the plan decides (a ``CreateError`` means "take another id"); an error of the store's
client that means "cannot reach the backend" arrives there as ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from ..exceptions import StoreUnavailable
from . import observe
from .ops import Exclusive, Performer, Plan, Sleep

T = TypeVar("T")


def unavailable(performer: Performer, error: BaseException) -> StoreUnavailable:
    # A store says how it fails ("cannot be written" for a local directory).
    how = getattr(performer, "failure", "is unreachable")
    failure = StoreUnavailable(f"the {performer.name} session store {how}: {error}")
    failure.__cause__ = error
    return failure


def _thrown(error: Exception, performer: Performer, translate: bool) -> Exception:
    """What an operation's error is thrown into its plan as."""
    if translate and isinstance(error, performer.connection_errors):
        return unavailable(performer, error)
    return error


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


def run(plan: Plan[T], performer: Performer, *, translate: bool = True) -> T:
    """Perform ``plan`` with the performer's blocking methods. Without ``translate``
    the backend's connection errors reach the plan (and the caller) as they are: a
    store's own public method says what its client said."""
    # Written out, with no object nor context per operation: every request runs a few of
    # these, most of one or two operations, where those show.
    outcome: Any = None
    error: BaseException | None = None
    perform = performer.perform
    while True:
        try:
            op = plan.send(outcome) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value
        outcome = error = None
        try:
            if isinstance(op, Sleep):
                time.sleep(op.seconds)
            elif isinstance(op, Exclusive):
                outcome = _exclusively(op, performer, translate)
            elif observe.current is None or not translate:
                outcome = perform(op)
            else:
                # Observed: the session core's operations, not the backend calls a
                # store's own plan makes for one of them (run untranslated).
                outcome = observe.current.perform(performer, op)
        except Exception as caught:
            error = _thrown(caught, performer, translate)


def _exclusively(op: Exclusive, performer: Performer, translate: bool) -> Any:
    held = _thread_lock(op.key)
    waited = not held.lock.acquire(blocking=False)
    if waited:
        held.lock.acquire()
    try:
        return run(op.make_plan(waited), performer, translate=translate)
    finally:
        held.lock.release()


async def arun(plan: Plan[T], performer: Performer, *, translate: bool = True) -> T:
    """Perform ``plan`` with the performer's native asyncio methods or, for one without
    them, run the whole plan in one worker thread (one hop, not one per op)."""
    if not performer.native_async:
        if not performer.blocking:
            return run(plan, performer, translate=translate)
        in_thread = sync_to_async(run, thread_sensitive=performer.thread_sensitive)
        return await in_thread(plan, performer, translate=translate)
    # ``run``'s loop, awaiting: no object nor context per operation (a request runs a
    # few of these, nested: the store's own plan inside the session's).
    outcome: Any = None
    error: BaseException | None = None
    aperform = performer.aperform
    while True:
        try:
            op = plan.send(outcome) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value
        outcome = error = None
        try:
            if isinstance(op, Sleep):
                await asyncio.sleep(op.seconds)
            elif isinstance(op, Exclusive):
                outcome = await _aexclusively(op, performer, translate)
            elif observe.current is None or not translate:
                outcome = await aperform(op)
            else:
                outcome = await observe.current.aperform(performer, op)
        except Exception as caught:
            error = _thrown(caught, performer, translate)


async def _aexclusively(op: Exclusive, performer: Performer, translate: bool) -> Any:
    lock = _loop_lock(op.key)
    waited = lock.locked()
    async with lock:
        return await arun(op.make_plan(waited), performer, translate=translate)
