"""The MongoDB store, in connect-mongo's layout (pymongo 4).

One document per session in ``<dbName>.<collectionName>`` (``sessions``)::

    {_id: <sid>, session: <JSON string | sub-document>, expires: <Date>[, lastModified: <Date>]}

``session`` is ``JSON.stringify(session)`` (``stringify: True``, the default) or a
sub-document (``stringify: False``), see ``_bson_codec``. ``expires`` is the
authoritative expiry: ``cookie.expires``, or now plus ``ttl`` seconds for a
browser-session cookie. A touch moves only ``expires`` (and ``lastModified`` under
``touchAfter``), never the ``session`` value, as in Node.

With ``autoRemove: "native"`` a TTL index (``{expires: 1}``, ``expireAfterSeconds: 0``)
lets MongoDB delete expired documents; its monitor lags by up to a minute, so every read
also filters on ``expires``. Safe writes: ``create`` is an upsert that may only replace an
expired document (a live one makes it a duplicate key), ``replace`` is ``update_one``
filtered on the ``session`` value read (a compare-and-set; no upsert, so a destroyed
session stays destroyed).

A user's sessions: with ``stringify: False`` the store creates (once, on the first
``sessions_of``) an index on ``session._auth_user_id`` and one on
``session.passport.user`` and queries them; with ``stringify: True`` there is no field
to index, so it scans the live documents with a substring of the user's key as a
prefilter. Either way every match is decoded and confirmed, and documents Node wrote are
found like any other: there is no index to repair.

Each primitive builds its filter, update or document with a plain method shared by the
sync half (``MongoClient``) and the native async half (``AsyncMongoClient``, one per
event loop), so each half is only the client call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..exceptions import CreateError
from ..owner import PASSPORT_KEY, PASSPORT_USER_KEY, Owner, passport_forms
from ..record import Record, format_js_date, to_epoch_ms
from .base import (
    Lazy,
    PeriodicPrune,
    Store,
    Versioned,
    check_bool,
    check_choice,
    check_number,
    check_str,
    option_error,
)

try:
    from bson.codec_options import CodecOptions
    from pymongo import MongoClient
    from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
    from pymongo.write_concern import WriteConcern
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImproperlyConfigured(
        "the mongodb session store needs pymongo: pip install 'django-express-session[mongodb]'"
    ) from error

try:
    from pymongo import AsyncMongoClient
except ImportError:  # pymongo < 4.9: async requests run the sync client in a thread
    AsyncMongoClient = None  # type: ignore[assignment,misc]

from ._bson_codec import as_date, decode, encode, epoch_ms, utcnow

# pymongo waits 30 s for a server and has no limit on a reply: when MongoDB is down, a
# request should get its 503 within about a second instead. The URI or mongoOptions
# override each of them.
FAIL_FAST = {"serverSelectionTimeoutMS": 800, "connectTimeoutMS": 800, "socketTimeoutMS": 800}
PRUNE_BATCH = 1000
# connect-mongo refuses longer intervals (setInterval's 32-bit limit, in minutes).
MAX_AUTO_REMOVE_INTERVAL = 71582
# Write concern keys as a Node config spells them.
WRITE_CONCERN_KEYS = {
    "w": "w", "j": "j", "journal": "j", "wtimeout": "wtimeout", "wtimeoutMS": "wtimeout",
    "fsync": "fsync",
}  # fmt: skip
CODEC = CodecOptions(tz_aware=True, tzinfo=timezone.utc)
# connect-mongo's index (createIndex is a no-op when the same one exists).
TTL_KEYS = [("expires", 1)]
TTL_OPTIONS = {"expireAfterSeconds": 0, "background": True}
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict
# The user keys inside a stored-as-object session (``stringify: False``). Sparse: an
# anonymous session has neither and costs the index nothing.
USER_FIELDS = (f"session.{SESSION_KEY}", f"session.{PASSPORT_KEY}.{PASSPORT_USER_KEY}")


def unexpired(now: datetime) -> dict[str, Any]:
    """connect-mongo's filter of live documents (the TTL monitor lags behind)."""
    return {"$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": now}}]}


def expired(now: datetime) -> dict[str, Any]:
    return {"expires": {"$lte": now}}


def live(sid: str, now: datetime) -> dict[str, Any]:
    return {"_id": sid, **unexpired(now)}


def _user_keys(owner: Owner) -> list[tuple[str, tuple[Any, ...]]]:
    """(field, values) of each key the owner's records carry, the field's in USER_FIELDS
    (a passport id in each of its forms, ``owner.passport_forms``)."""
    keys = []
    if owner.django_id is not None:
        keys.append((USER_FIELDS[0], (owner.django_id,)))
    if owner.passport is not None and not isinstance(owner.passport, bool):
        keys.append((USER_FIELDS[1], passport_forms(owner.passport)))
    return keys


def owner_filter(owner: Owner, now: datetime, *, indexed: bool, scanned: bool) -> dict | None:
    """The live documents that may be ``owner``'s: by the indexed fields of a stored
    object, and/or by a substring of a stored JSON string (a ``$regex`` never matches a
    sub-document). None when the owner has no key to look for."""
    keys = _user_keys(owner)
    clauses: list[dict[str, Any]] = []
    if indexed:
        # $in: each value is matched as it is, never read as a query operator.
        clauses += [{field: {"$in": list(values)}} for field, values in keys]
    if scanned:
        clauses += [{"session": {"$regex": pattern}} for pattern in owner.json_patterns()]
    if not clauses:
        return None
    return {"$and": [{"$or": clauses}, unexpired(now)]}


@contextlib.contextmanager
def creating(sid: str) -> Iterator[None]:
    """A duplicate ``_id`` (a live session holds it) is a ``CreateError``."""
    try:
        yield
    except DuplicateKeyError:
        raise CreateError(sid) from None


class MongoStore(Store):
    name = "mongodb"
    metadata_keys = frozenset({"lastModified"})
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionFailure,)
    native_async = True

    def __new__(cls, **options: Any) -> MongoStore:
        # Without an AsyncMongoClient (a client the project gave is a sync one), async
        # requests run the sync calls in a worker thread, as for every blocking store.
        if cls is MongoStore and (options.get("client") is not None or AsyncMongoClient is None):
            cls = SyncClientMongoStore
        return super().__new__(cls)

    def __init__(
        self,
        *,
        mongoUrl: str | None = None,
        client: Any = None,
        mongoOptions: Mapping[str, Any] | None = None,
        dbName: str | None = None,
        collectionName: str = "sessions",
        ttl: float = 1209600,
        autoRemove: str = "native",
        autoRemoveInterval: float = 10,
        touchAfter: float = 0,
        stringify: bool = True,
        timestamps: bool = False,
        writeOperationOptions: Mapping[str, Any] | None = None,
        crypto: Mapping[str, Any] | None = None,
        cryptoAdapter: Any = None,
    ) -> None:
        if (mongoUrl is None) == (client is None):
            raise option_error(self.name, "mongoUrl", "or 'client' must be given (exactly one)")
        if mongoUrl is not None:
            check_str(self.name, "mongoUrl", mongoUrl)
            if not mongoUrl.startswith(("mongodb://", "mongodb+srv://")):
                raise option_error(
                    self.name,
                    "mongoUrl",
                    f"must be a mongodb:// or mongodb+srv:// URI, not {mongoUrl!r}",
                )
        if client is not None and not (isinstance(client, (str, MongoClient)) or callable(client)):
            raise option_error(
                self.name,
                "client",
                f"must be a pymongo MongoClient or a dotted path to one, not {client!r}",
            )
        if mongoOptions is not None and not isinstance(mongoOptions, Mapping):
            raise option_error(self.name, "mongoOptions", f"must be a dict, not {mongoOptions!r}")
        if client is not None and mongoOptions:
            raise option_error(self.name, "mongoOptions", "applies to 'mongoUrl' only")
        # connect-mongo's crypto is off only with {secret: false}.
        crypto_off = crypto is None or (
            isinstance(crypto, Mapping) and crypto.get("secret") is False
        )
        if not crypto_off or cryptoAdapter is not None:
            raise option_error(
                self.name,
                "crypto" if cryptoAdapter is None else "cryptoAdapter",
                "is not supported: encrypted sessions cannot be shared with Django",
            )
        self.url = mongoUrl
        self.client_option = client
        self.mongo_options = dict(mongoOptions or {})
        self.db_name = None if dbName is None else check_str(self.name, "dbName", dbName)
        self.collection_name = check_str(self.name, "collectionName", collectionName)
        self.ttl = check_number(self.name, "ttl", ttl, minimum=1)
        self.auto_remove = check_choice(
            self.name, "autoRemove", autoRemove, ("native", "interval", "disabled")
        )
        self.auto_remove_interval = check_number(
            self.name, "autoRemoveInterval", autoRemoveInterval, minimum=1
        )
        if self.auto_remove_interval > MAX_AUTO_REMOVE_INTERVAL:
            raise option_error(
                self.name,
                "autoRemoveInterval",
                f"is in minutes and must be at most {MAX_AUTO_REMOVE_INTERVAL}",
            )
        self.touch_after = check_number(self.name, "touchAfter", touchAfter, minimum=0)
        self.stringify = check_bool(self.name, "stringify", stringify)
        self.timestamps = check_bool(self.name, "timestamps", timestamps)
        self.write_concern = _write_concern(writeOperationOptions)

        # connect-mongo's autoRemove "interval": every process deletes expired documents.
        self._pruner = (
            PeriodicPrune(self, self.auto_remove_interval * 60)
            if self.auto_remove == "interval"
            else None
        )
        self._indexed = False
        self._users_indexed = False
        self._sync: Lazy[Any] = Lazy(self._connect, self._disconnect)
        # An AsyncMongoClient is bound to the event loop it first runs on: one per loop.
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._keepers: set[asyncio.Task[None]] = set()

    # -- connection -----------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        """``mongoOptions``, with the fail-fast timeouts the URI and they do not set."""
        given = {key.lower() for key, _ in parse_qsl(urlsplit(self.url or "").query)}
        given |= {key.lower() for key in self.mongo_options}
        defaults = {key: value for key, value in FAIL_FAST.items() if key.lower() not in given}
        return {**defaults, **self.mongo_options}

    def _given_client(self) -> Any:
        value = self.client_option
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as error:
                raise option_error(self.name, "client", f"cannot be imported: {error}") from None
        if callable(value) and not isinstance(value, MongoClient):
            value = value()
        if not isinstance(value, MongoClient):
            raise option_error(
                self.name,
                "client",
                f"must be a pymongo MongoClient, or a dotted path to one or to a function "
                f"returning one, not {value!r}",
            )
        return value

    def _open(self, client: Any) -> Any:
        """The collection on ``client`` (sync or async); starts the pruner if any."""
        if self._pruner is not None:
            self._pruner.start()
        database = (
            client[self.db_name]
            if self.db_name
            else client.get_default_database(default="test")  # connect-mongo's default
        )
        return database.get_collection(
            self.collection_name, codec_options=CODEC, write_concern=self.write_concern
        )

    def _connect(self) -> Any:
        if self.url is None:
            return self._open(self._given_client())
        return self._open(MongoClient(self.url, **self._client_options()))

    def _disconnect(self, collection: Any) -> None:
        if self.url is not None:  # a client the project gave stays open
            collection.database.client.close()

    def _loop_collection(self, loop: asyncio.AbstractEventLoop) -> Any:
        """This event loop's async collection, on a client of its own that a keeper task
        closes when the loop shuts down (``asyncio.run``, asgiref's ``async_to_sync`` and
        ASGI servers cancel the tasks left) or the store closes."""
        collection = self._loops.get(loop)
        if collection is None:
            with self._lock:
                # A loop closed without cancelling its keeper: its client cannot be
                # closed any more, only forgotten.
                for keeper in [task for task in self._keepers if task.get_loop().is_closed()]:
                    self._keepers.discard(keeper)
                    self._loops.pop(keeper.get_loop(), None)
                client = AsyncMongoClient(self.url, **self._client_options())
                collection = self._loops[loop] = self._open(client)
                self._keepers.add(loop.create_task(self._close_with_loop(collection)))
        return collection

    async def _close_with_loop(self, collection: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_future()  # never set: cancelled at shutdown or by close()
        finally:
            with self._lock:
                if self._loops.get(loop) is collection:
                    del self._loops[loop]
                self._keepers.discard(asyncio.current_task())  # type: ignore[arg-type]
            await collection.database.client.close()

    def _index_pending(self) -> bool:
        return self.auto_remove == "native" and not self._indexed

    @contextlib.contextmanager
    def _creating_index(self) -> Iterator[None]:
        """Around connect-mongo's ``createIndex``: once per store, sync or async."""
        try:
            yield
        except OperationFailure as error:
            if error.code in INDEX_CONFLICTS:
                raise ImproperlyConfigured(
                    f"the mongodb session store needs a TTL index {{expires: 1}} with "
                    f"expireAfterSeconds 0 on {self.collection_name!r} (connect-mongo's), "
                    f"but the collection has a different one ({error.details}). Drop that "
                    f"index, or set 'autoRemove' to 'interval' or 'disabled'."
                ) from error
            raise
        self._indexed = True

    def _collection(self) -> Any:
        """The sync collection, connected and indexed on first use."""
        collection = self._sync.get()
        if self._index_pending():
            with self._creating_index():
                collection.create_index(TTL_KEYS, **TTL_OPTIONS)
        return collection

    async def _acollection(self) -> Any:
        """This event loop's async collection, indexed on first use."""
        collection = self._loop_collection(asyncio.get_running_loop())
        if self._index_pending():
            with self._creating_index():
                await collection.create_index(TTL_KEYS, **TTL_OPTIONS)
        return collection

    def _user_indexes_pending(self) -> bool:
        return not self.stringify and not self._users_indexed

    @staticmethod
    def _unindexed_fields(indexes: Iterable[Mapping[str, Any]]) -> list[str]:
        """The user fields no index starts with: an index the project made on one, with
        whatever options, serves as well (and creating ours beside it would conflict)."""
        first_keys = {next(iter(index["key"])) for index in indexes}
        return [field for field in USER_FIELDS if field not in first_keys]

    def close(self) -> None:
        if self._pruner is not None:
            self._pruner.stop()
        self._sync.reset()
        with self._lock:
            keepers, self._keepers = self._keepers, set()
            self._loops.clear()
            self._indexed = False
            self._users_indexed = False
        for keeper in keepers:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                keeper.get_loop().call_soon_threadsafe(keeper.cancel)

    # -- documents, filters and updates (shared by both halves) ---------------------------

    def _fields(self, session: Record, now: datetime) -> dict[str, Any]:
        """The ``session``, ``expires`` (and ``lastModified``) of a written document."""
        if self.touch_after:
            # connect-mongo's get() lends lastModified to the session; set() takes it back.
            session = {key: value for key, value in session.items() if key != "lastModified"}
        fields = {
            "session": encode(session, stringify=self.stringify),
            "expires": as_date(self.expires_at_ms(session, self.ttl)),
        }
        if self.touch_after:
            fields["lastModified"] = now
        return fields

    def _update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"$set": fields}
        if self.timestamps:
            update["$currentDate"] = {"updatedAt": True}
        return update

    def _creation(self, sid: str, session: Record) -> tuple[dict[str, Any], dict[str, Any]]:
        """The filter and document of a ``replace_one`` upsert that creates ``sid``: it
        may replace an expired document the TTL monitor has not reached yet, and a live
        one makes it a duplicate key."""
        now = utcnow()
        fields = self._fields(session, now)
        if self.timestamps:
            fields["createdAt"] = fields["updatedAt"] = now
        # connect-mongo creates by upsert, and MongoDB (5.0+) applies update fields in
        # name order: the same order gives the same bytes.
        return {"_id": sid, **expired(now)}, {"_id": sid, **dict(sorted(fields.items()))}

    def _replacement(
        self, sid: str, session: Record, version: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The filter and update of the compare-and-set on the ``session`` value read."""
        now = utcnow()
        return {**live(sid, now), "session": version}, self._update(self._fields(session, now))

    def _touching(self, sid: str, session: Record) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The filter and update of a touch, or None inside ``touchAfter`` (connect-mongo's
        lazy touch). A session deleted meanwhile is not an error: connect-mongo's "Unable
        to find the session to touch" only breaks responses."""
        now = utcnow()
        fields: dict[str, Any] = {}
        last_modified = epoch_ms(session.get("lastModified")) if self.touch_after else None
        if last_modified:
            if to_epoch_ms(now) - last_modified < self.touch_after * 1000:
                return None
            fields["lastModified"] = now
        fields["expires"] = as_date(self.expires_at_ms(session, self.ttl))
        return live(sid, now), self._update(fields)

    def _versioned(self, document: Mapping[str, Any] | None) -> Versioned | None:
        return None if document is None else self._decoded(document)

    def _decoded(self, document: Mapping[str, Any]) -> Versioned:
        stored = document.get("session")
        session = decode(stored)
        last_modified = document.get("lastModified")
        touched_at = None
        if self.touch_after and isinstance(last_modified, datetime):
            session["lastModified"] = format_js_date(last_modified)
            touched_at = epoch_ms(last_modified)  # connect-mongo's touchAfter clock
        return Versioned(
            session, stored, expires_at=epoch_ms(document.get("expires")), touched_at=touched_at
        )

    def fresh_expiry(self, session: Record) -> int:
        return self.expires_at_ms(session, self.ttl)

    def _records(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, Record]:
        return {document["_id"]: self._decoded(document).record for document in documents}

    def _owner_filter(self, owner: Owner, thorough: bool) -> dict[str, Any] | None:
        # A thorough search also scans documents a Node app with the other stringify
        # setting wrote as strings, which the field indexes cannot see.
        return owner_filter(
            owner, utcnow(), indexed=not self.stringify, scanned=self.stringify or thorough
        )

    def _owned(self, documents: Iterable[Mapping[str, Any]], owner: Owner) -> dict[str, Record]:
        found = self._records(documents)
        return self.owned_live(owner, found.items())

    # -- the five primitives and the bulk methods -----------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return self._versioned(self._collection().find_one(live(sid, utcnow())))

    def create(self, sid: str, session: Record) -> None:
        with creating(sid):
            self._collection().replace_one(*self._creation(sid, session), upsert=True)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        result = self._collection().update_one(*self._replacement(sid, session, version))
        return result.matched_count == 1

    def destroy(self, sid: str) -> None:
        self._collection().delete_one({"_id": sid})

    def touch(self, sid: str, session: Record) -> None:
        if (change := self._touching(sid, session)) is not None:
            self._collection().update_one(*change)

    def all(self) -> dict[str, Record]:
        return self._records(self._collection().find(unexpired(utcnow())))

    def sessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        if (query := self._owner_filter(owner, thorough)) is None:
            return {}
        collection = self._collection()
        if self._user_indexes_pending():
            for field in self._unindexed_fields(collection.list_indexes()):
                collection.create_index([(field, 1)], sparse=True)
            self._users_indexed = True
        return self._owned(collection.find(query), owner)

    def clear(self) -> None:
        self._collection().delete_many({})

    def length(self) -> int:
        return self._collection().count_documents(unexpired(utcnow()))

    def prune(
        self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> int | None:
        if self.auto_remove == "native":
            return None  # MongoDB's TTL monitor deletes them
        collection = self._collection()
        old = expired(utcnow())
        if dry_run:
            return collection.count_documents(old)
        deleted = 0
        while True:
            ids = [doc["_id"] for doc in collection.find(old, {"_id": 1}, limit=PRUNE_BATCH)]
            if ids:
                deleted += collection.delete_many({"_id": {"$in": ids}, **old}).deleted_count
                if progress is not None:
                    progress(deleted)
            if len(ids) < PRUNE_BATCH:
                return deleted

    # -- native async twins (AsyncMongoClient, the same filters and documents) ------------

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        collection = await self._acollection()
        return self._versioned(await collection.find_one(live(sid, utcnow())))

    async def acreate(self, sid: str, session: Record) -> None:
        collection = await self._acollection()
        with creating(sid):
            await collection.replace_one(*self._creation(sid, session), upsert=True)

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        collection = await self._acollection()
        result = await collection.update_one(*self._replacement(sid, session, version))
        return result.matched_count == 1

    async def adestroy(self, sid: str) -> None:
        await (await self._acollection()).delete_one({"_id": sid})

    async def atouch(self, sid: str, session: Record) -> None:
        if (change := self._touching(sid, session)) is not None:
            await (await self._acollection()).update_one(*change)

    async def aall(self) -> dict[str, Record]:
        collection = await self._acollection()
        return self._records(await collection.find(unexpired(utcnow())).to_list())

    async def asessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        if (query := self._owner_filter(owner, thorough)) is None:
            return {}
        collection = await self._acollection()
        if self._user_indexes_pending():
            indexes = await (await collection.list_indexes()).to_list()
            for field in self._unindexed_fields(indexes):
                await collection.create_index([(field, 1)], sparse=True)
            self._users_indexed = True
        return self._owned(await collection.find(query).to_list(), owner)

    async def aclear(self) -> None:
        await (await self._acollection()).delete_many({})

    async def alength(self) -> int:
        return await (await self._acollection()).count_documents(unexpired(utcnow()))


class SyncClientMongoStore(MongoStore):
    """The MongoDB store on a sync ``MongoClient`` only: one the project gave as
    ``client``, or a pymongo without ``AsyncMongoClient``. Its async twins are the base
    ones (the sync calls in a worker thread)."""

    native_async = False
    aread = Store.aread
    acreate = Store.acreate
    areplace = Store.areplace
    adestroy = Store.adestroy
    atouch = Store.atouch
    aall = Store.aall
    asessions_of = Store.asessions_of
    aclear = Store.aclear
    alength = Store.alength


# -- options ------------------------------------------------------------------------------


def _write_concern(options: Mapping[str, Any] | None) -> WriteConcern | None:
    """connect-mongo's ``writeOperationOptions`` (a write concern, Node spelling)."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise option_error(
            "mongodb", "writeOperationOptions", f"must be a dict like {{'w': 1}}, not {options!r}"
        )
    if set(options) == {"writeConcern"} and isinstance(options["writeConcern"], Mapping):
        options = options["writeConcern"]
    arguments = {}
    for key, value in options.items():
        if key not in WRITE_CONCERN_KEYS:
            raise option_error(
                "mongodb",
                "writeOperationOptions",
                f"has {key!r}; a write concern takes {sorted(WRITE_CONCERN_KEYS)}",
            )
        arguments[WRITE_CONCERN_KEYS[key]] = value
    try:
        return WriteConcern(**arguments)
    except (TypeError, ValueError) as error:
        raise option_error("mongodb", "writeOperationOptions", f"is not valid: {error}") from None
