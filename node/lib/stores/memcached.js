// connect-memcached: an item `prefix + sid` holding the session as node-memcached
// stores an object (JSON, flag 2). The compare-and-set is the Django store's
// (django_express_session/stores/cache.py): memcached's own gets/cas; a new session is
// an `add`, which fails if the item exists; a touch is memcached's `touch` (a new
// expiry, never a new item: the stock touch re-sets the whole value).
'use strict'

const { stock } = require('./stock')

const ONE_DAY = 86400
// memcached reads an expiration time over 30 days as an absolute unix time, parsed as a
// signed 32-bit number.
const RELATIVE_LIMIT = 30 * ONE_DAY
const LATEST_EXPTIME = 2 ** 31 - 1

// The expiration time memcached must be sent for `lifetime` seconds, as the Django store
// sends it: connect-memcached sends it raw, so 0 (a cookie under a second from its end)
// never expires and over 30 days is a moment of 1970 (the item vanishes).
function exptime (lifetime) {
  if (lifetime <= 0) return -1
  if (lifetime > RELATIVE_LIMIT) return Math.min(Math.floor(Date.now() / 1000) + lifetime, LATEST_EXPTIME)
  return lifetime
}

function fits (store) {
  return typeof store.getKey === 'function' && store.client && typeof store.client.gets === 'function' &&
    typeof store.client.cas === 'function'
}

function make (store, options) {
  if (store.secret) {
    throw new TypeError('share(store): an encrypted connect-memcached store (secret) is not supported (Django cannot read it either)')
  }
  const client = store.client
  const call = (method, ...args) => stock(client, method, ...args)
  // connect-memcached's lifetime: its ttl, else the cookie's remaining whole seconds,
  // else a day (sent as memcached reads it).
  const lifetimeOf = (session) => {
    const maxAge = session.cookie && session.cookie.maxAge
    return exptime(store.ttl || (typeof maxAge === 'number' ? (maxAge / 1000) | 0 : ONE_DAY))
  }
  // Under touchAfter with no numeric ttl, the item's cookie says when it expires (a
  // touch then rewrites the cookie, as on the Django side): memcached gives no item's
  // expiry back.
  const expiryInValue = options.touchAfter > 0 && !store.ttl
  const expiresOf = (record) => {
    const expires = record && record.cookie && record.cookie.expires
    return expires ? new Date(expires).getTime() : null
  }

  async function gets (sid) {
    const found = await call('gets', store.getKey(sid))
    // (the reply names the item by its full key: the client's namespace comes first)
    const key = (client.namespace || '') + store.getKey(sid)
    if (!found || !(key in found)) return null
    return { record: found[key], version: found.cas, expiresAt: expiryInValue ? expiresOf(found[key]) : null }
  }

  return {
    read: gets,

    async create (sid, session) {
      try {
        await call('add', store.getKey(sid), session, lifetimeOf(session))
      } catch (error) {
        if (error && error.notStored) return null
        throw error
      }
      return { record: session, version: null, expiresAt: null }
    },

    async replace (sid, merged, read) {
      // Written by this request (add and cas give no token): share() re-reads and merges.
      if (read.version === null) return null
      const stored = await call('cas', store.getKey(sid), merged, read.version, lifetimeOf(merged))
      return stored ? { record: merged, version: null, expiresAt: null } : null
    },

    async touch (sid, session) {
      if (!expiryInValue) {
        await call('touch', store.getKey(sid), lifetimeOf(session))
        return
      }
      const current = await gets(sid)
      if (!current) return
      current.record.cookie = session.cookie
      await call('cas', store.getKey(sid), current.record, current.version, lifetimeOf(session))
    },

    destroy: (sid) => stock(store, 'destroy', sid),

    freshExpiry: (session) => (expiryInValue ? expiresOf(session) : null)
  }
}

module.exports = { fits, make }
