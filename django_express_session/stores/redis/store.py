"""connect-redis's store: the options and the five primitives, each written once as a
plan of Redis calls (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils.module_loading import import_string

from ...core import plans
from ...core.ops import Plan
from ...exceptions import CorruptRecord, CreateError
from ...record import Record, dumps, loads, now_ms
from ...validation import (
    StoreOptions,
    check_bool,
    check_number,
    number,
    option,
    option_error,
    string,
)
from ..base import PlanStore, Progress, Versioned
from ..resources import Lazy, PerLoop
from .clients import (
    AsyncClient,
    Call,
    ClientCall,
    Connection,
    InThread,
    RedisClients,
)
from .index import REPLACE_AND_FILE, UserIndex, index_expiry
from .layout import READ_AND_TOUCH, REPLACE, RedisLayout, _pipeline, _text, _ttl_of
from .libraries import cluster_classes, connection_errors, library_of, response_errors
from .limit import SessionLimit
from .sentinel import check_sentinel_options, check_sentinels


def _client(store: str, key: str, client: Any) -> Any:
    if client is not None and not isinstance(client, str) and library_of(client) is None:
        raise option_error(
            store,
            key,
            "must be a redis.Redis, redis.cluster.RedisCluster, valkey.Valkey or "
            "valkey.cluster.ValkeyCluster object, or the dotted path of one or of a "
            f"function returning one, not {client!r}",
        )
    return client


def _ttl(store: str, key: str, ttl: Any) -> int | Callable[[Record], int]:
    """connect-redis's ``ttl``: seconds, or a function of the session (or its path)."""
    if isinstance(ttl, str):
        try:
            ttl = import_string(ttl)
        except ImportError as error:
            raise option_error(store, key, f"cannot be imported: {error}") from None
    if callable(ttl):
        return ttl
    return check_number(store, key, ttl, minimum=1, whole=True)


def _more_than_zero(store: str, key: str, value: Any) -> float:
    check_number(store, key, value)
    if not value > 0:
        raise option_error(store, key, f"must be more than 0, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RedisOptions(StoreOptions):
    """connect-redis's options (its names in settings), and how to reach Redis:
    ``alias`` (a django-redis or django-valkey ``CACHES`` entry, ``"default"`` unless
    another way is given), ``client`` (a redis-py or valkey-py client, or a dotted path
    to one or to a factory), or ``sentinels`` and ``service`` (with
    ``sentinelOptions``: the primary that Redis Sentinel names). ``indexPrefix`` is
    where the per-user index sets go (``"users:" + prefix`` by default, outside the
    keys connect-redis scans); ``timeout`` bounds every command."""

    store: ClassVar[str] = "redis"

    alias: str | None = option("alias", string(allow_none=True), default=None)
    client: Any = option("client", _client, default=None)
    sentinels: list[tuple[str, int]] | None = option("sentinels", check_sentinels, default=None)
    service: str | None = option("service", string(allow_none=True), default=None)
    sentinel_options: dict[str, Any] | None = option(
        "sentinelOptions", check_sentinel_options, default=None
    )
    prefix: str = option("prefix", string(allow_empty=True), default="sess:")
    ttl: int | Callable[[Record], int] = option("ttl", _ttl, default=86400)
    disable_touch: bool = option("disableTouch", check_bool, default=False)
    disable_ttl: bool = option("disableTTL", check_bool, default=False)
    scan_count: int = option("scanCount", number(minimum=1, whole=True), default=100)
    timeout: float = option("timeout", _more_than_zero, default=0.5)
    index_prefix: str | None = option("indexPrefix", string(allow_none=True), default=None)

    def check(self) -> None:
        if self.alias is not None and self.client is not None:
            raise option_error(
                self.store, "client", "and 'alias' are exclusive: give one way to reach Redis"
            )
        if self.sentinels is not None and (self.alias is not None or self.client is not None):
            given = "alias" if self.alias is not None else "client"
            raise option_error(
                self.store,
                "sentinels",
                f"and {given!r} are exclusive: give one way to reach Redis",
            )
        if (self.sentinels is None) != (self.service is None):
            raise option_error(
                self.store,
                "service" if self.sentinels is not None else "sentinels",
                "is needed too: 'sentinels' and 'service' go together",
            )
        if self.sentinel_options and self.sentinels is None:
            raise option_error(self.store, "sentinelOptions", "is for 'sentinels' only")
        if self.index_prefix is None:
            object.__setattr__(self, "index_prefix", "users:" + self.prefix)
        if self.index_prefix == self.prefix:
            raise option_error(
                self.store, "indexPrefix", "must differ from 'prefix': the sets are no sessions"
            )


#: What a server without ``GETEX`` (Redis before 6.2) answers it with, in either library.
RESPONSE_ERRORS = response_errors()

#: A ``GETEX`` answer that ``READ_AND_TOUCH`` must read again (``_known_by_getex``).
_READ_AGAIN = object()


def _getex_call(key: str, seconds: int) -> ClientCall:
    # The command as the library's ``getex`` builds it, without its checks of options
    # the store never passes.
    return lambda c: c.client.execute_command("GETEX", key, "EX", seconds)


def _lacks_getex(error: BaseException) -> bool:
    """The server answered ``GETEX`` as a command it does not know (before 6.2)."""
    return "unknown command" in str(error).lower()


class RedisStore(RedisClients, SessionLimit, UserIndex, RedisLayout, PlanStore):
    """connect-redis's store: options ``alias`` (a django-redis or django-valkey
    ``CACHES`` entry), ``client`` (a redis-py or valkey-py client, or a dotted path to
    one or to a factory) or ``sentinels``, ``service`` and ``sentinelOptions``, ``prefix``,
    ``ttl``, ``disableTouch``, ``disableTTL``, ``scanCount``, ``timeout``, and
    ``indexPrefix`` (where the per-user index sets go; ``"users:" + prefix`` by
    default, outside the keys connect-redis scans)."""

    name = "redis"
    native_async = True
    touches_on_read: ClassVar[bool] = True
    # Connection errors, a timeout, READONLY from a former primary during a failover,
    # a cluster down: of redis-py, and of valkey-py when it is installed.
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = connection_errors()

    Options = RedisOptions
    options: RedisOptions

    def _setup(self) -> None:
        options = self.options
        self.alias = "default" if options.alias is None else options.alias
        self.timeout = float(options.timeout)
        self._script_sources = (READ_AND_TOUCH, REPLACE, REPLACE_AND_FILE)
        #: The TTL of a touching read by ``GETEX`` (None: by ``READ_AND_TOUCH``).
        self._getex: int | None = self._getex_seconds()
        #: The sync client, and whether the store built it (then it is the store's to close).
        self._sync: Lazy[tuple[Connection, bool]] = Lazy(self._connect, self._disconnect)
        #: How to build an asyncio client like the sync one (it gives None when the sync
        #: client has no asyncio form here).
        self._async_recipe: Lazy[Callable[[], AsyncClient | None]] = Lazy(self._recipe)
        self._by_loop: PerLoop[Connection | None] = PerLoop(
            self._new_async_connection, self._adisconnect
        )

    # -- the five primitives, as plans ----------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        seconds = self._getex
        if not touch or seconds is None:
            return super().read(sid, touch=touch)
        # A request's read, the commonest call: its GETEX sent at once (through the same
        # client call as the plan's) and the answer judged by the plan's own rules
        # (``_known_by_getex``), since driving a plan costs more CPU than this one
        # command. Whatever the answer leaves open, the plan takes up from it.
        sent, key = now_ms(), self.key(sid)
        try:
            value = self._send(_getex_call(key, seconds))
        except RESPONSE_ERRORS as error:
            if not _lacks_getex(error):
                raise
            return super().read(sid, touch=touch)  # the plan moves to the script
        known = self._known_by_getex(value, seconds, sent)
        if known is _READ_AGAIN or (known is not None and self._index_may_lapse(known, sent)):
            return self._planned(self._read(sid, touch, answered=(value, sent)))
        return known

    def _read(
        self, sid: str, touch: bool, answered: tuple[Any, int] | None = None
    ) -> Plan[Versioned | None]:
        """``answered``: the ``GETEX`` was sent already, at that moment, and answered so."""
        sent = now_ms() if answered is None else answered[1]
        if touch and self._getex is not None:
            known = yield from self._read_by_getex(sid, self._getex, sent, answered)
        else:
            known = yield from self._read_by_call(sid, touch)
        if known is not None and known.touched and self._index_may_lapse(known, sent):
            # The session lives longer now than its sets were kept for: so must they.
            ttl = None if known.expires_at is None else _ttl_of(int(known.expires_at - sent))
            yield Call(self._index_call(sid, self._index_keys(known.record), ttl=ttl))
        return known

    def _read_by_call(self, sid: str, touch: bool) -> Plan[Versioned | None]:
        """A ``GET``, or with ``touch`` the ``READ_AND_TOUCH`` script."""
        call, sent = self._read_call(sid, touch)
        return self._versioned((yield Call(call)), sent)

    def _read_by_getex(
        self, sid: str, seconds: int, sent: int, answered: tuple[Any, int] | None
    ) -> Plan[Versioned | None]:
        """A touching read as one ``GETEX key EX seconds`` (no script, no JSON decoded in
        Redis) when the record carries the configured ``maxAge``, as nearly all do. For
        any other record (``set_expiry``, an app with another ``maxAge``, a record that
        cannot be read) ``READ_AND_TOUCH`` then reads and touches it again, atomically
        and exactly as a first read by script would: the TTL it leaves is the script's."""
        if answered is not None:
            value = answered[0]
        else:
            try:
                value = yield Call(_getex_call(self.key(sid), seconds))
            except RESPONSE_ERRORS as error:
                if not _lacks_getex(error):
                    raise
                self._getex = None  # Redis before 6.2: the script from now on
                return (yield from self._read_by_call(sid, True))
        known = self._known_by_getex(value, seconds, sent)
        if known is _READ_AGAIN:
            return (yield from self._read_by_call(sid, True))
        return known

    def _known_by_getex(self, value: Any, seconds: int, sent: int) -> Any:
        """What a ``GETEX`` sent at ``sent`` found: None (no session), the record, or
        ``_READ_AGAIN`` when ``READ_AND_TOUCH`` must read it (a record without the
        configured ``maxAge``, or one that cannot be read)."""
        if value is None:
            return None
        try:
            known = self._decoded(value, touched=True, expires_at=sent + seconds * 1000)
        except CorruptRecord:
            return _READ_AGAIN
        if self._script_seconds(known.record) != seconds:
            return _READ_AGAIN
        return known

    def _create(self, sid: str, session: Record) -> Plan[None]:
        key, ttl = self.key(sid), self.ttl_for(session)
        if ttl <= 0:
            # Already expired: connect-redis would not store it; only say if it is taken.
            if (yield Call(lambda c: c.client.exists(key))):
                raise CreateError(sid)
            return
        value, expiry = dumps(session), None if self.options.disable_ttl else ttl
        if not (yield Call(lambda c: c.client.set(key, value, ex=expiry, nx=True))):
            raise CreateError(sid)
        yield Call(self._index_call(sid, self._index_keys(session), ttl=self._member_ttl(ttl)))

    def _replace(self, sid: str, session: Record, version: Any) -> Plan[bool]:
        if version is None:
            return False
        key, ttl = self.key(sid), self.ttl_for(session)
        args = [
            version,
            dumps(session),
            "none" if self.options.disable_ttl and ttl > 0 else max(ttl, 0),
        ]
        before = self._stored_keys(version)
        after = self._index_keys(session) if ttl > 0 else frozenset()
        left, member_ttl = before - after, self._member_ttl(ttl)
        filing = self._index_call(sid, after, left, member_ttl)  # None: no set changes

        def write(c: Connection) -> Any:
            if filing is None or c.replace_and_file is None:
                return c.replace(keys=[key], args=args, client=c.client)
            sets = [*sorted(after), *sorted(left)]
            extra = [sid, index_expiry(member_ttl), len(after)]
            return c.replace_and_file(keys=[key, *sets], args=[*args, *extra], client=c.client)

        written = yield Call(write)
        if not written:
            return False
        if written != 2 and filing is not None:  # not filed (a cluster): only now it may be
            yield Call(filing)
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
        if self.options.disable_touch or self.options.disable_ttl:
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
            if isinstance(client, cluster_classes()):
                values = client.mget_nonatomic(keys)
            else:
                values = client.mget(keys)
            for key, value in zip(keys, values, strict=True):
                if value is not None:  # expired since the scan
                    sessions[_text(key)[len(self.options.prefix) :]] = loads(value)
        return sessions

    def _delete_all(self) -> None:
        client = self.redis
        for keys in self._scan_batches(client):
            client.delete(*keys)  # redis-py splits it by slot on a cluster

    def _count(self) -> int:
        client = self.redis
        return sum(len(keys) for keys in self._scan_batches(client))

    # -- the session policy: a key beside the prefix ---------------------------------------

    def _policy_key(self, side: str) -> str:
        if not self.options.prefix:
            raise ValueError(
                "with an empty 'prefix' every key is a session: no key is left for the policy"
            )
        return self.policy_key(self.options.prefix, side)

    def read_policy(self, side: str) -> str | None:
        value = self.redis.get(self._policy_key(side))
        return None if value is None else _text(value)

    def publish_policy(self, side: str, document: str) -> None:
        self.redis.set(self._policy_key(side), document)
