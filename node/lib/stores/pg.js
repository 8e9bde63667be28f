// connect-pg-simple: a row (sid, sess json, expire timestamp) per session. The
// compare-and-set is the Django store's (django_express_session/stores/database.py): an
// UPDATE ... WHERE sess::text = <the text read> AND the row has not expired, checked by
// RETURNING; a new session is an INSERT that may only take over an expired row. The
// statements go through the store's own query(), on its pool (or pg-promise).
'use strict'

const { stock } = require('./stock')
const { passportForms, sortedJson } = require('../owner')
const { chooseEnded, lastUsedMs } = require('../limit')

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

    // maxSessionsPerUser after passport's login (guard()): the user's live rows, the
    // rule, one DELETE. connect-pg-simple keeps its pool to itself, so no statement here
    // can hold Django's advisory lock across the listing and the DELETE: two logins at
    // the same moment on Express are not kept apart (the documentation says so).
    async trimSessions (passportUser, sid, limit, policy) {
      const wanted = new Set(passportForms(passportUser).map(sortedJson))
      // One row (connect-pg-simple's query() gives the first row only): the rows as JSON.
      const found = await query(
        `SELECT json_agg(json_build_object('sid', sid, 'sess', sess::text)) AS rows FROM ${table()} ` +
        `WHERE expire >= to_timestamp($1) AND sess::text LIKE '%"passport"%'`,
        [nowSeconds()]
      )
      const lastUsed = {}
      for (const row of (found && found.rows) || []) {
        let record
        try { record = JSON.parse(row.sess) } catch { continue }
        const passport = record && record.passport
        if (passport && typeof passport === 'object' && wanted.has(sortedJson(passport.user))) {
          lastUsed[row.sid] = lastUsedMs(record)
        }
      }
      const chosen = chooseEnded(lastUsed, sid, limit, policy)
      const gone = chosen.refused ? [sid] : chosen.ended
      if (gone.length) await query(`DELETE FROM ${table()} WHERE sid = ANY($1)`, [gone])
      return chosen
    },

    freshExpiry: (session) => expireOf(session) * 1000
  }
}

module.exports = { fits, make }
