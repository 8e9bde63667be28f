"""A listener of Redis keyspace notifications (``manage.py sessionevents``): it files
every session into the per-user index as it is written, whoever wrote it (Django, a
stock connect-redis store, a script), and reports each session Redis expires.

Redis publishes an event on ``__keyspace@<db>__:<key>`` for each command that changes a
key, when ``notify-keyspace-events`` asks for it (off by default). The listener
subscribes to the sessions' keys only (``__keyspace@<db>__:<prefix>*``), so other keys
cost nothing, and asks for the classes it needs (``K$gx``: keyspace events of string
commands, of generic ones such as ``EXPIRE``, and of expiry), with ``CONFIG SET`` where
the server allows it.

- ``set`` (a write) and ``expire`` (a touch, which may outlast the index sets): the
  session is read and filed (``RedisStore.file_sessions``). Events are taken in
  batches of at most ``batch`` and a key named twice is read once: two round trips a
  batch, whatever its size, and a record is read only when it is a string of at most
  ``MAX_FILED_BYTES`` (a hostile or broken key is skipped, never an error).
- ``expired``: Redis dropped the session when its TTL ran out (idle expiry):
  ``on_expired(sid)`` is called (the command sends ``session_ended``, reason
  ``"expired"``). A session that expired while no listener ran is not reported.
- A deletion needs nothing: a set that lists a deleted session drops it when read.

Redis keeps no events for a client that was away: after each (re)connection the
listener subscribes first, then files every session by ``SCAN`` (``catch_up``), a
batch at a time with the events that came meanwhile in between. Only then, and while it
runs, it keeps the store's liveness key (``mark_index_live``): a thorough listing then
trusts the index and needs no scan.

On Redis Cluster each primary publishes the events of its own keys: one subscription
per primary, each in its own thread, reconnecting on its own; the primaries are looked
up again every ``beat`` seconds (a failover, a node added).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .clients import RedisCluster, redis
from .layout import _GLOB_SPECIAL, _bytes
from .store import RedisStore

logger = logging.getLogger("django_express_session.sessionevents")

#: The notification classes the listener needs: K keyspace events, $ string commands
#: (SET), g generic commands (EXPIRE), x expiry.
NEEDED_CLASSES = "K$gx"
#: What ``A`` in ``notify-keyspace-events`` stands for.
ALL_CLASSES = "g$lshzxetd"
#: The events that (may) leave a session to file: a write, a touch, a key moved in.
FILING_EVENTS = frozenset({b"set", b"expire", b"rename_to", b"restore", b"copy_to"})
EXPIRED_EVENT = b"expired"
#: The shortest time the liveness key is set for (seconds).
LIVENESS_SECONDS = 5


class NotificationsUnavailable(Exception):
    """The server does not send the notifications the listener needs, and cannot be
    told to here: the message says what to set where."""


def missing_classes(setting: str) -> str:
    """The classes of ``NEEDED_CLASSES`` that the value of ``notify-keyspace-events``
    lacks."""
    have = set(setting.replace("A", ALL_CLASSES))
    return "".join(flag for flag in NEEDED_CLASSES if flag not in have)


def _where(client: Any) -> str:
    kwargs = client.get_connection_kwargs()
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def enable_notifications(client: Any, *, configure: bool = True) -> bool:
    """Make the server of ``client`` (one server, never a cluster client) send the
    events the listener needs; return whether its setting was changed. Raises
    ``NotificationsUnavailable`` saying how to set it when it cannot be read or
    changed here (a managed service that refuses ``CONFIG``, or ``configure`` False)."""
    how = (
        f"set notify-keyspace-events to include {NEEDED_CLASSES} on the Redis server at "
        f"{_where(client)}: `notify-keyspace-events {NEEDED_CLASSES}` in redis.conf, or the "
        "`notify-keyspace-events` parameter of a managed service (its parameter group or "
        "configuration page), then start sessionevents again"
    )
    try:
        setting = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
    except redis.exceptions.ResponseError as error:
        raise NotificationsUnavailable(f"CONFIG GET was refused ({error}): {how}") from None
    missing = missing_classes(_text_of(setting))
    if not missing:
        return False
    if not configure:
        raise NotificationsUnavailable(
            f"notify-keyspace-events is {_text_of(setting)!r}, without {missing}: {how}"
        )
    try:
        client.config_set("notify-keyspace-events", _text_of(setting) + missing)
    except redis.exceptions.ResponseError as error:
        raise NotificationsUnavailable(f"CONFIG SET was refused ({error}): {how}") from None
    return True


def _text_of(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Subscription(redis.client.PubSub):
    """A subscription that counts its connections: redis-py may reconnect (and
    subscribe again) inside a call, and each new connection must be caught up with.
    (``on_connect`` is called when an existing connection connects again.)"""

    connections = 0

    def on_connect(self, connection: Any) -> None:
        self.connections += 1
        super().on_connect(connection)


@dataclass
class Counts:
    """What a listener did, for its log and the benchmark."""

    events: int = 0
    filed: int = 0
    new_entries: int = 0
    expired: int = 0
    skipped: int = 0
    catch_ups: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class NodeListener:
    """The subscription to one Redis server (the only one, or one primary of a
    cluster), in a thread of its own, reconnecting with a growing pause."""

    def __init__(self, listener: Listener, client: Any) -> None:
        self.listener = listener
        self.client = client
        self.name = _where(client)
        self.stopping = threading.Event()
        #: Subscribed and caught up: every write on this server is being filed.
        self.live = False
        self.thread = threading.Thread(
            target=self.run, name=f"sessionevents {self.name}", daemon=True
        )

    def start(self) -> NodeListener:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        pause = 0.1
        while not self.stopping.is_set():
            try:
                self._serve()
                return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
                logger.warning("sessionevents: lost %s (%s); reconnecting", self.name, e)
            except NotificationsUnavailable as error:
                logger.error("sessionevents: %s", error)
            except Exception:  # a bug must not end the listening for good
                logger.exception("sessionevents: unexpected error on %s", self.name)
            self.live = False
            self.stopping.wait(pause)
            pause = min(pause * 2, 5.0)

    def _serve(self) -> None:
        listener = self.listener
        # A pool of its own (the subscription holds its connection for good), speaking
        # RESP2, where events are plain replies to read, whatever the store's protocol
        # (the RESP3-only maintenance-notification settings are left out).
        model = self.client.connection_pool
        settings = {
            name: value
            for name, value in model.connection_kwargs.items()
            if not name.startswith(("maint_notifications", "orig_"))  # RESP3's only
        }
        pool = redis.ConnectionPool(
            connection_class=model.connection_class, **{**settings, "protocol": 2}
        )
        subscription = _Subscription(pool, ignore_subscribe_messages=True)
        try:
            caught_up_with = 0
            while not self.stopping.is_set():
                if subscription.connections == 0:
                    enable_notifications(self.client, configure=listener.configure)
                    subscription.psubscribe(listener.pattern(self.client))
                    subscription.connections = 1  # redis-py calls on_connect on reconnects only
                if subscription.connections != caught_up_with:
                    # A new connection (the first, or one redis-py made after a drop,
                    # maybe to a server restarted without its settings).
                    self.live = False
                    caught_up_with = subscription.connections
                    if caught_up_with > 1:
                        enable_notifications(self.client, configure=listener.configure)
                    self._catch_up(subscription)
                    self.live = True
                listener.handle(self._batch(subscription, timeout=listener.beat / 2))
        finally:
            self.live = False
            subscription.close()
            pool.disconnect()

    def _catch_up(self, subscription: _Subscription) -> None:
        listener, node = self.listener, self.client
        listener.counts.add(catch_ups=1)
        scanned = listener.store.catch_up(
            node if isinstance(listener.store.redis, RedisCluster) else None
        )
        for filing in scanned:
            listener.counts.add(
                filed=filing.read, new_entries=filing.new_entries, skipped=filing.skipped
            )
            listener.handle(self._batch(subscription, timeout=0))
            if self.stopping.is_set():
                return
        logger.info("sessionevents: caught up on %s", self.name)

    def _batch(self, subscription: _Subscription, timeout: float) -> list[dict[str, Any]]:
        """Up to ``batch`` messages: the first waits up to ``timeout`` s, then what is
        already there."""
        messages = []
        message = subscription.get_message(timeout=timeout)
        while message is not None:
            messages.append(message)
            if len(messages) >= self.listener.batch:
                break
            message = subscription.get_message(timeout=0)
        return messages


class Listener:
    """Files the sessions of ``store`` as they are written and reports idle expiry to
    ``on_expired(sid)``; ``run()`` until ``stop()``. ``configure``: turn the
    notifications on with ``CONFIG SET`` where they are off."""

    def __init__(
        self,
        store: RedisStore,
        *,
        on_expired: Callable[[str], None] = lambda sid: None,
        configure: bool = True,
        batch: int = 500,
        beat: float = 2.0,
    ) -> None:
        self.store = store
        self.on_expired = on_expired
        self.configure = configure
        self.batch = batch
        self.beat = beat
        self.counts = Counts()
        self.stopping = threading.Event()
        self.nodes: dict[str, NodeListener] = {}
        self._prefix = _bytes(store.options.prefix)
        # Keys under the prefix that are no sessions (only with an empty prefix, say).
        index_prefix = _bytes(store.options.index_prefix)
        self._sets = index_prefix if index_prefix.startswith(self._prefix) else None
        self._liveness_key = _bytes(store.liveness_key)

    @property
    def live(self) -> bool:
        """Every server subscribed and caught up."""
        return bool(self.nodes) and all(node.live for node in self.nodes.values())

    def pattern(self, client: Any) -> str:
        db = client.get_connection_kwargs().get("db", 0)
        return f"__keyspace@{db}__:" + _GLOB_SPECIAL.sub(r"\\\1", self.store.options.prefix) + "*"

    def servers(self) -> list[Any]:
        """A client of each server to subscribe to: the store's, or each primary's."""
        client = self.store.redis
        if isinstance(client, RedisCluster):
            return [node.redis_connection for node in client.get_primaries()]
        return [client]

    def check(self) -> None:
        """Fail now, with how to fix it, where the notifications cannot be had."""
        for client in self.servers():
            enable_notifications(client, configure=self.configure)

    def run(self) -> None:
        """Listen until ``stop()``; keep the liveness key while every server is live."""
        was_live = False
        try:
            while not self.stopping.is_set():
                self._follow_servers()
                live = self.live
                try:
                    if live:
                        # Renewed every beat; a few seconds at least, for a loaded machine.
                        self.store.mark_index_live(max(LIVENESS_SECONDS, round(self.beat * 3)))
                    elif was_live:
                        self.store.mark_index_unsure()
                    was_live = live
                except self.store.connection_errors:
                    was_live = True  # unsure: say so once it can be said
                self.stopping.wait(self.beat)
        finally:
            for node in self.nodes.values():
                node.stop()
            for node in self.nodes.values():
                node.thread.join(timeout=self.beat * 2)
            with contextlib.suppress(*self.store.connection_errors):
                self.store.mark_index_unsure()  # else the key runs out by itself

    def stop(self) -> None:
        self.stopping.set()

    def _follow_servers(self) -> None:
        try:
            clients = {_where(client): client for client in self.servers()}
        except self.store.connection_errors as error:
            logger.warning("sessionevents: cannot list the servers (%s)", error)
            return
        for name in set(self.nodes) - set(clients):
            self.nodes.pop(name).stop()
        for name, client in clients.items():
            if name not in self.nodes:
                self.nodes[name] = NodeListener(self, client).start()

    # -- the events -----------------------------------------------------------------------

    def sid_of(self, channel: bytes) -> str | None:
        """The session id an event's channel names, or None (not a session's key)."""
        _, _, key = channel.partition(b"__:")
        if not key.startswith(self._prefix) or key == self._liveness_key:
            return None
        if self._sets is not None and key.startswith(self._sets):
            return None
        try:
            return key[len(self._prefix) :].decode()
        except UnicodeDecodeError:
            return None  # no id express-session makes

    def handle(self, messages: Iterable[dict[str, Any]]) -> None:
        """File the sessions ``messages`` say were written, report those that expired."""
        to_file: dict[str, None] = {}
        expired: list[str] = []
        count = 0
        for message in messages:
            count += 1
            channel, event = _bytes(message["channel"]), _bytes(message["data"])
            sid = self.sid_of(channel)
            if sid is None:
                continue
            if event == EXPIRED_EVENT:
                to_file.pop(sid, None)
                expired.append(sid)
            elif event in FILING_EVENTS:
                to_file[sid] = None
        if not count:
            return
        filing = self.store.file_sessions(list(to_file))
        self.counts.add(
            events=count,
            filed=filing.read,
            new_entries=filing.new_entries,
            skipped=filing.skipped,
            expired=len(expired),
        )
        for sid in expired:
            try:
                self.on_expired(sid)
            except Exception:  # a receiver's error must not stop the filing
                logger.exception("sessionevents: a receiver of the expiry of a session failed")
