"""Sessions in Redis, in connect-redis's layout (v4 and later).

Each session is a Redis string ``prefix + sid`` holding the session's JSON, with a key
TTL of ``ceil((cookie.expires - now) / 1000)`` seconds, or the ``ttl`` option when the
cookie has no expiry; a TTL of zero or less deletes the key. connect-redis's ``touch``
only moves the TTL and leaves the stored ``cookie.expires`` stale; so does this store.
Redis expires keys itself, so there is nothing to prune.

Round trips: ``read(touch=True)`` reads and refreshes the TTL in one Lua script, a
compare-and-set ``replace`` is one script, ``create`` is one ``SET NX``. Everything goes
to the primary: a lagging replica must not log anyone out. The bulk methods use
``SCAN`` (never ``KEYS``), on every primary of a cluster.

A user's sessions are listed from a per-user index that only Django keeps (connect-redis
has none): a Redis set of session ids per user key (``indexPrefix`` + ``d:<Django user
id>`` or ``p:<passport.user as JSON>``), updated after each write and destroy by a
command of its own (each command names one key, so it runs on any cluster slot), with
an expiry of twice its longest member's TTL, so that most touches need no command for
it. Members whose record expired or changed hands are dropped when read. An Express app
whose store is wrapped by the npm package's ``share()`` keeps the same sets; records a
stock connect-redis store wrote are in no set until Django writes them, ``reindex()``
(``SCAN``) adds them, or a ``thorough`` ``sessions_of`` (what ``logout_everywhere`` asks
for) scans for them.

Async requests talk to Redis through ``redis.asyncio`` (one client per running event
loop, built from the same settings as the sync client), never through a thread. Every
command waits at most about ``timeout`` seconds, whatever the client's retry policy.

Redis is reached through a django-redis or django-valkey alias, a redis-py or valkey-py
client (``libraries``: the store builds its own clients with the given one's library),
or Redis Sentinel (``sentinels``, ``service``, ``sentinelOptions``: always the primary).
"""

from .store import RedisStore

__all__ = ["RedisStore"]
