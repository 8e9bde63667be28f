"""connect-redis's layout: session keys, their TTL, the Lua scripts of a read that
touches and of a compare-and-set, and the helpers every command of the store shares."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from ...core.ops import Versioned
from ...exceptions import CorruptRecord
from ...owner import index_terms
from ...record import Record, loads, now_ms
from .clients import Client, ClientCall
from .libraries import cluster_classes

# GET and refresh the TTL in one round trip, as express's end-of-request touch would:
# it resets cookie.expires to now + originalMaxAge, so the TTL is ceil(originalMaxAge/1000)
# seconds, or the fallback (ARGV[1]) for a browser-session cookie. Like connect-redis's
# touch, the stored value is left as it is, and a TTL <= 0 makes EXPIRE delete the key.
# An originalMaxAge that no JavaScript Date can hold (NaN, infinite, or more than
# 8.64e15 ms either way; cjson decodes 1e400 as inf) is no usable maxAge: the fallback
# applies, and the value goes back to Python, which judges the record.
# ARGV[2] is "1" to touch ("0": only report the TTL). The TTL never runs past the
# absolute cap, djangoExpressSession.startedAt + ARGV[4] ms ("0": no cap), counted from
# ARGV[5] (now, epoch ms, Django's clock). With touchAfter (ARGV[3] ms > 0), the key is
# touched only when its remaining PTTL is below the full TTL minus touchAfter.
# Returns {value, touched (0/1), PTTL after (ms; -1 no expiry, -2 gone)}.
READ_AND_TOUCH = b"""
local value = redis.call('GET', KEYS[1])
if not value then return false end
local ttl = tonumber(ARGV[1])
local ok, session = pcall(cjson.decode, value)
if ok and type(session) == 'table' then
  if type(session.cookie) == 'table' and type(session.cookie.originalMaxAge) == 'number' then
    local ms = session.cookie.originalMaxAge
    if ms == ms and ms >= -8.64e15 and ms <= 8.64e15 then
      ttl = math.ceil(ms / 1000)
    end
  end
  local absolute = tonumber(ARGV[4])
  local mine = session.djangoExpressSession
  if absolute > 0 and type(mine) == 'table' and type(mine.startedAt) == 'number'
      and mine.startedAt == mine.startedAt and math.abs(mine.startedAt) <= 8.64e15 then
    local left = math.ceil((mine.startedAt + absolute - tonumber(ARGV[5])) / 1000)
    if left < ttl then ttl = left end
  end
end
local pttl = redis.call('PTTL', KEYS[1])
local after = tonumber(ARGV[3])
if ARGV[2] == '1' and (after <= 0 or pttl < 0 or ttl * 1000 - pttl >= after) then
  if ttl <= 0 then ttl = 0 end  -- (math.ceil can give -0, which EXPIRE refuses)
  redis.call('EXPIRE', KEYS[1], string.format('%.0f', ttl))
  return {value, 1, redis.call('PTTL', KEYS[1])}
end
return {value, 0, pttl}
"""

# Compare-and-set: write ARGV[2] only if the key still holds ARGV[1] (what was read).
# ARGV[3] is the TTL in seconds, "none" to store without expiry (disableTTL), or <= 0 to
# delete, as connect-redis's set does for an expired cookie. A missing key is never
# recreated: the session was destroyed meanwhile.
REPLACE = b"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'none' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""

# An index set is kept this many times its newest member's TTL: a Django touch within
# one TTL of the write that filed the session then needs no command for the set (see
# ``_index_may_lapse``), and a logged-in read costs one round trip, as an anonymous one.
INDEX_HEADROOM = 2

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _pipeline(client: Any) -> Any:
    """A non-transactional pipeline (on a cluster, split by node as redis-py does)."""
    if isinstance(client, cluster_classes()):
        return client.pipeline()
    return client.pipeline(transaction=False)


def _many_gets(client: Any, keys: list[str]) -> Any:
    """MGET, one per slot on a cluster."""
    if isinstance(client, cluster_classes()):
        return client.mget_nonatomic(keys)
    return client.mget(keys)


def _ttl_of(pttl_ms: int) -> int | None:
    """A key's PTTL as the whole seconds an index set must outlast (None: no expiry)."""
    return None if pttl_ms < 0 else max(1, math.ceil(pttl_ms / 1000))


# The milliseconds a JavaScript Date holds either side of the epoch (the script's bound).
_JS_DATE_LIMIT_MS = 8.64e15


class RedisLayout:
    """Keys, TTLs and reads of a ``RedisStore`` (a mixin: the store holds the options)."""

    _last_decoded: Versioned | None = None

    def key(self, sid: str) -> str:
        return self.options.prefix + sid

    def index_key(self, term: str) -> str:
        """The set of the session ids filed under ``term`` (see ``owner.index_terms``)."""
        return self.options.index_prefix + term

    def _index_keys(self, record: Record) -> frozenset[str]:
        return frozenset(self.index_key(term) for term in index_terms(record))

    def _member_ttl(self, ttl: int) -> int | None:
        """How long an index set must keep a session written with ``ttl``."""
        return None if self.options.disable_ttl else ttl

    def ttl_for(self, session: Record) -> int:
        """connect-redis's ``getTTL``: the ``ttl`` function, else the cookie's remaining
        seconds, else the ``ttl`` number."""
        if callable(self.options.ttl):
            return math.ceil(self.options.ttl(session))
        return self.ttl_seconds(session, self.options.ttl)

    def _read_call(self, sid: str, touch: bool) -> tuple[ClientCall, float]:
        """The read, and the time it was sent (epoch ms, to turn the PTTL it reports
        into an expiry). With ``touch`` it refreshes the TTL too (not when the TTL is a
        function, which only Python can run: the session layer then touches at the end
        of the request, and the read reports the TTL for ``touchAfter``)."""
        key = self.key(sid)
        sent = now_ms()
        if touch and not (self.options.disable_touch or self.options.disable_ttl):
            args = [
                self.options.ttl if not callable(self.options.ttl) else 0,
                "0" if callable(self.options.ttl) else "1",
                self.lifetime.touch_after_ms,
                self.lifetime.absolute_max_age_ms or 0,
                sent,
            ]
            return (lambda c: c.read_and_touch(keys=[key], args=args, client=c.client)), sent
        return (lambda c: c.client.get(key)), sent

    def _getex_seconds(self) -> int | None:
        """The TTL a touching read can set with ``GETEX`` before it knows the record:
        the configured ``maxAge``'s, which every record this app writes carries (None:
        only ``READ_AND_TOUCH`` can touch right: a ``ttl`` function, ``touchAfter``,
        ``absoluteMaxAge``, no numeric ``maxAge``, or touching off)."""
        options, lifetime = self.options, self.lifetime
        if (
            options.disable_touch
            or options.disable_ttl
            or callable(options.ttl)
            or lifetime.touch_after_ms
            or lifetime.absolute_max_age_ms is not None
            or lifetime.max_age_ms is None
        ):
            return None
        seconds = math.ceil(lifetime.max_age_ms / 1000)
        return seconds if seconds > 0 else None

    def _script_seconds(self, record: Record) -> int:
        """The TTL ``READ_AND_TOUCH`` sets for a record (without ``absoluteMaxAge``):
        its ``cookie.originalMaxAge`` in whole seconds, rounded up, else ``ttl``."""
        ms = record["cookie"].get("originalMaxAge")
        if type(ms) in (int, float) and -_JS_DATE_LIMIT_MS <= ms <= _JS_DATE_LIMIT_MS:
            return math.ceil(ms / 1000)
        return self.options.ttl

    def _decoded(self, value: bytes | str, **facts: Any) -> Versioned:
        """The record of a value read, with the value as its version. The store keeps
        the last one: a write after the read (``_stored_keys``) needs its index sets,
        and need not decode it again."""
        decoded = Versioned(loads(value), version=value, **facts)
        self._last_decoded = decoded
        return decoded

    def _versioned(self, answer: Any, sent: float) -> Versioned | None:
        """The record, with the stored bytes as version (and, from the script, whether
        it touched and the expiry it left)."""
        if answer is None:
            return None
        if not isinstance(answer, list):
            return self._decoded(answer)
        value, touched, pttl = answer
        expires_at = int(sent + pttl) if pttl >= 0 else None
        return self._decoded(value, touched=bool(touched), expires_at=expires_at)

    def fresh_expiry(self, session: Record) -> int | None:
        if self.options.disable_ttl:
            return None
        return now_ms() + self.ttl_for(session) * 1000

    def _stored_keys(self, value: bytes | str) -> frozenset[str]:
        """The index sets of a stored record (none if it cannot be read); the record
        read last is not decoded again (the very value: the same object)."""
        last = self._last_decoded
        if last is not None and last.version is value:
            return self._index_keys(last.record)
        try:
            return self._index_keys(loads(value))
        except CorruptRecord:
            return frozenset()

    def _scan_batches(
        self, client: Client, prefix: str | None = None
    ) -> Iterator[list[bytes | str]]:
        """The keys under ``prefix`` (the sessions' by default, never an index set), by
        ``SCAN`` on the server or on every primary of a cluster, without repeats (SCAN
        may return a key twice), in batches of ``scanCount``."""
        prefix = self.options.prefix if prefix is None else prefix
        # The index sets lie under the sessions' prefix only when set up so (an empty
        # prefix, say): they are no sessions.
        skipped = (
            self.options.index_prefix.encode() if prefix != self.options.index_prefix else None
        )
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        if isinstance(client, cluster_classes()):
            keys = client.scan_iter(
                match=pattern, count=self.options.scan_count, target_nodes=client.PRIMARIES
            )
        else:
            keys = client.scan_iter(match=pattern, count=self.options.scan_count)
        seen: set[bytes | str] = set()
        batch: list[bytes | str] = []
        for key in keys:
            if key in seen or (skipped is not None and _bytes(key).startswith(skipped)):
                continue
            seen.add(key)
            batch.append(key)
            if len(batch) >= self.options.scan_count:
                yield batch
                batch = []
        if batch:
            yield batch
