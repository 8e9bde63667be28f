// connect-redis (node-redis 4/5 client or cluster, ioredis client or cluster): the
// record is a string key `prefix + sid` with connect-redis's TTL. The compare-and-set
// and the per-user index are the Django store's (django_express_session/stores/redis/):
// the same Lua scripts and keys, so both apps lock and list alike.
'use strict'

const { createHash } = require('node:crypto')
const { indexTerms, passportForms } = require('../owner')

// Compare-and-set: write ARGV[2] only if the key still holds ARGV[1] (what was read).
// ARGV[3] is the TTL in seconds, "none" to store without expiry (disableTTL), or <= 0
// to delete, as connect-redis's set does for an expired cookie. A missing key is never
// recreated: the session was destroyed meanwhile.
const REPLACE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'none' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
`

// Add ARGV[1] to the index set KEYS[1] and keep the set at least ARGV[2] seconds more
// ("none": for good), never shortening its expiry: the set must outlive every member.
const INDEX_ADD = `
local existed = redis.call('EXISTS', KEYS[1]) == 1
local added = redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == 'none' then
  redis.call('PERSIST', KEYS[1])
else
  local ms = tonumber(ARGV[2]) * 1000
  local pttl = redis.call('PTTL', KEYS[1])
  if not existed or (pttl >= 0 and pttl < ms) then redis.call('PEXPIRE', KEYS[1], ms) end
end
return added
`

// maxSessionsPerUser: KEYS are the user's index sets; ARGV the sessions' prefix, the
// login's id, the limit, the policy and now (ms). It lists the user's sessions, chooses
// as Django's core.limit.choose and deletes, in one step: two simultaneous logins cannot
// both stay past the limit. Returns {"refused"} or {"ended", sid...}.
const TRIM = `
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
`

// The value and its PTTL in one round trip, for touchAfter.
const READ_WITH_PTTL = `
local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.call('PTTL', KEYS[1])}
`

// An index set is kept this many times its newest member's TTL (as on the Django side).
const INDEX_HEADROOM = 2

const sha1 = (text) => createHash('sha1').update(text).digest('hex')

// One way to send a command naming `key` (a cluster routes it by that key), whichever
// client connect-redis was given.
function commandSender (client) {
  if (client && typeof client.call === 'function' && typeof client.status === 'string') {
    return (key, args) => client.call(...args) // ioredis (Redis or Cluster): routed by its key
  }
  if (client && typeof client.sendCommand === 'function') {
    if ('masters' in client) return (key, args) => client.sendCommand(key, false, args) // node-redis cluster
    return (key, args) => client.sendCommand(args)
  }
  return null
}

function fits (store) {
  return typeof store.getTTL === 'function' && 'client' in store && 'prefix' in store && 'serializer' in store
}

function make (store, options) {
  const send = commandSender(store.client)
  if (!send) throw new TypeError('share(store): the connect-redis store\'s client is neither a node-redis nor an ioredis client')
  const prefix = store.prefix
  const indexPrefix = options.indexPrefix === undefined ? 'users:' + prefix : options.indexPrefix
  if (typeof indexPrefix !== 'string' || indexPrefix === '' || indexPrefix === prefix) {
    throw new TypeError('share(): indexPrefix must be a non-empty string other than the store\'s prefix (the index sets are no sessions)')
  }
  const serializer = store.serializer
  const key = (sid) => prefix + sid
  const indexKeys = (record) => indexTerms(record).map((term) => indexPrefix + term)
  const withPttl = options.touchAfter > 0

  async function script (source, keyName, args) {
    const keyArgs = ['1', keyName, ...args.map(String)]
    try {
      return await send(keyName, ['EVALSHA', sha1(source), ...keyArgs])
    } catch (error) {
      if (!/NOSCRIPT/.test(String(error && error.message))) throw error
      return send(keyName, ['EVAL', source, ...keyArgs])
    }
  }

  // The index after a write: `sid` into the sets `add` (kept `ttl` seconds at least;
  // null: for good) and out of `remove`. Each command names one key (any cluster slot);
  // issued together, the client sends them in one round trip.
  function updateIndex (sid, add, remove, ttl) {
    const expiry = ttl === null ? 'none' : Math.max(ttl, 1) * INDEX_HEADROOM
    const calls = [...new Set(add)].sort().map((set) => script(INDEX_ADD, set, [sid, expiry]))
    for (const set of [...new Set(remove)].sort()) calls.push(send(set, ['SREM', set, sid]))
    return Promise.all(calls)
  }

  // Until when the write that stored `record` kept its index sets at least: the
  // write was at cookie.expires - originalMaxAge and kept them INDEX_HEADROOM times
  // that; null when the record does not say (a browser-session cookie, a ttl function).
  function filedUntil (record) {
    const cookie = record && record.cookie
    if (!cookie || typeof cookie.expires !== 'string' || typeof cookie.originalMaxAge !== 'number') return null
    if (typeof store.ttl === 'function' || !indexTerms(record).length) return null
    const expires = Date.parse(cookie.expires)
    return Number.isFinite(expires) ? expires + (INDEX_HEADROOM - 1) * cookie.originalMaxAge : null
  }

  function decode (value) {
    return serializer.parse(value)
  }

  function storedKeys (value) {
    try {
      const record = decode(value)
      return record && typeof record === 'object' ? indexKeys(record) : []
    } catch {
      return []
    }
  }

  return {
    indexPrefix,

    async read (sid) {
      const at = Date.now()
      let value, pttl
      if (withPttl) {
        const reply = await script(READ_WITH_PTTL, key(sid), [])
        if (!reply) return null
        ;[value, pttl] = reply
      } else {
        value = await send(key(sid), ['GET', key(sid)])
        if (value === null || value === undefined) return null
      }
      const record = await decode(value)
      if (!record) return null
      return { record, version: value, expiresAt: pttl >= 0 ? at + Number(pttl) : null, filedUntil: filedUntil(record) }
    },

    async create (sid, session) {
      const ttl = store.getTTL(session)
      const text = serializer.stringify(session)
      const written = { record: session, version: text, expiresAt: null }
      if (!(ttl > 0)) return written // already expired: connect-redis stores nothing either
      const args = store.disableTTL ? ['SET', key(sid), text, 'NX'] : ['SET', key(sid), text, 'EX', String(ttl), 'NX']
      if (!(await send(key(sid), args))) return null
      await updateIndex(sid, indexKeys(session), [], store.disableTTL ? null : ttl)
      return written
    },

    async replace (sid, merged, read) {
      const ttl = store.getTTL(merged)
      const text = serializer.stringify(merged)
      const expiry = store.disableTTL && ttl > 0 ? 'none' : Math.max(ttl, 0)
      if (Number(await script(REPLACE, key(sid), [read.version, text, expiry])) !== 1) return null
      // Only after the write took: the sets would list a session that is not theirs.
      const after = ttl > 0 ? indexKeys(merged) : []
      const before = storedKeys(read.version).filter((set) => !after.includes(set))
      await updateIndex(sid, after, before, store.disableTTL ? null : ttl)
      return { record: merged, version: text, expiresAt: null }
    },

    async touch (sid, session, read) {
      if (store.disableTouch || store.disableTTL) return
      const ttl = store.getTTL(session)
      // The sets need a new expiry only when the session may now outlive them.
      const lapses = !read || read.filedUntil == null || Date.now() + ttl * 1000 > read.filedUntil
      const sets = ttl > 0 && lapses ? indexKeys(session) : []
      // EXPIRE never creates a key (and deletes it for a TTL <= 0); the sets' expiry
      // follows the session's in the same round trip.
      await Promise.all([send(key(sid), ['EXPIRE', key(sid), String(ttl)]), sets.length ? updateIndex(sid, sets, [], ttl) : null])
    },

    async destroy (sid) {
      // GET and DEL together (GETDEL needs Redis 6.2): the value names the sets to leave.
      const [value] = await Promise.all([send(key(sid), ['GET', key(sid)]), send(key(sid), ['DEL', key(sid)])])
      if (value !== null && value !== undefined) {
        const sets = storedKeys(value)
        if (sets.length) await updateIndex(sid, [], sets, null)
      }
    },

    // maxSessionsPerUser after passport's login (guard()): the script above, on the
    // sets of every form of passport.user (as the Django store files them).
    async trimSessions (passportUser, sid, limit, policy) {
      const sets = [...new Set(passportForms(passportUser).flatMap((user) => indexKeys({ passport: { user } })))].sort()
      const args = ['EVAL', TRIM, String(sets.length), ...sets, prefix, sid, String(limit), policy, String(Date.now())]
      const [outcome, ...ended] = (await send(sets[0] || key(sid), args)).map(String)
      return { refused: outcome === 'refused', ended }
    },

    freshExpiry (session) {
      if (store.disableTTL) return null
      return Date.now() + store.getTTL(session) * 1000
    }
  }
}

module.exports = { fits, make }
