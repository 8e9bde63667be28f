"""``maxSessionsPerUser`` on Redis: one script lists the user's sessions from the
index sets, chooses as ``core.limit.choose`` does, and deletes, so two simultaneous
logins of one user cannot both stay past the limit. The npm package runs the same
script on the same keys for Express logins."""

from __future__ import annotations

from typing import Any

from ...core.limit import Trimmed
from ...core.ops import Plan
from ...owner import Owner
from ...record import now_ms
from .clients import Call, RedisCluster
from .layout import _text

# KEYS: the user's index sets. ARGV: the sessions' key prefix, the new login's id, the
# limit, the policy ("refuse" or "endOldest"), now (epoch ms). A session's last use is
# the later of djangoExpressSession.lastSeenAt and the moment its expiry was last set
# (now + PTTL - cookie.originalMaxAge). Returns {"refused"} or {"ended", sid...}.
TRIM = """
local prefix, keep, limit, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local seen, others, count = {}, {}, 0
local function last_used(value, pttl)
  local ok, record = pcall(cjson.decode, value)
  local last = 0
  if not ok or type(record) ~= 'table' then return last end
  local own, cookie = record.djangoExpressSession, record.cookie
  if type(own) == 'table' then
    for _, name in ipairs({'lastSeenAt', 'authAt', 'createdAt', 'startedAt'}) do
      if type(own[name]) == 'number' then last = math.max(last, own[name]) end
    end
  end
  if pttl >= 0 and type(cookie) == 'table' and type(cookie.originalMaxAge) == 'number' then
    last = math.max(last, now + pttl - cookie.originalMaxAge)
  end
  return last
end
local function consider(sid)
  if seen[sid] then return end
  seen[sid] = true
  local value = redis.call('GET', prefix .. sid)
  if not value then return end
  count = count + 1
  if sid ~= keep then
    table.insert(others, {sid, last_used(value, redis.call('PTTL', prefix .. sid))})
  end
end
consider(keep)
if count == 0 then return {'refused'} end -- ended meanwhile by a simultaneous login
for _, set in ipairs(KEYS) do
  for _, sid in ipairs(redis.call('SMEMBERS', set)) do consider(sid) end
end
if count <= limit then return {'ended'} end
local function drop(sid)
  redis.call('DEL', prefix .. sid)
  for _, set in ipairs(KEYS) do redis.call('SREM', set, sid) end
end
if ARGV[4] == 'refuse' then
  drop(keep)
  return {'refused'}
end
table.sort(others, function (a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
local ended = {'ended'}
for i = 1, count - limit do
  drop(others[i][1])
  table.insert(ended, others[i][1])
end
return ended
"""


class SessionLimit:
    """``trim_sessions`` of a ``RedisStore`` (a mixin over ``UserIndex`` and
    ``RedisLayout``): the script above, in one round trip. A cluster keeps a user's
    sets and sessions in other slots than one script may touch: there the store's
    default, unlocked path runs (the documentation says so)."""

    def trim_sessions(self, owner: Owner, keep: str, limit: int, policy: str) -> Trimmed:
        if isinstance(self.redis, RedisCluster):
            return super().trim_sessions(owner, keep, limit, policy)
        return self._planned(self._trim(owner, keep, limit, policy))

    def _trim(self, owner: Owner, keep: str, limit: int, policy: str) -> Plan[Trimmed]:
        keys = sorted(self.index_key(term) for term in owner.index_terms())
        args = [self.options.prefix, keep, limit, policy, now_ms()]

        def call(c: Any) -> Any:
            return c.client.execute_command("EVAL", TRIM, len(keys), *keys, *args)

        outcome, *sids = [_text(item) for item in (yield Call(call))]
        if outcome == "refused":
            return Trimmed(refused=True)
        return Trimmed(ended=tuple(sids))
