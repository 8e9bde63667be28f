'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const session = require('express-session')
const Memcached = require('memcached')
const MemcachedStore = require('connect-memcached')(session)
const { startMemcached } = require('./support/servers')
const { share } = require('..')
const { startApp } = require('./support/app')
const { get } = require('./support/http')
const { contract } = require('./support/contract')

let server, admin

const call = (method, ...args) => new Promise((resolve, reject) => admin[method](...args, (error, value) => (error ? reject(error) : resolve(value))))

// The item's bytes and flags, as memcached holds them (a raw `gets` over the text protocol).
function rawItem (key) {
  return new Promise((resolve, reject) => {
    const socket = require('node:net').connect(server.port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk
      if (text.endsWith('END\r\n')) {
        socket.end()
        const match = /^VALUE \S+ (\d+) \d+\r\n([\s\S]*)\r\nEND\r\n$/.exec(text)
        resolve(match ? { flags: Number(match[1]), value: match[2] } : null)
      }
    })
    socket.on('error', reject)
    socket.write(`get ${key}\r\n`)
  })
}

const fixture = {
  async start () {
    server = await startMemcached()
    admin = new Memcached(`127.0.0.1:${server.port}`, { retries: 0 })
  },
  async makeStore () {
    const store = new MemcachedStore({ hosts: [`127.0.0.1:${server.port}`], retries: 0, timeout: 500, failures: 0, retry: 100 })
    return { store, close: () => store.client.end() }
  },
  // Its own memcached, stopped for the outage.
  async makeLoneStore () {
    const own = await startMemcached()
    // (remove: a dead server leaves the ring instead of a reconnect timer keeping the test alive)
    const store = new MemcachedStore({ hosts: [`127.0.0.1:${own.port}`], retries: 0, timeout: 500, failures: 0, retry: 100, remove: true })
    return { store, outage: () => own.stop(), close: () => store.client.end() }
  },
  async raw (sid) {
    const item = await rawItem(sid)
    return item ? `${item.flags} ${item.value}` : null
  },
  async record (sid) {
    return JSON.parse((await rawItem(sid)).value)
  },
  // (under touchAfter the item's cookie.expires is its expiry: memcached tells no TTL)
  async age (sid, seconds) {
    const record = await fixture.record(sid)
    record.cookie.expires = new Date(Date.parse(record.cookie.expires) - seconds * 1000).toISOString()
    await call('set', sid, record, 3600)
  },
  expiresAt: async (sid) => Date.parse((await fixture.record(sid)).cookie.expires),
  corrupt: (sid) => call('set', sid, '{"cookie":', 600),
  async stop () {
    admin.end()
    await server.stop()
  }
}

contract('connect-memcached', fixture, ({ twoApps, sidOf }) => {
  it('keeps a session whose cookie lasts over 30 days (memcached reads that lifetime as a date)', async () => {
    const { apps, close } = await twoApps(fixture, { sessionOptions: { cookie: { maxAge: 40 * 86400 * 1000 } } })
    try {
      const first = await get(apps[0].port, '/set?a=1')
      await get(apps[1].port, '/set?b=2', first.cookie)
      const stored = await fixture.record(sidOf(first.cookie))
      assert.deepEqual([stored.a, stored.b], ['1', '2'])
    } finally {
      await close()
    }
  })

  it('reads and writes through a client namespace', async () => {
    const store = new MemcachedStore({ client: new Memcached(`127.0.0.1:${server.port}`, { namespace: 'ns:', retries: 0 }) })
    const app = await startApp(share(store))
    try {
      const first = await get(app.port, '/set?a=1')
      await get(app.port, '/set?b=2', first.cookie)
      const stored = JSON.parse((await rawItem('ns:' + sidOf(first.cookie))).value)
      assert.deepEqual([stored.a, stored.b], ['1', '2'])
    } finally {
      await app.close()
      store.client.end()
    }
  })

  it('stores the session as node-memcached stores an object: JSON, flag 2', async () => {
    const { apps, close } = await twoApps(fixture)
    try {
      const first = await get(apps[0].port, '/set?a=1')
      await get(apps[1].port, '/set?b=1', first.cookie)
      const item = await rawItem(sidOf(first.cookie))
      assert.equal(item.flags, 2)
      assert.deepEqual(Object.keys(JSON.parse(item.value)), ['cookie', 'a', 'b'])
    } finally {
      await close()
    }
  })
})
