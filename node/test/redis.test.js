'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const { createClient } = require('redis')
const { RedisStore } = require('connect-redis')
const { share } = require('..')
const { startRedis } = require('./support/servers')
const { startApp } = require('./support/app')
const { get } = require('./support/http')
const { contract } = require('./support/contract')

let server, admin

const fixture = {
  async start () {
    server = await startRedis()
    admin = createClient({ url: server.url })
    await admin.connect()
  },
  async makeStore () {
    const client = createClient({ url: server.url })
    client.on('error', () => {})
    await client.connect()
    return { store: new RedisStore({ client }), close: () => client.isOpen ? client.close() : undefined }
  },
  processConfig: () => ({ kind: 'redis', url: server.url }),
  raw: (sid) => admin.get('sess:' + sid),
  corrupt: (sid) => admin.set('sess:' + sid, '{"cookie":'),
  async stop () {
    await admin.close()
    await server.stop()
  }
}

contract('connect-redis (node-redis)', fixture, ({ twoApps, sidOf }) => {
  it('files Express logins in the per-user index, and unfiles them at logout', async () => {
    const { apps, close } = await twoApps(fixture)
    try {
      const login = await get(apps[0].port, '/login?user=alice')
      const sid = sidOf(login.cookie)
      assert.deepEqual(await admin.sMembers('users:sess:p:"alice"'), [sid])
      const ttl = await admin.ttl('users:sess:p:"alice"')
      assert.ok(ttl > 3600 && ttl <= 7200, `set TTL ${ttl}`)
      await get(apps[1].port, '/django-login?id=42', login.cookie)
      assert.deepEqual(await admin.sMembers('users:sess:d:42'), [sid])
      await get(apps[1].port, '/logout', login.cookie)
      assert.deepEqual(await admin.sMembers('users:sess:p:"alice"'), [])
      assert.deepEqual(await admin.sMembers('users:sess:d:42'), [])
    } finally {
      await close()
    }
  })

  it('renews the index sets on a touch only when the session may outlive them', async () => {
    const { apps, close } = await twoApps(fixture)
    try {
      const login = await get(apps[0].port, '/login?user=erin')
      const key = 'sess:' + sidOf(login.cookie)
      const set = 'users:sess:p:"erin"'
      // Written just now: the sets outlast the refreshed session, the touch spares them.
      await admin.expire(set, 100)
      await get(apps[1].port, '/session', login.cookie)
      assert.ok(await admin.ttl(set) <= 100)
      // Written long ago (its cookie.expires is stale, as touches leave it): renewed.
      const record = JSON.parse(await admin.get(key))
      record.cookie.expires = new Date(Date.now() - 10000).toISOString()
      await admin.set(key, JSON.stringify(record), { KEEPTTL: true })
      await get(apps[1].port, '/session', login.cookie)
      assert.ok(await admin.ttl(set) > 7000, `set TTL ${await admin.ttl(set)}`)
    } finally {
      await close()
    }
  })

  it('files under indexPrefix', async () => {
    const { apps, close } = await twoApps(fixture, { shareOptions: { indexPrefix: 'who:' } })
    try {
      const login = await get(apps[0].port, '/login?user=bob')
      assert.deepEqual(await admin.sMembers('who:p:"bob"'), [sidOf(login.cookie)])
    } finally {
      await close()
    }
  })

  it('spares touches within touchAfter', async () => {
    for (const [touchAfter, refreshed] of [[0, true], [600, false]]) {
      const { apps, close } = await twoApps(fixture, { shareOptions: { touchAfter } })
      try {
        const first = await get(apps[0].port, '/set?a=1')
        const key = 'sess:' + sidOf(first.cookie)
        await admin.expire(key, 3300)
        await get(apps[0].port, '/session', first.cookie)
        const ttl = await admin.ttl(key)
        assert.equal(ttl > 3300, refreshed, `touchAfter ${touchAfter}: TTL ${ttl}`)
      } finally {
        await close()
      }
    }
  })

  it('gives up with SessionConflictError, writing nothing, when the session keeps changing', async () => {
    // Another writer changes the record after every read of this app's and before its
    // write: the store's serializer (connect-redis's own option) calls it in parse().
    let other = null
    const serializer = {
      stringify: JSON.stringify,
      async parse (text) {
        if (other) await other()
        return JSON.parse(text)
      }
    }
    const client = createClient({ url: server.url })
    await client.connect()
    const app = await startApp(share(new RedisStore({ client, serializer })))
    try {
      const first = await get(app.port, '/set?a=1')
      const key = 'sess:' + sidOf(first.cookie)
      let writes = 0
      other = async () => {
        const record = JSON.parse(await admin.get(key))
        await admin.set(key, JSON.stringify({ ...record, n: ++writes }), { EX: 600 })
      }
      const answer = await get(app.port, '/save?mine=1', first.cookie)
      other = null
      assert.equal(answer.body.error, 'ESESSIONCONFLICT')
      assert.equal(writes, 20) // the get, then a re-read before each of the 19 retries
      const stored = JSON.parse(await admin.get(key))
      assert.equal(stored.mine, undefined)
      assert.equal(stored.n, 20)
    } finally {
      await app.close()
      await client.close()
    }
  })

  it('refuses a store it does not know, and a second wrap', () => {
    assert.throws(() => share(new (require('express-session').MemoryStore)()), /not a store share\(\) knows/)
  })

  it('works with an ioredis client', async () => {
    const Redis = require('ioredis')
    const clients = [new Redis(server.url), new Redis(server.url)]
    const apps = await Promise.all(clients.map((client) => startApp(share(new RedisStore({ client })))))
    try {
      const first = await get(apps[0].port, '/login?user=carol')
      await get(apps[1].port, '/set?b=2', first.cookie)
      const stored = JSON.parse(await admin.get('sess:' + sidOf(first.cookie)))
      assert.deepEqual(stored.passport, { user: 'carol' })
      assert.equal(stored.b, '2')
      assert.deepEqual(await admin.sMembers('users:sess:p:"carol"'), [sidOf(first.cookie)])
      await get(apps[1].port, '/logout', first.cookie)
      assert.equal(await admin.get('sess:' + sidOf(first.cookie)), null)
    } finally {
      await Promise.all(apps.map((app) => app.close()))
      clients.forEach((client) => client.disconnect())
    }
  })
})
