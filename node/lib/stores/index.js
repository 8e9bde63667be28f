// Which backend speaks to a wrapped store's database, told by the store's own public
// shape. Each backend gives share() the same five primitives as the Django stores:
//
//   read(sid)                   -> null | {record, version, expiresAt}; rejects where
//                                  the stock store's get() would give an error
//   create(sid, session)        -> the written {record, version, expiresAt}, or null
//                                  when the id is taken (never overwritten)
//   replace(sid, merged, read)  -> written, or null when the stored record is no longer
//                                  `read.version` or is gone (never recreated)
//   touch(sid, session, read)   -> moves the expiry only, never recreates a record
//   destroy(sid)
//   freshExpiry(session)        -> the expiry (epoch ms) a write or touch now gives, or
//                                  null when unknown (touchAfter then always touches)
'use strict'

const redis = require('./redis')
const pg = require('./pg')
const mongo = require('./mongo')
const file = require('./file')
const memcached = require('./memcached')

const BACKENDS = [redis, pg, mongo, file, memcached]

const KNOWN = 'connect-redis, connect-pg-simple, connect-mongo, session-file-store and connect-memcached stores'

function backendFor (store, options) {
  for (const backend of BACKENDS) {
    if (backend.fits(store)) return backend.make(store, options)
  }
  const name = store.constructor && store.constructor.name
  throw new TypeError(
    `share(store): ${name || 'this store'} is not a store share() knows; it wraps ${KNOWN}`
  )
}

module.exports = { backendFor }
