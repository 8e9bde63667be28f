"""``manage.py migratesessions``: convert the old engine's stored sessions in bulk.

Each old session becomes the express record the request path would make of it (same
derived id, same record), is ``create``d (which never overwrites), and its old record is
deleted once the batch is stored. So the command can run while the site serves traffic
(a request converting the same session at the same moment makes the same record; one of
the two ``create``s fails and is counted as already converted) and can be run twice. An
old cookie of a converted session still works: the request path finds the record under
the derived id.

Which old engines can be listed:

* ``db`` and ``cached_db``: the ``django_session`` table, in primary-key order, a batch
  per query (keyset pagination, no OFFSET);
* ``cache`` on django-redis: ``SCAN`` over the keys of Django's session key prefix
  (``django.contrib.sessions.cache``) under the cache's own ``KEY_PREFIX``/``VERSION``;
  other caches (memcached, local memory, database, file caches) cannot list their keys;
* ``file``: the files in ``SESSION_FILE_PATH`` named ``SESSION_COOKIE_NAME`` + key;
* ``signed_cookies`` stores nothing (the session is the cookie), and a third-party engine
  offers no listing: their sessions move over as their users come back.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from . import conf
from .compat import file_engine_storage_path
from .exceptions import CreateError
from .migration import MigrateFrom, OldSession, build_record, derive_sid, take
from .owner import Owner

DB_ENGINE = "django.contrib.sessions.backends.db"
CACHED_DB_ENGINE = "django.contrib.sessions.backends.cached_db"
CACHE_ENGINE = "django.contrib.sessions.backends.cache"
FILE_ENGINE = "django.contrib.sessions.backends.file"
SIGNED_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHE_KEY_PREFIX = "django.contrib.sessions.cache"


class CannotList(ImproperlyConfigured):
    """The old engine cannot list its sessions."""


@dataclass
class Summary:
    converted: int = 0
    already: int = 0
    expired: int = 0
    failed: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    #: The newest old expiry among the sessions stored (``migration_status``).
    newest: datetime | None = None

    def add(self, other: Summary) -> None:
        self.converted += other.converted
        self.already += other.already
        self.expired += other.expired
        self.failed.update(other.failed)
        self.stored_until(other.newest)

    def stored_until(self, expires: datetime | None) -> None:
        if expires is not None and (self.newest is None or expires > self.newest):
            self.newest = expires

    @property
    def seen(self) -> int:
        return self.converted + self.already + self.expired + sum(self.failed.values())


#: What a source yields: one batch of (key, OldSession or None when expired/empty).
Batch = list[tuple[str, OldSession | None]]


@dataclass
class Source:
    """The old engine's sessions, batch by batch, and how to delete a batch of them."""

    total: int | None
    batches: Iterator[Batch]
    delete: Callable[[list[str]], None]


def source(migrate: MigrateFrom, batch_size: int) -> Source:
    engine_class = migrate.session_store()
    from django.contrib.sessions.backends.cache import SessionStore as CacheSession
    from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBSession
    from django.contrib.sessions.backends.db import SessionStore as DBSession
    from django.contrib.sessions.backends.file import SessionStore as FileSession
    from django.contrib.sessions.backends.signed_cookies import SessionStore as SignedSession

    if issubclass(engine_class, SignedSession):
        raise CannotList(
            "the signed_cookies engine stores nothing: each session is its cookie, and moves "
            "over when its user comes back (migrateFrom)"
        )
    if issubclass(engine_class, DBSession):
        return _database(
            migrate, engine_class, batch_size, cached=issubclass(engine_class, CachedDBSession)
        )
    if issubclass(engine_class, CacheSession):
        return _cache(engine_class, batch_size)
    if issubclass(engine_class, FileSession):
        return _files(migrate, engine_class, batch_size)
    raise CannotList(
        f"{migrate.engine} offers no way to list its sessions; they move over as their "
        "users come back (migrateFrom)"
    )


def _database(migrate: MigrateFrom, engine_class: type, batch_size: int, *, cached: bool) -> Source:
    model = engine_class.get_model_class()
    decoder = engine_class()
    now = timezone.now()

    def batches() -> Iterator[Batch]:
        last = ""
        while True:
            rows = list(
                model.objects.filter(session_key__gt=last)
                .order_by("session_key")
                .values_list("session_key", "session_data", "expire_date")[:batch_size]
            )
            if not rows:
                return
            last = rows[-1][0]
            batch: Batch = []
            for key, text, expire in rows:
                data = decoder.decode(text) if expire > now else {}
                batch.append((key, OldSession(key, data, expire) if data else None))
            yield batch

    def delete(keys: list[str]) -> None:
        if cached:
            for key in keys:
                engine_class(session_key=key).delete(key)  # its cache entry too
        else:
            model.objects.filter(session_key__in=keys).delete()

    return Source(model.objects.count(), batches(), delete)


def _cache(engine_class: type, batch_size: int) -> Source:
    from django.core.cache import caches

    cache = caches[settings.SESSION_CACHE_ALIAS]
    if not hasattr(cache, "iter_keys"):
        raise CannotList(
            f"CACHES[{settings.SESSION_CACHE_ALIAS!r}] ({type(cache).__module__}."
            f"{type(cache).__name__}) cannot list its keys (only django-redis can); the "
            "sessions move over as their users come back (migrateFrom)"
        )
    prefix = CACHE_KEY_PREFIX

    def batches() -> Iterator[Batch]:
        keys = cache.iter_keys(prefix + "*", itersize=batch_size)
        while True:
            chunk = list(islice(keys, batch_size))
            if not chunk:
                return
            found = cache.get_many(chunk)
            now = timezone.now()
            batch: Batch = []
            for cache_key in chunk:
                key, data = cache_key[len(prefix) :], found.get(cache_key)
                ttl = cache.ttl(cache_key) if data else None
                expires = now + timedelta(seconds=ttl) if isinstance(ttl, int) and ttl > 0 else None
                batch.append((key, OldSession(key, data, expires) if data else None))
            yield batch

    def delete(keys: list[str]) -> None:
        cache.delete_many([prefix + key for key in keys])

    return Source(None, batches(), delete)


def _files(migrate: MigrateFrom, engine_class: type, batch_size: int) -> Source:
    directory = file_engine_storage_path(engine_class)
    prefix = settings.SESSION_COOKIE_NAME
    names = sorted(name for name in os.listdir(directory) if name.startswith(prefix))

    def batches() -> Iterator[Batch]:
        for start in range(0, len(names), batch_size):
            batch: Batch = []
            for name in names[start : start + batch_size]:
                key = name[len(prefix) :]
                batch.append((key, take(migrate, key)))  # None: expired (and removed) or empty
            yield batch

    def delete(keys: list[str]) -> None:
        for key in keys:
            engine_class(session_key=key).delete(key)

    return Source(len(names), batches(), delete)


def end_old_sessions(migrate: MigrateFrom, owner: Owner, batch_size: int = 1000) -> int:
    """Delete ``owner``'s sessions that the old engine still holds (``logout_everywhere``
    under ``migrateFrom``: else they would be converted, logged in, at their next visit);
    return how many. 0 for an engine that cannot be listed (see the module's docstring),
    whose old cookies stay usable until they expire or ``migrateFrom`` is removed."""
    try:
        old = source(migrate, batch_size)
    except CannotList:
        return 0
    ended = 0
    for batch in old.batches:
        keys = [key for key, session in batch if session is not None and owner.owns(session.data)]
        if keys:
            old.delete(keys)
            ended += len(keys)
    return ended


def convert(
    migrate: MigrateFrom,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[Summary, int | None], None] | None = None,
) -> Summary:
    """Convert every stored session of the old engine; see the module docstring."""
    options, store = conf.get_options(), conf.get_store()
    found = source(migrate, batch_size)
    summary = Summary()
    started = datetime.now()
    for batch in found.batches:
        transactional = _one_transaction(store)
        try:
            with transactional or nullcontext():
                part, done = _convert_batch(
                    batch, store, options, dry_run, strict=bool(transactional)
                )
        except _BatchFailed:
            # One session the store refused aborted the batch's transaction: redo the batch
            # a session at a time, so only that one fails (and says why).
            part, done = _convert_batch(batch, store, options, dry_run, strict=False)
        summary.add(part)
        if done and not dry_run:
            found.delete(done)  # only once their express records are stored
        if progress is not None:
            progress(summary, found.total)
    summary.seconds = (datetime.now() - started).total_seconds()
    return summary


class _BatchFailed(Exception):
    pass


def _one_transaction(store: Any) -> Any:
    """A batch's creates in one transaction on the database store (one commit, not one
    per session; a request creating one of these ids meanwhile waits for that commit
    and then finds the record); None for other stores."""
    from .stores.database import DatabaseStore

    inner = getattr(store, "store", store)  # under the MigratingStore
    if isinstance(inner, DatabaseStore):
        return transaction.atomic(using=inner.alias)
    return None


def _convert_batch(
    batch: Batch, store: Any, options: Any, dry_run: bool, *, strict: bool
) -> tuple[Summary, list[str]]:
    """Create the express records of a batch: its counts, and the old keys now stored.
    ``strict``: an unexpected error raises ``_BatchFailed`` instead of being counted."""
    from .session import new_cookie

    part, done = Summary(), []
    secret = options.secrets[0]
    for key, old in batch:
        if old is None:
            part.expired += 1
            continue
        sid = derive_sid(key, secret)
        try:
            converted = build_record(old, new_cookie(None, options))
            if not dry_run:
                store.create(sid, converted)
            part.converted += 1
            done.append(key)
        except CreateError:
            part.already += 1
            done.append(key)
        except Exception as error:
            if strict:
                raise _BatchFailed from error
            part.failed[f"{type(error).__name__}: {error}"] += 1
        else:
            part.stored_until(old.expires)
    return part, done
