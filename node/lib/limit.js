// The per-user session limit on the Express side (maxSessionsPerUser, onSessionLimit):
// chooseEnded() is Django's core.limit.choose, which guard() applies after passport's
// login through the shared store's trimSessions (connect-redis: the Django store's
// script; connect-pg-simple: Django's advisory lock, then the same rule).
'use strict'

const OWN_KEY = 'djangoExpressSession'
const POLICIES = ['endOldest', 'refuse']
// The record's own moments that tell of a use, as Django's core.limit.USE_MOMENTS.
const USE_MOMENTS = ['lastSeenAt', 'authAt', 'createdAt', 'startedAt']

function isPlainObject (value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function lastUsedMs (record, storeExpiresAt = null) {
  const own = isPlainObject(record) && isPlainObject(record[OWN_KEY]) ? record[OWN_KEY] : {}
  let last = 0
  for (const name of USE_MOMENTS) {
    if (typeof own[name] === 'number' && Number.isFinite(own[name])) last = Math.max(last, Math.trunc(own[name]))
  }
  const cookie = isPlainObject(record) ? record.cookie : null
  const maxAge = isPlainObject(cookie) ? cookie.originalMaxAge : null
  if (typeof maxAge !== 'number') return last
  let expires = storeExpiresAt
  if (expires === null && typeof cookie.expires === 'string') expires = Date.parse(cookie.expires)
  return Number.isFinite(expires) ? Math.max(last, Math.trunc(expires - maxAge)) : last
}

// Django's core.limit.choose: {refused} or {ended: [sid...]} for the user's live
// sessions (sid -> last use) once the new login `keep` is stored.
function chooseEnded (lastUsed, keep, limit, policy) {
  if (!(keep in lastUsed)) return { refused: true, ended: [] }
  const sids = Object.keys(lastUsed)
  if (sids.length <= limit) return { refused: false, ended: [] }
  if (policy === 'refuse') return { refused: true, ended: [] }
  const others = sids.filter((sid) => sid !== keep)
    .sort((a, b) => (lastUsed[a] - lastUsed[b]) || (a < b ? -1 : a > b ? 1 : 0))
  return { refused: false, ended: others.slice(0, sids.length - limit) }
}

function parseLimit (options) {
  const { maxSessionsPerUser = null, onSessionLimit = 'endOldest' } = options
  if (maxSessionsPerUser !== null && typeof maxSessionsPerUser !== 'function' &&
      !(Number.isInteger(maxSessionsPerUser) && maxSessionsPerUser >= 1)) {
    throw new TypeError(`guard(): maxSessionsPerUser must be a whole number from 1, a function (user) => number | null, or null, not ${maxSessionsPerUser}`)
  }
  if (!POLICIES.includes(onSessionLimit)) {
    throw new TypeError(`guard(): onSessionLimit must be "endOldest" or "refuse", not ${JSON.stringify(onSessionLimit)}`)
  }
  return { maxSessionsPerUser, onSessionLimit }
}

async function limitFor (config, user) {
  const value = typeof config.maxSessionsPerUser === 'function' ? await config.maxSessionsPerUser(user) : config.maxSessionsPerUser
  if (value === null || value === undefined) return null
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new TypeError(`guard(): maxSessionsPerUser(user) gave ${value}; it must give a whole number from 1, or null for no limit`)
  }
  return value
}

// After passport's login stored the session: count it against the limit. Returns the
// limit when the login is refused (its session is gone), else null.
async function enforceLimit (req, user, config) {
  const limit = config.maxSessionsPerUser === null ? null : await limitFor(config, user)
  if (limit === null) return null
  const store = req.sessionStore
  const backend = store && store.backend
  if (!backend || typeof backend.trimSessions !== 'function') {
    throw new TypeError('guard(): maxSessionsPerUser needs the session store wrapped by share(), over connect-redis or connect-pg-simple')
  }
  const passportUser = isPlainObject(req.session.passport) ? req.session.passport.user : undefined
  const trimmed = await backend.trimSessions(passportUser, req.sessionID, limit, config.onSessionLimit)
  return trimmed.refused ? limit : null
}

module.exports = { chooseEnded, lastUsedMs, parseLimit, enforceLimit }
