// connect-pg-simple 10 with a node-postgres Pool, as an Express app would configure it.
//
// Options: `connectionString` (a postgresql:// URL, for the Pool); everything else goes
// to PgStore as is (tableName, schemaName, ttl, createTableIfMissing, disableTouch).
// Pruning is off unless `pruneSessionInterval` is given: a test process must exit.
'use strict'

exports.make = async function make (session, options, packages) {
  const { Pool } = packages.require('pg')
  const PgStore = packages.require('connect-pg-simple')(session)
  const { connectionString, ...storeOptions } = options
  const pool = new Pool({ connectionString })
  const store = new PgStore({ pool, pruneSessionInterval: false, ...storeOptions })
  return {
    store,
    async close () {
      store.close()
      await pool.end()
    }
  }
}
