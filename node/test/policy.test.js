'use strict'

// The session policy on the Express side: where each store keeps it, and what is
// logged at start-up when Django's published policy differs (the Python interop suite
// checks the other direction: `manage.py check` against a real Express app).
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const session = require('express-session')
const { createClient } = require('redis')
const { RedisStore } = require('connect-redis')
const { Pool } = require('pg')
const { MongoClient } = require('mongodb')
const MongoStore = require('connect-mongo').default || require('connect-mongo').MongoStore
const FileStore = require('session-file-store')(session)
const MemcachedStore = require('connect-memcached')(session)
const { share } = require('..')
const { startPolicy, checkPolicy, publishPolicy, policyOf, fingerprint } = require('../lib/policy')
const { startRedis, startPostgres, startMongoeco, startMemcached, tempDir } = require('./support/servers')
const { startApp } = require('./support/app')
const { get } = require('./support/http')

const SESSION = { secret: 'keyboard cat', resave: false, saveUninitialized: false, cookie: { maxAge: 60000 } }

// Django's policy for the same settings, as django_express_session.policy writes it.
function djangoPolicy (changes = {}) {
  return {
    format: 1,
    side: 'django',
    publishedAt: '2026-12-07T00:00:00.000Z',
    name: 'connect.sid',
    secretFingerprints: [fingerprint('keyboard cat')],
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: { maxAge: 60000 },
    absoluteMaxAge: null,
    absoluteMaxAgeFrom: 'start',
    touchAfter: 0,
    passport: null,
    ...changes
  }
}

// Start the policy with a log that keeps its lines.
async function started (store, options) {
  const lines = []
  const found = await startPolicy(store, { session: SESSION, ...options, log: (line) => lines.push(line) })
  return { found, lines }
}

it('fingerprints a secret as the Django side does (an HMAC of a constant keyed by it)', () => {
  // django_express_session.policy.fingerprint('keyboard cat')
  assert.equal(fingerprint('keyboard cat'), 'c8618227e5435791147e3772d34d9a0d2ce169c422e3da2804930d1d9db35cc8')
  const policy = policyOf({ session: { ...SESSION, secret: ['new', 'old'] } })
  assert.deepEqual(policy.secretFingerprints, [fingerprint('new'), fingerprint('old')])
  assert.ok(!JSON.stringify(policy).includes('keyboard cat'))
})

it('fills in express-session\'s defaults for options left out', () => {
  const policy = policyOf({ session: { secret: 's' } })
  assert.equal(policy.name, 'connect.sid')
  assert.equal(policy.resave, true)
  assert.equal(policy.saveUninitialized, true)
  assert.equal(policy.rolling, false)
  assert.deepEqual(policy.cookie, { maxAge: null })
  assert.ok(!('name' in policyOf({})), 'without the session options, they are not stated')
})

// Each store: the place both sides read and write, and that it is no session.
const STORES = {
  async redis () {
    const server = await startRedis()
    const client = createClient({ url: server.url })
    await client.connect()
    const store = new RedisStore({ client })
    return {
      store,
      writeDjango: (text) => client.set('policy:sess:django', text),
      readExpress: () => client.get('policy:sess:express'),
      sessions: async () => (await client.keys('sess:*')).length,
      async stop () { await client.close(); await server.stop() }
    }
  },
  async memcached () {
    const server = await startMemcached()
    const store = new MemcachedStore({ hosts: `127.0.0.1:${server.port}`, prefix: 'app:', retries: 0 })
    const call = (method, ...args) => new Promise((resolve, reject) => store.client[method](...args, (e, v) => (e ? reject(e) : resolve(v))))
    return {
      store,
      writeDjango: (text) => call('set', 'policy:app:django', text, 0),
      readExpress: () => call('get', 'policy:app:express'),
      sessions: async () => 0,
      async stop () { store.client.end(); await server.stop() }
    }
  },
  async pg () {
    const server = await startPostgres()
    const pool = new Pool({ connectionString: server.url })
    const PgStore = require('connect-pg-simple')(session)
    const store = new PgStore({ pool, createTableIfMissing: true, pruneSessionInterval: false })
    return {
      store,
      async writeDjango (text) {
        await pool.query('CREATE TABLE IF NOT EXISTS session_policy (side varchar(16) PRIMARY KEY, policy text NOT NULL)')
        await pool.query('INSERT INTO session_policy VALUES ($1, $2) ON CONFLICT (side) DO UPDATE SET policy = $2', ['django', text])
      },
      readExpress: async () => (await pool.query("SELECT policy FROM session_policy WHERE side = 'express'")).rows[0].policy,
      sessions: async () => Number((await pool.query('SELECT count(*) AS n FROM session')).rows[0].n),
      async stop () { await pool.end(); await server.stop() }
    }
  },
  async mongo () {
    const server = await startMongoeco()
    const admin = new MongoClient(server.url)
    await admin.connect()
    const store = MongoStore.create({ mongoUrl: server.url, dbName: 'policy' })
    await store.collectionP
    const policies = admin.db('policy').collection('sessions_policy')
    return {
      store,
      writeDjango: (text) => policies.replaceOne({ _id: 'django' }, { _id: 'django', policy: text }, { upsert: true }),
      readExpress: async () => (await policies.findOne({ _id: 'express' })).policy,
      sessions: () => admin.db('policy').collection('sessions').countDocuments(),
      async stop () { await store.close(); await admin.close(); await server.stop() }
    }
  },
  async file () {
    const dir = tempDir('policy-file')
    const sessions = path.join(dir, 'sessions')
    const store = new FileStore({ path: sessions, reapInterval: -1, logFn () {} })
    return {
      store,
      writeDjango: async (text) => fs.writeFileSync(path.join(dir, 'sessions.policy.django.json'), text),
      readExpress: async () => fs.readFileSync(path.join(dir, 'sessions.policy.express.json'), 'utf8'),
      sessions: async () => fs.readdirSync(sessions).filter((name) => name.endsWith('.json')).length,
      async stop () { fs.rmSync(dir, { recursive: true, force: true }) }
    }
  }
}

for (const [kind, start] of Object.entries(STORES)) {
  describe(`the policy beside a ${kind} store`, () => {
    let backend
    before(async () => { backend = await start() })
    after(() => backend && backend.stop())

    it('is published at start-up, where Django reads it, and never counts as a session', async () => {
      const { found, lines } = await started(share(backend.store), { passport: { field: 'username' } })
      assert.equal(found, null, 'Django has published nothing yet')
      assert.deepEqual(lines, [])
      const published = JSON.parse(await backend.readExpress())
      assert.equal(published.side, 'express')
      assert.deepEqual(published.secretFingerprints, [fingerprint('keyboard cat')])
      assert.deepEqual(published.passport, { field: 'username' })
      assert.equal(await backend.sessions(), 0)
    })

    it('reports nothing when Django agrees, and each difference when it does not', async () => {
      await backend.writeDjango(JSON.stringify(djangoPolicy()))
      assert.deepEqual(await started(backend.store), { found: [], lines: [] })
      await backend.writeDjango(JSON.stringify(djangoPolicy({ rolling: true, name: 'sid' })))
      const { found, lines } = await started(backend.store)
      assert.deepEqual(found.map((m) => m.id), ['W030', 'W034'])
      assert.equal(lines.length, 2)
      assert.match(lines[1], /rolling \(express-session\) is false here, but Django's EXPRESS_SESSION\["rolling"\] is True/)
    })
  })
}

describe('each difference, logged with what to change', () => {
  let server, client, store
  before(async () => {
    server = await startRedis()
    client = createClient({ url: server.url })
    await client.connect()
    store = new RedisStore({ client })
  })
  after(async () => { await client.close(); await server.stop() })
  const django = (changes) => client.set('policy:sess:django', JSON.stringify(djangoPolicy(changes)))

  const cases = [
    ['W030', { name: 'other.sid' }, {}, /cookie is "connect.sid", Django's is "other.sid"/],
    ['W031', { secretFingerprints: [fingerprint('other')] }, {}, /Django rejects every cookie this app sets/],
    ['W032', { resave: true }, {}, /resave/],
    ['W033', { saveUninitialized: true }, {}, /saveUninitialized/],
    ['W034', { rolling: true }, {}, /rolling/],
    ['W035', { cookie: { maxAge: 3600000 } }, {}, /cookie.maxAge \(express-session\) is 60000 here, but Django's EXPRESS_SESSION\["cookie"\]\["maxAge"\] is 3600000/],
    ['W036', { absoluteMaxAge: 86400000 }, {}, /absoluteMaxAge \(guard\(\)\) is null here/],
    ['W036', {}, { absoluteMaxAgeFrom: 'login' }, /absoluteMaxAgeFrom/],
    ['W037', { touchAfter: 300 }, {}, /touchAfter \(share\(\)\) is 0 here/],
    ['W038', {}, { passport: { field: 'email' } }, /EXPRESS_SESSION\["passport"\] = \{"field": "email"\}/],
    ['W038', { passport: { field: 'username' } }, { passport: { field: 'email' } }, /Django's EXPRESS_SESSION\["passport"\]\["field"\] is "username"/]
  ]
  for (const [id, djangoSide, expressSide, pattern] of cases) {
    it(`${id}: ${Object.keys({ ...djangoSide, ...expressSide })[0]}`, async () => {
      await django(djangoSide)
      const { found, lines } = await started(store, expressSide)
      const expected = id === 'W031' ? [id, id] : [id] // a secret one side lacks: each rejects the other's
      assert.deepEqual(found.map((m) => m.id), expected)
      assert.match(lines.join('\n'), pattern)
      assert.ok(lines.every((line) => line.includes('EXPRESS_SESSION')), 'each line says what to set in Django too')
    })
  }

  it('agrees while secrets rotate: each signs with one the other verifies', async () => {
    await django({ secretFingerprints: [fingerprint('new'), fingerprint('old')] })
    const { found } = await started(store, { session: { ...SESSION, secret: ['old', 'new'] } })
    assert.deepEqual(found, [])
  })

  it('compares no express-session setting it was not given', async () => {
    await django({ name: 'other', rolling: true })
    assert.deepEqual(await checkPolicy(store, {}), [])
  })

  it('logs an unreadable policy and goes on', async () => {
    await client.set('policy:sess:django', '{"format": 2}')
    const { found, lines } = await started(store)
    assert.equal(found, null)
    assert.match(lines[0], /cannot be read: its format is 2/)
    await assert.rejects(checkPolicy(store, { session: SESSION }), { name: 'UnreadablePolicyError' })
  })

  it('refuses an option it does not know (a typo would make the policy wrong)', async () => {
    await assert.rejects(publishPolicy(store, { absolutMaxAge: 1000 }), /unknown option absolutMaxAge/)
    const django = { touchAfter: 0, absoluteMaxAge: null, passport: { field: 'u' }, djangoSecretKey: 'k', track: ['ip'] }
    await publishPolicy(store, { session: SESSION, ...django }) // share()'s and guard()'s own are accepted
  })

  it('refuses a store it cannot keep a policy beside', async () => {
    await assert.rejects(publishPolicy(new session.MemoryStore(), {}), TypeError)
    const { lines } = await started(new session.MemoryStore())
    assert.match(lines[0], /not published or checked/)
  })
})

it('an Express app serves sessions as usual after publishing', async () => {
  const server = await startRedis()
  const client = createClient({ url: server.url })
  await client.connect()
  try {
    const store = share(new RedisStore({ client }))
    await started(store)
    const app = await startApp(store, { sessionOptions: SESSION })
    try {
      const first = await get(app.port, '/set?a=1')
      assert.deepEqual((await get(app.port, '/session', first.cookie)).body.data, { a: '1' })
      assert.deepEqual((await client.keys('*')).filter((key) => !key.startsWith('sess:')), ['policy:sess:express'])
    } finally {
      await app.close()
    }
  } finally {
    await client.close()
    await server.stop()
  }
})
