// The session policies on Express: recent authentication (authAge, markAuthenticated,
// requireRecentAuth, authAt stamped at passport's login) and guard()'s
// maxSessionsPerUser over share()d connect-redis and connect-pg-simple stores, with two
// logins at the same moment on Redis.
'use strict'

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')
const express = require('express')
const session = require('express-session')
const passport = require('passport')
const LocalStrategy = require('passport-local')
const { createClient } = require('redis')
const { RedisStore } = require('connect-redis')
const { Pool } = require('pg')
const PgStore = require('connect-pg-simple')(session)

const {
  share, guard, authAge, markAuthenticated, requireRecentAuth,
  SessionLimitError, ReauthenticationRequiredError
} = require('..')
const { startRedis, startPostgres } = require('./support/servers')

const OWN = 'djangoExpressSession'

// An app with passport-local (any password) under guard(guardOptions).
async function startApp (store, guardOptions = {}) {
  const app = express()
  const auth = new passport.Passport()
  app.use(session({ secret: 's', store, resave: false, saveUninitialized: false }))
  auth.use(new LocalStrategy((username, password, done) => done(null, { username })))
  auth.serializeUser((user, done) => done(null, user.username))
  auth.deserializeUser((username, done) => done(null, { username }))
  app.use(auth.initialize())
  app.use(auth.session())
  app.use(guard({ passport: true, ...guardOptions }))
  app.get('/login', (req, res, next) => {
    req.query.password = 'pw'
    auth.authenticate('local', (err, user) => {
      if (err || !user) return next(err || new Error('no user'))
      req.login(user, (err) => (err ? next(err) : res.json({ id: req.sessionID, age: authAge(req) })))
    })(req, res, next)
  })
  app.get('/state', (req, res) => res.json({ id: req.sessionID, user: req.user ? req.user.username : null, age: authAge(req), own: req.session[OWN] || null }))
  app.get('/confirm', (req, res) => { markAuthenticated(req); res.json({ age: authAge(req) }) })
  app.get('/sensitive', requireRecentAuth({ maxAge: 60, loginUrl: '/login' }), (req, res) => res.json({ ok: true }))
  app.get('/api/sensitive', requireRecentAuth({ maxAge: 60 }), (req, res) => res.json({ ok: true }))
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.message, code: err.code }))
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() }
}

class Browser {
  constructor (app) { this.app = app; this.cookie = null }
  async get (path) {
    const response = await fetch(this.app.url + path, { headers: this.cookie ? { cookie: this.cookie } : {}, redirect: 'manual' })
    const line = response.headers.getSetCookie().find((text) => text.startsWith('connect.sid='))
    if (line) this.cookie = line.split(';')[0]
    const type = response.headers.get('content-type') || ''
    return { status: response.status, location: response.headers.get('location'), body: type.includes('json') ? await response.json() : null }
  }
}

describe('recent authentication on Express', () => {
  let app
  const store = new session.MemoryStore()
  before(async () => { app = await startApp(store) })
  after(() => app.close())

  it('passport\'s login stamps authAt, which authAge reads as Django does', async () => {
    const browser = new Browser(app)
    assert.equal((await browser.get('/state')).body.age, null)
    const login = await browser.get('/login?username=alice')
    assert.equal(login.body.age, 0)
    const { own } = (await browser.get('/state')).body
    assert.ok(Math.abs(own.authAt - Date.now()) < 5000)
  })

  it('requireRecentAuth sends a stale or anonymous request to log in, or gives a 401', async () => {
    const browser = new Browser(app)
    const anonymous = await browser.get('/sensitive?x=1')
    assert.equal(anonymous.status, 302)
    assert.equal(anonymous.location, '/login?next=%2Fsensitive%3Fx%3D1')
    await browser.get('/login?username=alice')
    assert.deepEqual((await browser.get('/sensitive')).body, { ok: true })
    // Two minutes pass (the record's proof is moved back, as a Django write would leave it).
    const sid = decodeURIComponent(browser.cookie.split('=')[1]).slice(2).split('.')[0]
    const record = await new Promise((resolve, reject) => store.get(sid, (e, s) => (e ? reject(e) : resolve(s))))
    record[OWN].authAt -= 120_000
    await new Promise((resolve, reject) => store.set(sid, record, (e) => (e ? reject(e) : resolve())))
    assert.equal((await browser.get('/state')).body.age >= 120, true)
    assert.equal((await browser.get('/sensitive')).status, 302)
    const api = await browser.get('/api/sensitive')
    assert.equal(api.status, 401)
    assert.equal(api.body.code, 'EREAUTH')
    assert.equal((await browser.get('/confirm')).body.age, 0)
    assert.equal((await browser.get('/sensitive')).status, 200)
  })

  it('checks its options', () => {
    assert.throws(() => requireRecentAuth({}), /maxAge must be seconds/)
    assert.throws(() => requireRecentAuth({ maxAge: 60, loginUrl: '' }), /loginUrl/)
    assert.ok(new ReauthenticationRequiredError(5) instanceof Error)
    assert.throws(() => markAuthenticated({}), /no session/)
  })
})

describe('guard({maxSessionsPerUser}): options', () => {
  it('needs passport and a whole number, a function or null', () => {
    assert.throws(() => guard({ maxSessionsPerUser: 2 }), /needs the passport option/)
    assert.throws(() => guard({ passport: true, maxSessionsPerUser: 0 }), /whole number from 1/)
    assert.throws(() => guard({ passport: true, maxSessionsPerUser: 2, onSessionLimit: 'newest' }), /onSessionLimit/)
    assert.equal(guard({ passport: true, maxSessionsPerUser: () => 3 }).options.onSessionLimit, 'endOldest')
  })
})

// The limit over one kind of shared store: `fixture.makeStore()` gives a fresh store.
function limitSuite (name, fixture) {
  describe(`guard({maxSessionsPerUser}) over ${name}`, () => {
    before(() => fixture.start())
    after(() => fixture.stop())

    it('endOldest ends the least recently used session at the next login', async () => {
      const app = await startApp(share(await fixture.makeStore()), { maxSessionsPerUser: 2 })
      try {
        const browsers = [new Browser(app), new Browser(app), new Browser(app)]
        for (const browser of browsers) {
          assert.equal((await browser.get('/login?username=erin')).status, 200)
          await new Promise((resolve) => setTimeout(resolve, 1100)) // Redis TTLs: whole seconds
        }
        const users = await Promise.all(browsers.map(async (b) => (await b.get('/state')).body.user))
        assert.deepEqual(users, [null, 'erin', 'erin'])
      } finally {
        app.close()
      }
    })

    it('refuse fails the login with a SessionLimitError the app shows', async () => {
      const app = await startApp(share(await fixture.makeStore()), { maxSessionsPerUser: () => 1, onSessionLimit: 'refuse' })
      try {
        const first = new Browser(app)
        const second = new Browser(app)
        assert.equal((await first.get('/login?username=frank')).status, 200)
        const refused = await second.get('/login?username=frank')
        assert.equal(refused.status, 403)
        assert.equal(refused.body.code, 'ESESSIONLIMIT')
        assert.match(refused.body.error, /signed in on one device already/)
        assert.equal((await second.get('/state')).body.user, null)
        assert.equal((await first.get('/state')).body.user, 'frank')
        assert.ok(new SessionLimitError(1) instanceof Error)
      } finally {
        app.close()
      }
    })

    if (fixture.atomic) {
      it('two logins at the same moment never both stay past the limit', async () => {
        const app = await startApp(share(await fixture.makeStore()), { maxSessionsPerUser: 1, onSessionLimit: 'refuse' })
        try {
          for (let round = 0; round < 5; round++) {
            const user = `grace${round}`
            const answers = await Promise.all([0, 1].map(() => new Browser(app).get(`/login?username=${user}`)))
            assert.deepEqual(answers.map((a) => a.status).sort(), [200, 403], `round ${round}`)
          }
        } finally {
          app.close()
        }
      })
    }
  })
}

let redisServer
const clients = []
limitSuite('connect-redis', {
  atomic: true,
  async start () { redisServer = await startRedis() },
  async makeStore () {
    const client = createClient({ url: redisServer.url })
    await client.connect()
    clients.push(client)
    return new RedisStore({ client })
  },
  async stop () {
    await Promise.all(clients.map((client) => client.close()))
    await redisServer.stop()
  }
})

const TABLE = 'CREATE TABLE "session" ("sid" varchar NOT NULL PRIMARY KEY, "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)'
let pgServer
const pools = []
limitSuite('connect-pg-simple', {
  atomic: false,
  async start () {
    pgServer = await startPostgres()
    const admin = new Pool({ connectionString: pgServer.url })
    await admin.query(TABLE)
    pools.push(admin)
  },
  async makeStore () {
    const pool = new Pool({ connectionString: pgServer.url })
    pools.push(pool)
    return new PgStore({ pool, pruneSessionInterval: false })
  },
  async stop () {
    await Promise.all(pools.map((pool) => pool.end()))
    await pgServer.stop()
  }
})
