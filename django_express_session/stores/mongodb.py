"""The MongoDB store, in connect-mongo's layout (pymongo 4).

One document per session in ``<dbName>.<collectionName>`` (``sessions``)::

    {_id: <sid>, session: <JSON string | sub-document>, expires: <Date>[, lastModified: <Date>]}

``session`` is ``JSON.stringify(session)`` (``stringify: True``, the default) or, with
``stringify: False``, a sub-document in which ``cookie`` has the nine keys of express's
``Cookie#toJSON`` (null where unset) and ``cookie.expires`` is a BSON date, as
connect-mongo 6 writes it. ``expires`` is the authoritative expiry: ``cookie.expires``, or
now plus ``ttl`` seconds for a browser-session cookie. A touch moves only ``expires``
(and ``lastModified`` under ``touchAfter``), never the ``session`` value, as in Node.

With ``autoRemove: "native"`` a TTL index (``{expires: 1}``, ``expireAfterSeconds: 0``)
lets MongoDB delete expired documents; its monitor lags by up to a minute, so every read
also filters on ``expires``. Safe writes: ``create`` is ``insert_one`` (never overwrites a
live session), ``replace`` is ``update_one`` filtered on the ``session`` value read (a
compare-and-set; no upsert, so a destroyed session stays destroyed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import record
from ..exceptions import CorruptRecord, CreateError
from ..record import Record, format_js_date, parse_js_date, to_epoch_ms
from .base import (
    Store,
    Versioned,
    check_bool,
    check_choice,
    check_number,
    check_str,
    option_error,
)

try:
    from bson import Int64, ObjectId
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
except ImportError:  # pymongo < 4.9: the async twins run the sync calls in a thread
    AsyncMongoClient = None  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Fail fast enough for a 503 when MongoDB is down (pymongo waits 30 s by default).
SERVER_SELECTION_TIMEOUT_MS = 5000
PRUNE_BATCH = 1000
# connect-mongo refuses longer intervals (setInterval's 32-bit limit, in minutes).
MAX_AUTO_REMOVE_INTERVAL = 71582
# What express's Cookie#toJSON returns, in order; connect-mongo stores it as is with
# stringify: false, so unset keys (undefined in Node) become null.
COOKIE_KEYS = (
    "originalMaxAge", "partitioned", "priority", "expires", "secure", "httpOnly", "domain",
    "path", "sameSite",
)  # fmt: skip
UNDEFINED_WHEN_NULL = ("partitioned", "priority", "secure", "domain", "sameSite")
# Write concern keys as a Node config spells them.
WRITE_CONCERN_KEYS = {
    "w": "w", "j": "j", "journal": "j", "wtimeout": "wtimeout", "wtimeoutMS": "wtimeout",
    "fsync": "fsync",
}  # fmt: skip
INT32 = 2**31
JS_SAFE_INTEGER = 2**53
CODEC = CodecOptions(tz_aware=True, tzinfo=timezone.utc)


def as_date(epoch_ms: int) -> datetime:
    # Exact to the millisecond (a float division could lose one).
    return EPOCH + timedelta(milliseconds=epoch_ms)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def unexpired(now: datetime) -> dict[str, Any]:
    """connect-mongo's filter of live documents (the TTL monitor lags behind)."""
    return {"$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": now}}]}


def live(sid: str, now: datetime) -> dict[str, Any]:
    return {"_id": sid, **unexpired(now)}


class MongoStore(Store):
    name = "mongodb"
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionFailure,)

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

        self._lock = threading.Lock()
        self._client: Any = None
        self._collection_handle: Any = None
        self._reaper: _Reaper | None = None
        self._async_keeper: asyncio.Task[None] | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_collection_handle: Any = None

    # -- connection -----------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        options = dict(self.mongo_options)
        given = {key.lower() for key, _ in parse_qsl(urlsplit(self.url or "").query)}
        given |= {key.lower() for key in options}
        if "serverselectiontimeoutms" not in given:
            options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        return options

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
        database = (
            client[self.db_name]
            if self.db_name
            else client.get_default_database(default="test")  # connect-mongo's default
        )
        return database.get_collection(
            self.collection_name, codec_options=CODEC, write_concern=self.write_concern
        )

    def _collection(self) -> Any:
        """The collection, connected and indexed on first use (once per store)."""
        handle = self._collection_handle
        if handle is not None:
            return handle
        with self._lock:
            if self._collection_handle is None:
                if self._client is None:
                    self._client = (
                        MongoClient(self.url, **self._client_options())
                        if self.url
                        else self._given_client()
                    )
                collection = self._open(self._client)
                if self.auto_remove == "native":
                    indexes = list(collection.list_indexes())
                    if not self._has_ttl_index(indexes):
                        self._create_ttl_index(collection.create_index)
                elif self.auto_remove == "interval":
                    self._reaper = _Reaper(self, self.auto_remove_interval * 60)
                    self._reaper.start()
                self._collection_handle = collection
            return self._collection_handle

    async def _async_collection(self) -> Any:
        """A native async collection on this event loop, or None to use threads.

        An ``AsyncMongoClient`` is bound to one event loop. A loop on the main thread (an
        ASGI server's) gets one; another loop while it lives, and the loops
        ``async_to_sync`` makes per call in worker threads, use the sync client in a
        thread instead of opening a pool per call.
        """
        if AsyncMongoClient is None or self.url is None:
            return None
        loop = asyncio.get_running_loop()
        if self._async_loop is loop:
            return self._async_collection_handle
        if threading.current_thread() is not threading.main_thread() or (
            self._async_loop is not None and not self._async_loop.is_closed()
        ):
            return None
        # Connect, index and start the reaper once, through the sync path.
        await self._async(self._collection)
        if self._async_loop is not loop:
            client = AsyncMongoClient(self.url, **self._client_options())
            self._async_keeper = loop.create_task(_close_with_loop(client))
            self._async_collection_handle = self._open(client)
            self._async_loop = loop
        return self._async_collection_handle

    def _has_ttl_index(self, indexes: list[Mapping[str, Any]]) -> bool:
        for index in indexes:
            if list(index["key"].items()) == [("expires", 1)]:
                if index.get("expireAfterSeconds") == 0:
                    return True
                raise self._index_conflict(index)
        return False

    def _create_ttl_index(self, create_index: Callable[..., Any]) -> None:
        try:
            create_index([("expires", 1)], expireAfterSeconds=0, background=True)
        except OperationFailure as error:
            if error.code in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
                raise self._index_conflict(error.details or {}) from error
            raise

    def _index_conflict(self, index: Mapping[str, Any]) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"the mongodb session store needs a TTL index {{expires: 1}} with "
            f"expireAfterSeconds 0 on {self.collection_name!r} (connect-mongo's), but the "
            f"collection has a different one ({dict(index)}). Drop that index, or set "
            f"'autoRemove' to 'interval' or 'disabled'."
        )

    def close(self) -> None:
        with self._lock:
            if self._reaper is not None:
                self._reaper.stop()
                self._reaper = None
            if self._client is not None and self.url is not None:
                self._client.close()
            self._client = self._collection_handle = None
            loop, keeper = self._async_loop, self._async_keeper
            self._async_loop = self._async_keeper = self._async_collection_handle = None
        if keeper is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(keeper.cancel)

    # -- documents ------------------------------------------------------------------------

    def _fields(self, session: Record, now: datetime) -> dict[str, Any]:
        """The ``session``, ``expires`` (and ``lastModified``) of a written document."""
        if self.touch_after:
            # connect-mongo's get() lends lastModified to the session; set() takes it back.
            session = {key: value for key, value in session.items() if key != "lastModified"}
        fields = {
            "session": record.dumps(session) if self.stringify else _to_bson(session),
            "expires": as_date(self.expires_at_ms(session, self.ttl)),
        }
        if self.touch_after:
            fields["lastModified"] = now
        return fields

    def _touch_fields(self, session: Record, now: datetime) -> dict[str, Any] | None:
        """What a touch sets, or None inside ``touchAfter`` (connect-mongo's lazy touch)."""
        fields: dict[str, Any] = {}
        last_modified = _epoch_ms(session.get("lastModified")) if self.touch_after else None
        if last_modified:
            if to_epoch_ms(now) - last_modified < self.touch_after * 1000:
                return None
            fields["lastModified"] = now
        fields["expires"] = as_date(self.expires_at_ms(session, self.ttl))
        return fields

    def _update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"$set": fields}
        if self.timestamps:
            update["$currentDate"] = {"updatedAt": True}
        return update

    def _new_document(self, sid: str, session: Record, now: datetime) -> dict[str, Any]:
        fields = self._fields(session, now)
        if self.timestamps:
            fields["createdAt"] = fields["updatedAt"] = now
        # connect-mongo creates by upsert, and MongoDB (5.0+) applies update fields in
        # name order: the same order gives the same bytes.
        return {"_id": sid, **dict(sorted(fields.items()))}

    def _versioned(self, document: Mapping[str, Any]) -> Versioned:
        stored = document.get("session")
        session = _from_stored(stored)
        last_modified = document.get("lastModified")
        if self.touch_after and isinstance(last_modified, datetime):
            session["lastModified"] = format_js_date(last_modified)
        return Versioned(session, stored)

    # -- express's store methods ----------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        found = self.read(sid)
        return None if found is None else found.record

    def set(self, sid: str, session: Record) -> None:
        update = self._update(self._fields(session, utcnow()))
        if self.timestamps:
            update["$setOnInsert"] = {"createdAt": utcnow()}
        self._collection().update_one({"_id": sid}, update, upsert=True)

    def destroy(self, sid: str) -> None:
        self._collection().delete_one({"_id": sid})

    def touch(self, sid: str, session: Record) -> None:
        # A session deleted meanwhile (logout elsewhere, TTL monitor) is not an error:
        # connect-mongo's "Unable to find the session to touch" only breaks responses.
        now = utcnow()
        fields = self._touch_fields(session, now)
        if fields is not None:
            self._collection().update_one(live(sid, now), self._update(fields))

    def all(self) -> dict[str, Record]:
        return {
            document["_id"]: self._versioned(document).record
            for document in self._collection().find(unexpired(utcnow()))
        }

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
        expired = {"expires": {"$lt": utcnow()}}
        if dry_run:
            return collection.count_documents(expired)
        deleted = 0
        while True:
            ids = [doc["_id"] for doc in collection.find(expired, {"_id": 1}, limit=PRUNE_BATCH)]
            if ids:
                result = collection.delete_many({"_id": {"$in": ids}, **expired})
                deleted += result.deleted_count
                if progress is not None:
                    progress(deleted)
            if len(ids) < PRUNE_BATCH:
                return deleted

    # -- safe writes ----------------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        document = self._collection().find_one(live(sid, utcnow()))
        return None if document is None else self._versioned(document)

    def create(self, sid: str, session: Record) -> None:
        now = utcnow()
        document = self._new_document(sid, session, now)
        collection = self._collection()
        try:
            collection.insert_one(document)
        except DuplicateKeyError:
            # An expired document the TTL monitor has not reached yet is no session.
            expired = {"_id": sid, "expires": {"$lte": now}}
            if collection.replace_one(expired, document).matched_count != 1:
                raise CreateError(sid) from None

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        now = utcnow()
        result = self._collection().update_one(
            {**live(sid, now), "session": version}, self._update(self._fields(session, now))
        )
        return result.matched_count == 1

    # -- native async twins (same documents, AsyncMongoClient) ----------------------------

    async def aget(self, sid: str) -> Record | None:
        found = await self.aread(sid)
        return None if found is None else found.record

    async def aset(self, sid: str, session: Record) -> None:
        collection = await self._async_collection()
        if collection is None:
            return await super().aset(sid, session)
        update = self._update(self._fields(session, utcnow()))
        if self.timestamps:
            update["$setOnInsert"] = {"createdAt": utcnow()}
        await collection.update_one({"_id": sid}, update, upsert=True)

    async def adestroy(self, sid: str) -> None:
        collection = await self._async_collection()
        if collection is None:
            return await super().adestroy(sid)
        await collection.delete_one({"_id": sid})

    async def atouch(self, sid: str, session: Record) -> None:
        collection = await self._async_collection()
        if collection is None:
            return await super().atouch(sid, session)
        now = utcnow()
        fields = self._touch_fields(session, now)
        if fields is not None:
            await collection.update_one(live(sid, now), self._update(fields))

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        collection = await self._async_collection()
        if collection is None:
            return await super().aread(sid, touch=touch)
        document = await collection.find_one(live(sid, utcnow()))
        return None if document is None else self._versioned(document)

    async def acreate(self, sid: str, session: Record) -> None:
        collection = await self._async_collection()
        if collection is None:
            return await super().acreate(sid, session)
        now = utcnow()
        document = self._new_document(sid, session, now)
        try:
            await collection.insert_one(document)
        except DuplicateKeyError:
            expired = {"_id": sid, "expires": {"$lte": now}}
            if (await collection.replace_one(expired, document)).matched_count != 1:
                raise CreateError(sid) from None

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        collection = await self._async_collection()
        if collection is None:
            return await super().areplace(sid, session, version)
        now = utcnow()
        result = await collection.update_one(
            {**live(sid, now), "session": version}, self._update(self._fields(session, now))
        )
        return result.matched_count == 1


async def _close_with_loop(client: Any) -> None:
    """Hold an ``AsyncMongoClient`` open until its loop shuts down (``asyncio.run`` and
    ASGI servers cancel the tasks left) or the store closes, then close it there."""
    try:
        await asyncio.Event().wait()
    finally:
        await client.close()


class _Reaper(threading.Thread):
    """``autoRemove: "interval"``: delete expired documents every interval, in the
    background of each process, as connect-mongo's timer does."""

    def __init__(self, store: MongoStore, interval: float) -> None:
        super().__init__(name=f"mongodb-session-reaper-{store.collection_name}", daemon=True)
        self.store = store
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.store.prune()
            except Exception:  # the next round retries; requests still filter on expires
                logger.warning("removing expired sessions from MongoDB failed", exc_info=True)

    def stop(self) -> None:
        self._stopped.set()


# -- the session value --------------------------------------------------------------------


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


def _to_bson(session: Record) -> dict[str, Any]:
    """The sub-document connect-mongo writes with ``stringify: false``."""
    cookie = dict(session["cookie"])
    document_cookie = {key: _number(cookie.pop(key, None)) for key in COOKIE_KEYS}
    expires = document_cookie["expires"]
    if isinstance(expires, str):
        # An unparsable date is kept as given (Node would store an Invalid Date).
        with contextlib.suppress(ValueError):
            document_cookie["expires"] = parse_js_date(expires)
    document_cookie.update(_to_bson_value(cookie))
    document: dict[str, Any] = {"cookie": document_cookie}
    for key, value in session.items():
        if key != "cookie":
            document[key] = _to_bson_value(value)
    return document


def _to_bson_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_bson_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_bson_value(item) for item in value]
    return _number(value)


def _number(value: Any) -> Any:
    # The Node driver writes a JavaScript number as int32 when it fits, else as a double.
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -INT32 <= value < INT32
        and abs(value) <= JS_SAFE_INTEGER
    ):
        return float(value)
    return value


def _from_stored(stored: Any) -> Record:
    """The record a document's ``session`` holds, whichever way it was written (a Node
    app and this one may disagree on ``stringify``)."""
    if isinstance(stored, str):
        return record.loads(stored)
    if isinstance(stored, dict):
        session = record.check(_from_bson_value(stored))
        # Keys Node left undefined come back null; drop them so the record is the one
        # written (express treats both alike, and JSON.stringify omits undefined).
        cookie = session["cookie"]
        for key in UNDEFINED_WHEN_NULL:
            if key in cookie and cookie[key] is None:
                del cookie[key]
        return session
    raise CorruptRecord(f"stored session is a BSON {type(stored).__name__}, not a string")


def _from_bson_value(value: Any) -> Any:
    """What ``JSON.stringify`` makes of a value the Node driver reads back."""
    if isinstance(value, dict):
        return {key: _from_bson_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_bson_value(item) for item in value]
    if isinstance(value, datetime):
        return format_js_date(value)
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= JS_SAFE_INTEGER:
        return int(value)  # a JavaScript number: the JSON form would read back an int
    if isinstance(value, ObjectId):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CorruptRecord(f"stored session holds a BSON {type(value).__name__}, not JSON")


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, str):
        try:
            return to_epoch_ms(parse_js_date(value))
        except ValueError:
            return None
    return None
