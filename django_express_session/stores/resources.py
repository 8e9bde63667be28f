"""The resources a store holds besides its options: a connection built on first use
(``Lazy``), one per running event loop (``PerLoop``), and a background clean-up
(``PeriodicPrune``). Each is written once here, for every store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger("django_express_session")

T = TypeVar("T")


class Prunable(Protocol):
    """What ``PeriodicPrune`` calls: a store's ``name`` and ``prune()``."""

    @property
    def name(self) -> str: ...

    def prune(self) -> int | None: ...


class Lazy(Generic[T]):
    """A connection (or any resource) built on first use, once even under threads, and
    dropped by ``reset()``: the one way every store opens its client."""

    def __init__(self, build: Callable[[], T], close: Callable[[T], None] | None = None) -> None:
        self._build = build
        self._close = close
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def ready(self) -> bool:
        return self._value is not None

    def reset(self) -> None:
        with self._lock:
            value, self._value = self._value, None
        if value is not None and self._close is not None:
            self._close(value)


class PerLoop(Generic[T]):
    """One resource per running event loop (an asyncio client or pool is bound to the
    loop it connected on), built by ``build`` on first use in that loop, once even when
    loops of several threads share the store; the resources of loops that closed are
    let go at the next build.

    ``close()`` forgets them all, and returns them for a resource a caller can close
    from any thread. With ``aclose``, it also closes each one on its own loop while that
    loop runs; with ``close_with_loop`` as well, a keeper task closes it when its loop
    shuts down (``asyncio.run``, asgiref's ``async_to_sync`` and ASGI servers cancel
    the tasks left), and ``close()`` cancels the keepers."""

    def __init__(
        self,
        build: Callable[[], T],
        aclose: Callable[[T], Awaitable[Any]] | None = None,
        *,
        close_with_loop: bool = False,
    ) -> None:
        self._build = build
        self._aclose = aclose
        self._keep = close_with_loop and aclose is not None
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._keepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, loop: asyncio.AbstractEventLoop) -> T:
        return self._values[loop]

    def get(self) -> T:
        """The running loop's resource (a None that ``build`` gives is not kept)."""
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is not None:
            return value
        with self._lock:
            for closed in [other for other in self._values if other.is_closed()]:
                del self._values[closed]
                self._keepers.pop(closed, None)  # never cancelled: only forgotten
            value = self._values.get(loop)
            if value is None:
                value = self._build()
                if value is not None:
                    self._values[loop] = value
                    if self._keep:
                        self._keepers[loop] = loop.create_task(self._kept(value))
        return value

    async def _kept(self, value: T) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_future()  # never set: cancelled at shutdown or by close()
        finally:
            with self._lock:
                if self._values.get(loop) is value:
                    del self._values[loop]
                    self._keepers.pop(loop, None)
            if self._aclose is not None:
                await self._aclose(value)

    def close(self) -> list[T]:
        with self._lock:
            values = list(self._values.items())
            keepers = list(self._keepers.values())
            self._values.clear()
            self._keepers.clear()
        for keeper in keepers:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                keeper.get_loop().call_soon_threadsafe(keeper.cancel)
        if self._aclose is not None and not self._keep:
            for loop, value in values:
                if loop.is_running() and not loop.is_closed():
                    asyncio.run_coroutine_threadsafe(self._aclose(value), loop)
        return [value for _, value in values]


class PeriodicPrune:
    """Calls ``store.prune()`` every ``interval`` seconds in a daemon thread, logging a
    failure and trying again next round: the one background clean-up of the stores that
    have a Node option for it (memorystore ``checkPeriod``, session-file-store
    ``reapInterval``, connect-mongo ``autoRemove: "interval"``). Started on first use of
    the store, stopped by ``close()``. Without it, ``manage.py clearsessions`` from cron
    does the same, as Django's own engines expect."""

    def __init__(self, store: Prunable, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        with self._lock:
            if self._thread is None:
                self._stopped.clear()
                self._thread = threading.Thread(
                    target=self._loop, name=f"{self.store.name}-session-prune", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopped.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.store.prune()
            except Exception:  # the next round retries; reads filter on expiry anyway
                logger.warning(
                    "removing expired sessions from the %s store failed",
                    self.store.name,
                    exc_info=True,
                )
