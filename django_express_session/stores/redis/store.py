"""connect-redis's store: the options and the five primitives, each written once as a
plan of Redis calls (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.utils.module_loading import import_string

from ...core import plans
from ...core.lifetime import Lifetime
from ...core.ops import Plan
from ...exceptions import CreateError
from ...record import Record, dumps, loads
from ..base import (
    NO_LIFETIME,
    Lazy,
    PerLoop,
    PlanStore,
    Progress,
    Versioned,
    check_bool,
    check_number,
    check_str,
    option_error,
)
from .clients import (
    AsyncClient,
    AsyncScript,
    Call,
    Client,
    ClientCall,
    Connection,
    InThread,
    RedisClients,
    RedisCluster,
    Script,
    redis,
)
from .index import UserIndex
from .layout import READ_AND_TOUCH, REPLACE, RedisLayout, _pipeline, _text, _ttl_of


class RedisStore(RedisClients, UserIndex, RedisLayout, PlanStore):
    """connect-redis's store: options ``alias`` (a django-redis ``CACHES`` entry) or
    ``client`` (a redis-py client, or a dotted path to one or to a factory), ``prefix``,
    ``ttl``, ``disableTouch``, ``disableTTL``, ``scanCount``, ``timeout``, and
    ``indexPrefix`` (where the per-user index sets go; ``"users:" + prefix`` by
    default, outside the keys connect-redis scans)."""

    name = "redis"
    native_async = True
    touches_on_read: ClassVar[bool] = True
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (
        redis.exceptions.ConnectionError,  # includes BusyLoadingError (a restart loading data)
        redis.exceptions.TimeoutError,
        redis.exceptions.ReadOnlyError,  # a former primary, during a failover
        redis.exceptions.ClusterDownError,
        redis.exceptions.SlotNotCoveredError,
    )

    def __init__(
        self,
        *,
        alias: str | None = None,
        client: Client | str | None = None,
        prefix: str = "sess:",
        ttl: int | Callable[[Record], int] | str = 86400,
        disableTouch: bool = False,  # connect-redis option names
        disableTTL: bool = False,
        scanCount: int = 100,
        timeout: float = 0.5,
        indexPrefix: str | None = None,
        lifetime: Lifetime = NO_LIFETIME,
    ) -> None:
        self.lifetime = lifetime
        if alias is not None and client is not None:
            raise option_error(
                self.name, "client", "and 'alias' are exclusive: give one way to reach Redis"
            )
        if client is not None and not isinstance(client, (str, redis.Redis, RedisCluster)):
            raise option_error(
                self.name,
                "client",
                "must be a redis.Redis or redis.cluster.RedisCluster object, or the dotted "
                f"path of one or of a function returning one, not {client!r}",
            )
        self.alias = check_str(self.name, "alias", "default" if alias is None else alias)
        self._client_option = client
        self.prefix = check_str(self.name, "prefix", prefix, allow_empty=True)
        self.index_prefix = check_str(
            self.name, "indexPrefix", "users:" + self.prefix if indexPrefix is None else indexPrefix
        )
        if self.index_prefix == self.prefix:
            raise option_error(
                self.name, "indexPrefix", "must differ from 'prefix': the sets are no sessions"
            )
        self.ttl = self._check_ttl(ttl)
        self.disable_touch = check_bool(self.name, "disableTouch", disableTouch)
        self.disable_ttl = check_bool(self.name, "disableTTL", disableTTL)
        self.scan_count = self._check_int("scanCount", scanCount)
        check_number(self.name, "timeout", timeout)
        if not timeout > 0:
            raise option_error(self.name, "timeout", f"must be more than 0, not {timeout!r}")
        self.timeout = float(timeout)
        self._scripts = (Script(None, READ_AND_TOUCH), Script(None, REPLACE))
        self._async_scripts = (AsyncScript(None, READ_AND_TOUCH), AsyncScript(None, REPLACE))
        #: The sync client, and whether the store built it (then it is the store's to close).
        self._sync: Lazy[tuple[Connection, bool]] = Lazy(self._connect, self._disconnect)
        #: How to build an asyncio client like the sync one (it gives None when the sync
        #: client has no asyncio form here).
        self._async_recipe: Lazy[Callable[[], AsyncClient | None]] = Lazy(self._recipe)
        self._by_loop: PerLoop[Connection | None] = PerLoop(
            self._new_async_connection, lambda connection: connection.client.aclose()
        )

    def _check_int(self, key: str, value: Any) -> int:
        check_number(self.name, key, value, minimum=1)
        if not isinstance(value, int):
            raise option_error(self.name, key, f"must be a whole number, not {value!r}")
        return value

    def _check_ttl(self, ttl: Any) -> int | Callable[[Record], int]:
        if isinstance(ttl, str):
            try:
                ttl = import_string(ttl)
            except ImportError as error:
                raise option_error(self.name, "ttl", f"cannot be imported: {error}") from None
        if callable(ttl):
            return ttl
        return self._check_int("ttl", ttl)

    # -- the five primitives, as plans ----------------------------------------------------

    def _read(self, sid: str, touch: bool) -> Plan[Versioned | None]:
        call, sent = self._read_call(sid, touch)
        known = self._versioned((yield Call(call)), sent)
        if known is not None and known.touched and self._index_may_lapse(known, sent):
            # The session lives longer now than its sets were kept for: so must they.
            ttl = None if known.expires_at is None else _ttl_of(int(known.expires_at - sent))
            yield Call(self._index_call(sid, self._index_keys(known.record), ttl=ttl))
        return known

    def _create(self, sid: str, session: Record) -> Plan[None]:
        key, ttl = self.key(sid), self.ttl_for(session)
        if ttl <= 0:
            # Already expired: connect-redis would not store it; only say if it is taken.
            if (yield Call(lambda c: c.client.exists(key))):
                raise CreateError(sid)
            return
        value, expiry = dumps(session), None if self.disable_ttl else ttl
        if not (yield Call(lambda c: c.client.set(key, value, ex=expiry, nx=True))):
            raise CreateError(sid)
        yield Call(self._index_call(sid, self._index_keys(session), ttl=self._member_ttl(ttl)))

    def _replace(self, sid: str, session: Record, version: Any) -> Plan[bool]:
        if version is None:
            return False
        key, ttl = self.key(sid), self.ttl_for(session)
        args = [version, dumps(session), "none" if self.disable_ttl and ttl > 0 else max(ttl, 0)]
        if not (yield Call(lambda c: c.replace(keys=[key], args=args, client=c.client))):
            return False
        # Only after the write took: the sets it leaves still list the session otherwise.
        before = self._stored_keys(version)
        after = self._index_keys(session) if ttl > 0 else frozenset()
        yield Call(self._index_call(sid, after, before - after, self._member_ttl(ttl)))
        return True

    def _destroy(self, sid: str) -> Plan[None]:
        key = self.key(sid)

        def get_and_delete(c: Connection) -> Any:
            # GET and DEL in one round trip (GETDEL needs Redis 6.2): the value names
            # the sets to leave.
            pipe = _pipeline(c.client)
            pipe.get(key)
            pipe.delete(key)
            return pipe.execute()

        value, _ = yield Call(get_and_delete)
        if value is not None:
            yield Call(self._index_call(sid, (), self._stored_keys(value)))

    def _touch_call(self, sid: str, session: Record) -> ClientCall | None:
        if self.disable_touch or self.disable_ttl:
            return None
        # EXPIRE never creates a key, and deletes it when the TTL is <= 0.
        key, ttl = self.key(sid), self.ttl_for(session)
        sets = self._index_keys(session) if ttl > 0 else frozenset()
        if not sets:
            return lambda c: c.client.expire(key, ttl)

        def call(c: Connection) -> Any:
            # The sets' expiry follows the session's, in the same round trip (a set that
            # lists a session destroyed meanwhile drops it when read).
            pipe = _pipeline(c.client)
            pipe.expire(key, ttl)
            self._queue_index(pipe, sid, sets, ttl=ttl)
            return pipe.execute()

        return call

    def _touch(self, sid: str, session: Record) -> Plan[None]:
        yield Call(self._touch_call(sid, session))

    # -- bulk methods (through the sync client: in a thread from async code) --------------

    def _all(self) -> Plan[dict[str, Record]]:
        return (yield InThread(self._scan_all))

    def _length(self) -> Plan[int]:
        return (yield InThread(self._count))

    def _clear(self) -> Plan[None]:
        yield InThread(self._delete_all)

    def _prune(self, dry_run: bool, progress: Progress | None) -> Plan[None]:
        """Nothing to do: Redis deletes each session key when its TTL runs out."""
        return plans.answer(None)

    def _scan_all(self) -> dict[str, Record]:
        sessions: dict[str, Record] = {}
        client = self.redis
        for keys in self._scan_batches(client):
            if isinstance(client, RedisCluster):
                values = client.mget_nonatomic(keys)
            else:
                values = client.mget(keys)
            for key, value in zip(keys, values, strict=True):
                if value is not None:  # expired since the scan
                    sessions[_text(key)[len(self.prefix) :]] = loads(value)
        return sessions

    def _delete_all(self) -> None:
        client = self.redis
        for keys in self._scan_batches(client):
            client.delete(*keys)  # redis-py splits it by slot on a cluster

    def _count(self) -> int:
        client = self.redis
        return sum(len(keys) for keys in self._scan_batches(client))
