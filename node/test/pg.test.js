'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const session = require('express-session')
const { Pool } = require('pg')
const PgStore = require('connect-pg-simple')(session)
const { startPostgres } = require('./support/servers')
const { get } = require('./support/http')
const { contract } = require('./support/contract')

let server, admin

// connect-pg-simple's table.sql
const TABLE = `
CREATE TABLE "session" ("sid" varchar NOT NULL COLLATE "default", "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)
WITH (OIDS=FALSE);
ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX "IDX_session_expire" ON "session" ("expire");`

const fixture = {
  async start () {
    server = await startPostgres()
    admin = new Pool({ connectionString: server.url })
    await admin.query(TABLE.replace('WITH (OIDS=FALSE)', ''))
  },
  async makeStore () {
    const pool = new Pool({ connectionString: server.url })
    const store = new PgStore({ pool, pruneSessionInterval: false })
    return { store, close: () => pool.ended ? undefined : pool.end() }
  },
  async raw (sid) {
    const { rows } = await admin.query('SELECT sess::text AS sess, expire::text AS expire FROM session WHERE sid = $1', [sid])
    return rows.length ? rows[0].sess : null
  },
  age: (sid, seconds) => admin.query(`UPDATE session SET expire = expire - make_interval(secs => $1) WHERE sid = $2`, [seconds, sid]),
  async expiresAt (sid) {
    const { rows } = await admin.query("SELECT extract(epoch from (expire AT TIME ZONE current_setting('TimeZone'))) AS expire FROM session WHERE sid = $1", [sid])
    return Number(rows[0].expire) * 1000
  },
  corrupt: (sid) => admin.query('UPDATE session SET sess = $1 WHERE sid = $2', ['{"cookie":"none"}', sid]),
  async stop () {
    await admin.end()
    await server.stop()
  }
}

contract('connect-pg-simple', fixture, ({ twoApps, sidOf }) => {
  it('writes the expire column the stock store writes', async () => {
    const { apps, close } = await twoApps(fixture)
    try {
      const first = await get(apps[0].port, '/set?a=1')
      const sid = sidOf(first.cookie)
      await get(apps[1].port, '/set?b=1', first.cookie)
      // (the column holds the wall-clock time of the server's TimeZone, New York here)
      const { rows: [row] } = await admin.query(
        "SELECT sess, extract(epoch from (expire AT TIME ZONE current_setting('TimeZone'))) AS expire FROM session WHERE sid = $1", [sid])
      assert.equal(Number(row.expire), Math.ceil(Date.parse(row.sess.cookie.expires) / 1000))
    } finally {
      await close()
    }
  })
})
