// connect-pg-simple: a row (sid, sess json, expire timestamp) per session. The
// compare-and-set is the Django store's (django_express_session/stores/database.py): an
// UPDATE ... WHERE sess::text = <the text read> AND the row has not expired, checked by
// RETURNING; a new session is an INSERT that may only take over an expired row. The
// statements go through the store's own query(), on its pool (or pg-promise).
'use strict'

const { stock } = require('./stock')

const ONE_DAY = 86400

function fits (store) {
  return typeof store.quotedTable === 'function' && typeof store.query === 'function'
}

const nowSeconds = () => Math.ceil(Date.now() / 1000)

function make (store) {
  const table = () => store.quotedTable()
  const query = (sql, params) => stock(store, 'query', sql, params)
  // connect-pg-simple's expiry: cookie.expires rounded up to the second, else now + ttl.
  const expireOf = (session) => {
    const expires = session && session.cookie && session.cookie.expires
    if (expires) return Math.ceil(new Date(expires).valueOf() / 1000)
    return Math.ceil(Date.now() / 1000 + (store.ttl || ONE_DAY))
  }
  // The expire column back as epoch seconds: it holds the wall-clock time of the
  // connection's TimeZone (node-postgres sets none: the server's default).
  const expireRead = "extract(epoch from (expire AT TIME ZONE current_setting('TimeZone')))"

  return {
    async read (sid) {
      const row = await query(
        `SELECT sess::text AS sess, ${expireRead} AS expire FROM ${table()} WHERE sid = $1 AND expire >= to_timestamp($2)`,
        [sid, nowSeconds()]
      )
      if (!row) return null
      return { record: JSON.parse(row.sess), version: row.sess, expiresAt: Number(row.expire) * 1000 }
    },

    async create (sid, session) {
      const text = JSON.stringify(session)
      const expire = expireOf(session)
      const row = await query(
        `INSERT INTO ${table()} AS stored (sess, expire, sid) VALUES ($1, to_timestamp($2), $3) ` +
        'ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire ' +
        'WHERE stored.expire < to_timestamp($4) RETURNING sid',
        [text, expire, sid, nowSeconds()]
      )
      return row ? { record: session, version: text, expiresAt: expire * 1000 } : null
    },

    async replace (sid, merged, read) {
      const text = JSON.stringify(merged)
      const expire = expireOf(merged)
      const row = await query(
        `UPDATE ${table()} SET sess = $1, expire = to_timestamp($2) ` +
        'WHERE sid = $3 AND sess::text = $4 AND expire >= to_timestamp($5) RETURNING sid',
        [text, expire, sid, read.version, nowSeconds()]
      )
      return row ? { record: merged, version: text, expiresAt: expire * 1000 } : null
    },

    // The stock touch: it moves expire only (an UPDATE never creates a row), and it
    // knows the store's disableTouch.
    touch: (sid, session) => stock(store, 'touch', sid, session),

    destroy: (sid) => stock(store, 'destroy', sid),

    freshExpiry: (session) => expireOf(session) * 1000
  }
}

module.exports = { fits, make }
