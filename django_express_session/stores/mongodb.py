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

A user's sessions: with ``stringify: False`` the store creates (once, at start-up, with
the TTL index) an index on ``session._auth_user_id`` and one on
``session.passport.user`` and queries them; with ``stringify: True`` there is no field
to index, so it scans the live documents with a substring of the user's key as a
prefilter. Either way every match is decoded and confirmed, and documents Node wrote are
found like any other: there is no index to repair.

Each method is written once, as a plan of collection calls (``base.PlanStore``): the
store performs a ``Command`` or a ``Find`` on the sync ``MongoClient`` or, in async
code, on the running loop's ``AsyncMongoClient`` (one per event loop, ``resources.PerLoop``).
Every read goes to the primary, whatever ``readPreference`` the URI or client gives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..core.lifetime import seconds_to_ms
from ..core.ops import Op, Plan
from ..exceptions import CreateError
from ..owner import PASSPORT_KEY, PASSPORT_USER_KEY, Owner, passport_forms
from ..record import Record, format_js_date, to_epoch_ms
from ..validation import (
    StoreOptions,
    check_bool,
    check_number,
    check_str,
    choice,
    number,
    option,
    option_error,
    string,
)
from .base import PlanStore, Progress, Versioned
from .resources import Lazy, PeriodicPrune, PerLoop

try:
    from bson.codec_options import CodecOptions
    from pymongo import MongoClient, ReadPreference
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


@dataclass(frozen=True, slots=True)
class Command(Op):
    """The store's operation of calling ``call`` with the collection: the sync one, or
    the running loop's async one (``call`` then returns an awaitable)."""

    call: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Find(Op):
    """The documents ``query`` matches, as a list (a cursor differs between clients)."""

    query: Mapping[str, Any]
    projection: Mapping[str, Any] | None = None
    limit: int = 0


def _mongo_url(store: str, key: str, url: Any) -> str | None:
    if url is not None:
        check_str(store, key, url)
        if not url.startswith(("mongodb://", "mongodb+srv://")):
            raise option_error(
                store, key, f"must be a mongodb:// or mongodb+srv:// URI, not {url!r}"
            )
    return url


def _client(store: str, key: str, client: Any) -> Any:
    if client is not None and not (isinstance(client, (str, MongoClient)) or callable(client)):
        raise option_error(
            store, key, f"must be a pymongo MongoClient or a dotted path to one, not {client!r}"
        )
    return client


def _mapping(store: str, key: str, value: Any) -> Mapping[str, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise option_error(store, key, f"must be a dict, not {value!r}")
    return value


def _minutes(store: str, key: str, value: Any) -> float:
    check_number(store, key, value, minimum=1)
    if value > MAX_AUTO_REMOVE_INTERVAL:
        raise option_error(
            store, key, f"is in minutes and must be at most {MAX_AUTO_REMOVE_INTERVAL}"
        )
    return value


def _unsupported(store: str, key: str, value: Any) -> Any:
    # connect-mongo's crypto is off only with {secret: false}.
    if key == "crypto" and (
        value is None or (isinstance(value, Mapping) and value.get("secret") is False)
    ):
        return value
    if key == "cryptoAdapter" and value is None:
        return value
    raise option_error(
        store, key, "is not supported: encrypted sessions cannot be shared with Django"
    )


@dataclass(frozen=True, slots=True)
class MongoOptions(StoreOptions):
    """connect-mongo's options (its names in settings): ``mongoUrl`` or ``client``
    (exactly one), ``ttl`` and ``touchAfter`` in seconds, ``autoRemoveInterval`` in
    minutes. ``crypto`` is accepted only switched off."""

    store: ClassVar[str] = "mongodb"

    mongo_url: str | None = option("mongoUrl", _mongo_url, default=None)
    client: Any = option("client", _client, default=None)
    mongo_options: Mapping[str, Any] | None = option("mongoOptions", _mapping, default=None)
    db_name: str | None = option("dbName", string(allow_none=True), default=None)
    collection_name: str = option("collectionName", string(), default="sessions")
    ttl: float = option("ttl", number(minimum=1), default=1209600)
    auto_remove: str = option(
        "autoRemove", choice("native", "interval", "disabled"), default="native"
    )
    auto_remove_interval: float = option("autoRemoveInterval", _minutes, default=10)
    touch_after: float = option("touchAfter", number(minimum=0), default=0)
    stringify: bool = option("stringify", check_bool, default=True)
    timestamps: bool = option("timestamps", check_bool, default=False)
    write_concern: WriteConcern | None = option(
        "writeOperationOptions", lambda store, key, value: _write_concern(value), default=None
    )
    crypto: Mapping[str, Any] | None = option("crypto", _unsupported, default=None)
    crypto_adapter: Any = option("cryptoAdapter", _unsupported, default=None)

    def check(self) -> None:
        if (self.mongo_url is None) == (self.client is None):
            raise option_error(self.store, "mongoUrl", "or 'client' must be given (exactly one)")
        if self.client is not None and self.mongo_options:
            raise option_error(self.store, "mongoOptions", "applies to 'mongoUrl' only")


class MongoStore(PlanStore):
    name = "mongodb"
    metadata_keys = frozenset({"lastModified"})
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionFailure,)

    Options = MongoOptions
    options: MongoOptions

    def _setup(self) -> None:
        options, lifetime = self.options, self.lifetime
        if options.touch_after and not lifetime.touch_after_ms:  # connect-mongo's alone
            self.lifetime = replace(lifetime, touch_after_ms=seconds_to_ms(options.touch_after))
        self.url = options.mongo_url
        self.mongo_options = dict(options.mongo_options or {})
        # connect-mongo's autoRemove "interval": every process deletes expired documents.
        interval = (
            options.auto_remove_interval * 60 if self.options.auto_remove == "interval" else 0
        )
        self._pruner = PeriodicPrune(self, interval) if interval else None
        self._indexed = False
        self._sync: Lazy[Any] = Lazy(self._connect, self._disconnect)
        # An AsyncMongoClient is bound to the event loop it first runs on: one per loop,
        # closed with its loop.
        self._loops: PerLoop[Any] = PerLoop(
            self._new_async_collection,
            lambda collection: collection.database.client.close(),
            close_with_loop=True,
        )

    @property
    def native_async(self) -> bool:
        """Async requests use an ``AsyncMongoClient`` of the store's own; with a sync
        ``MongoClient`` the project gave (or a pymongo without the async client) they
        run the sync calls in a worker thread, as for every blocking store."""
        return self.url is not None and AsyncMongoClient is not None

    # -- connection -----------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        """``mongoOptions``, with the fail-fast timeouts the URI and they do not set."""
        given = {key.lower() for key, _ in parse_qsl(urlsplit(self.url or "").query)}
        given |= {key.lower() for key in self.mongo_options}
        defaults = {key: value for key, value in FAIL_FAST.items() if key.lower() not in given}
        return {**defaults, **self.mongo_options}

    def _given_client(self) -> Any:
        value = self.options.client
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
            client[self.options.db_name]
            if self.options.db_name
            else client.get_default_database(default="test")  # connect-mongo's default
        )
        # Always the primary, whatever the URI's or client's readPreference: a lagging
        # secondary would miss a session written a moment ago (a logout) or hold an
        # older version (a compare-and-set that fails for no reason).
        return database.get_collection(
            self.options.collection_name,
            codec_options=CODEC,
            read_preference=ReadPreference.PRIMARY,
            write_concern=self.options.write_concern,
        )

    def _connect(self) -> Any:
        if self.url is None:
            return self._open(self._given_client())
        return self._open(MongoClient(self.url, **self._client_options()))

    # -- the session policy: a collection of its own beside the sessions' ------------------

    def _policies(self) -> Any:
        collection = self._sync.get()
        return collection.database.get_collection(
            f"{self.options.collection_name}_policy", read_preference=ReadPreference.PRIMARY
        )

    def read_policy(self, side: str) -> str | None:
        document = self._policies().find_one({"_id": side})
        return None if document is None else document.get("policy")

    def publish_policy(self, side: str, document: str) -> None:
        self._policies().replace_one({"_id": side}, {"_id": side, "policy": document}, upsert=True)

    def _disconnect(self, collection: Any) -> None:
        if self.url is not None:  # a client the project gave stays open
            collection.database.client.close()

    def _new_async_collection(self) -> Any:
        return self._open(AsyncMongoClient(self.url, **self._client_options()))

    @contextlib.contextmanager
    def _creating_indexes(self) -> Iterator[None]:
        """Around the indexes made at start-up, once per store, sync or async:
        connect-mongo's TTL index (``autoRemove: "native"``) and, with ``stringify:
        False``, the user fields' (never in a read)."""
        try:
            yield
        except OperationFailure as error:
            if error.code in INDEX_CONFLICTS:
                raise ImproperlyConfigured(
                    f"the mongodb session store needs a TTL index {{expires: 1}} with "
                    f"expireAfterSeconds 0 on {self.options.collection_name!r} (connect-mongo's), "
                    f"but the collection has a different one ({error.details}). Drop that "
                    f"index, or set 'autoRemove' to 'interval' or 'disabled'."
                ) from error
            raise
        self._indexed = True

    def _collection(self) -> Any:
        """The sync collection, connected and indexed on first use."""
        collection = self._sync.get()
        if not self._indexed:
            with self._creating_indexes():
                if self.options.auto_remove == "native":
                    collection.create_index(TTL_KEYS, **TTL_OPTIONS)
                if not self.options.stringify:
                    for field in self._unindexed_fields(collection.list_indexes()):
                        collection.create_index([(field, 1)], sparse=True)
        return collection

    async def _acollection(self) -> Any:
        """This event loop's async collection, indexed on first use."""
        collection = self._loops.get()
        if not self._indexed:
            with self._creating_indexes():
                if self.options.auto_remove == "native":
                    await collection.create_index(TTL_KEYS, **TTL_OPTIONS)
                if not self.options.stringify:
                    indexes = await (await collection.list_indexes()).to_list()
                    for field in self._unindexed_fields(indexes):
                        await collection.create_index([(field, 1)], sparse=True)
        return collection

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
        self._loops.close()
        self._indexed = False

    # -- documents, filters and updates (shared by both halves) ---------------------------

    def _fields(self, session: Record, now: datetime) -> dict[str, Any]:
        """The ``session``, ``expires`` (and ``lastModified``) of a written document."""
        if self.touch_after:
            # connect-mongo's get() lends lastModified to the session; set() takes it back.
            session = {key: value for key, value in session.items() if key != "lastModified"}
        fields = {
            "session": encode(session, stringify=self.options.stringify),
            "expires": as_date(self.expires_at_ms(session, self.options.ttl)),
        }
        if self.touch_after:
            fields["lastModified"] = now
        return fields

    def _update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"$set": fields}
        if self.options.timestamps:
            update["$currentDate"] = {"updatedAt": True}
        return update

    def _creation(self, sid: str, session: Record) -> tuple[dict[str, Any], dict[str, Any]]:
        """The filter and document of a ``replace_one`` upsert that creates ``sid``: it
        may replace an expired document the TTL monitor has not reached yet, and a live
        one makes it a duplicate key."""
        now = utcnow()
        fields = self._fields(session, now)
        if self.options.timestamps:
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
            if self.lifetime.touched_recently(last_modified, to_epoch_ms(now)):
                return None
            fields["lastModified"] = now
        fields["expires"] = as_date(self.expires_at_ms(session, self.options.ttl))
        return live(sid, now), self._update(fields)

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
        return self.expires_at_ms(session, self.options.ttl)

    def _records(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, Record]:
        return {document["_id"]: self._decoded(document).record for document in documents}

    def _owner_filter(self, owner: Owner, thorough: bool) -> dict[str, Any] | None:
        # A thorough search also scans documents a Node app with the other stringify
        # setting wrote as strings, which the field indexes cannot see.
        return owner_filter(
            owner,
            utcnow(),
            indexed=not self.options.stringify,
            scanned=self.options.stringify or thorough,
        )

    # -- the store's own operations, sync or async ----------------------------------------

    def _perform_own(self, op: Op) -> Any:
        match op:
            case Command(call):
                return call(self._collection())
            case Find(query, projection, limit):
                return list(self._collection().find(query, projection, limit=limit))
        return super()._perform_own(op)

    async def _perform_own_async(self, op: Op) -> Any:
        match op:
            case Command(call):
                return await call(await self._acollection())
            case Find(query, projection, limit):
                found = (await self._acollection()).find(query, projection, limit=limit)
                return await found.to_list()
        return await super()._perform_own_async(op)

    # -- the five primitives and the bulk methods, written once ---------------------------

    def _read(self, sid: str, touch: bool) -> Plan[Versioned | None]:
        found = yield Command(lambda collection: collection.find_one(live(sid, utcnow())))
        return None if found is None else self._decoded(found)

    def _create(self, sid: str, session: Record) -> Plan[None]:
        query, document = self._creation(sid, session)
        with creating(sid):
            yield Command(lambda collection: collection.replace_one(query, document, upsert=True))

    def _replace(self, sid: str, session: Record, version: Any) -> Plan[bool]:
        query, update = self._replacement(sid, session, version)
        result = yield Command(lambda collection: collection.update_one(query, update))
        return result.matched_count == 1

    def _destroy(self, sid: str) -> Plan[None]:
        yield Command(lambda collection: collection.delete_one({"_id": sid}))

    def _touch(self, sid: str, session: Record) -> Plan[None]:
        if (change := self._touching(sid, session)) is not None:
            yield Command(lambda collection: collection.update_one(*change))

    def _all(self) -> Plan[dict[str, Record]]:
        return self._records((yield Find(unexpired(utcnow()))))

    def _sessions_of(self, owner: Owner, thorough: bool) -> Plan[dict[str, Record]]:
        if (query := self._owner_filter(owner, thorough)) is None:
            return {}
        return self.owned_live(owner, self._records((yield Find(query))).items())

    def _clear(self) -> Plan[None]:
        yield Command(lambda collection: collection.delete_many({}))

    def _length(self) -> Plan[int]:
        query = unexpired(utcnow())
        return (yield Command(lambda collection: collection.count_documents(query)))

    def _prune(self, dry_run: bool, progress: Progress | None) -> Plan[int | None]:
        if self.options.auto_remove == "native":
            return None  # MongoDB's TTL monitor deletes them
        old = expired(utcnow())
        if dry_run:
            return (yield Command(lambda collection: collection.count_documents(old)))
        deleted = 0
        while True:
            ids = [doc["_id"] for doc in (yield Find(old, {"_id": 1}, PRUNE_BATCH))]
            if ids:
                batch = {"_id": {"$in": ids}, **old}
                result = yield Command(
                    lambda collection, batch=batch: collection.delete_many(batch)
                )
                deleted += result.deleted_count
                if progress is not None:
                    progress(deleted)
            if len(ids) < PRUNE_BATCH:
                return deleted


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
