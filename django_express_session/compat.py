"""The private APIs of Django, Python and redis-py this package relies on, in one place.

Each is used because no public API says the same thing; each has a test in
``tests/test_compat.py`` that fails loudly on a release that changes it. (Django's
``_TestState``, once read to detect a test run, and the test client's CSRF exemption
flag, once read to tell its requests, are no longer needed: the package's test support
says so itself and marks the test client's requests, ``testing.stock``.)
"""

from __future__ import annotations

import sys
from http.cookies import Morsel, SimpleCookie
from types import CodeType
from typing import Any

from django.contrib.sessions.backends.base import SessionBase


def calling_code(depth: int) -> CodeType:
    """The code object of the function ``depth`` frames above the caller of this one
    (``sys._getframe``, CPython's): how ``signals.flush_reason`` tells a ``flush()``
    that Django's ``get_user()`` makes (the password hash no longer verifies) from a
    logout, as no signal or argument says it."""
    return sys._getframe(depth + 1).f_code


def session_data(session: SessionBase) -> dict[str, Any] | None:
    """The data of a Django session as loaded (None: not loaded yet), read without
    marking it accessed: ``SessionBase`` keeps it in ``_session_cache``."""
    return getattr(session, "_session_cache", None)


class SetCookieLine(Morsel):
    """A morsel that prints an exact, pre-serialised ``Set-Cookie`` value: Django's
    handlers emit ``morsel.OutputString()`` for each entry of ``response.cookies``, and
    the test client reads ``key`` and ``coded_value``."""

    def __init__(self, name: str, value: str, line: str) -> None:
        super().__init__()
        self.set(name, value, value)
        self._line = line

    def OutputString(self, attrs: Any = None) -> str:
        return self._line

    def __reduce__(self) -> Any:
        return (SetCookieLine, (self.key, self.value, self._line))


def put_set_cookie_line(cookies: SimpleCookie, name: str, value: str, line: str) -> None:
    """Put ``line`` in ``cookies`` as the ``Set-Cookie`` of ``name`` (as the morsel
    itself: ``SimpleCookie.__setitem__`` would build a morsel of its own)."""
    dict.__setitem__(cookies, name, SetCookieLine(name, value, line))


def locmem_keys(cache: Any) -> list[str]:
    """Every key a ``LocMemCache`` holds (as made by ``make_key``): Django has no public
    API for it, so its private ``_lock`` and ``_cache`` are read."""
    with cache._lock:
        return list(cache._cache)


def file_engine_storage_path(engine_class: type) -> str:
    """The directory of Django's ``file`` session engine, as the engine resolved it
    (``SESSION_FILE_PATH``, else the temporary directory): its private
    ``_get_storage_path``."""
    return engine_class._get_storage_path()


def cluster_requires_full_coverage(client: Any) -> bool:
    """A redis-py ``RedisCluster``'s ``require_full_coverage``, which it keeps only in
    its nodes manager's private ``_require_full_coverage``."""
    return client.nodes_manager._require_full_coverage
