"""A test run never writes into the configured session store.

Django's test runner gives the tests a database of their own, so the ``database`` store
is isolated already; every other store would receive the run's sessions, filed under
the test database's user ids, which are real users' ids in the configured store (their
"Your sessions" page would show the run's clients). So, for the run, the pytest plugin
and ``manage.py test`` point ``EXPRESS_SESSION["store"]`` at a store of the same kind
that no one else reads, and remove what the run left:

==============  ==============================================================
``file``        a temporary directory
``redis``       a per-run prefix (``test-<random>:`` before the configured one, so
                the run's keys never lie under the real prefix), and ``indexPrefix``
``cache``       a per-run prefix, whose items expire with their ``ttl`` (a local-memory
                cache is per process already)
``mongodb``     a per-run collection (``<collectionName>_test_<random>``)
``database``    unchanged: the test database
``memory``      unchanged
a custom store  the memory store (how to isolate it is not known here)
==============  ==============================================================

A test that sets ``EXPRESS_SESSION`` itself (``override_settings``, pytest-django's
``settings``) gets what it sets. To run a whole suite against the configured store on
purpose: ``--express-session-real-store`` (pytest and ``manage.py test``), or
``express_session_real_store = true`` in the pytest configuration.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("django_express_session")

#: The pytest ini option and command-line flag (``manage.py test`` takes the flag too).
REAL_STORE = "express_session_real_store"
REAL_STORE_FLAG = "--express-session-real-store"
REAL_STORE_HELP = (
    "run the tests against the configured EXPRESS_SESSION store instead of an isolated "
    "one (a temporary directory, a per-run prefix or collection, the memory store)"
)

Undo = Callable[[], None]


def isolate() -> Undo:
    """Point ``EXPRESS_SESSION["store"]`` at an isolated store for the run; return what
    undoes it (and removes the run's sessions). Changes nothing when the settings say
    no store, or one that is isolated already, or are invalid (the checks say why)."""
    from django.conf import settings
    from django.test.utils import override_settings

    config = getattr(settings, "EXPRESS_SESSION", None)
    store = config.get("store") if isinstance(config, Mapping) else None
    if not isinstance(store, Mapping) or not isinstance(store.get("backend"), str):
        return _nothing
    options = store.get("options") or {}
    if not isinstance(options, Mapping):
        return _nothing
    isolated = isolated_store(store["backend"], dict(options))
    if isolated is None:
        return _nothing
    replacement, remove = isolated
    override = override_settings(EXPRESS_SESSION={**config, "store": replacement})
    override.enable()

    def undo() -> None:
        try:
            remove()
        finally:
            override.disable()

    return undo


def isolated_store(backend: str, options: dict[str, Any]) -> tuple[dict, Undo] | None:
    """The isolated ``store`` setting for ``backend`` with ``options``, and what removes
    the run's sessions from it; None where the configured store is isolated already."""
    from ..conf import STORE_BACKENDS

    token = secrets.token_hex(4)
    kind = next((name for name, path in STORE_BACKENDS.items() if backend in (name, path)), None)
    if kind in ("memory", "database"):
        return None
    if kind == "file":
        directory = Path(tempfile.mkdtemp(prefix="express-session-tests-"))
        options["path"] = str(directory / "sessions")
        return _store(backend, options), lambda: shutil.rmtree(directory, ignore_errors=True)
    if kind == "redis":
        options["prefix"] = f"test-{token}:{options.get('prefix', 'sess:')}"
        if options.get("indexPrefix") is not None:
            options["indexPrefix"] = f"test-{token}:{options['indexPrefix']}"
        return _store(backend, options), _clear
    if kind == "cache":
        if _is_local_memory(options.get("alias", "default")):
            return None
        options["prefix"] = f"test-{token}:{options.get('prefix', '')}"
        # memcached cannot list its keys: the run's items expire with their ttl.
        return _store(backend, options), _nothing
    if kind == "mongodb":
        options["collectionName"] = f"{options.get('collectionName', 'sessions')}_test_{token}"
        return _store(backend, options), _clear
    return _store("memory", {}), _nothing


def _store(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"backend": backend, "options": options}


def _is_local_memory(alias: Any) -> bool:
    from django.conf import settings

    config = settings.CACHES.get(alias) if isinstance(alias, str) else None
    return bool(config) and config.get("BACKEND", "").endswith("locmem.LocMemCache")


def _clear() -> None:
    """Remove the run's sessions (best effort: a server that went away meanwhile keeps
    them, under a prefix or collection no one reads)."""
    from .. import conf

    try:
        conf.get_store().clear()
    except Exception as error:
        logger.warning("The test run's sessions were not removed: %r", error)


def _nothing() -> None:
    return None
