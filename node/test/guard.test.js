// guard() in a real Express app with express-session (its MemoryStore) and passport 0.7
// with passport-local; Django's own answers (the session auth hash, the password hashes)
// come from the real Django, run by the repository's Python.
'use strict'

const assert = require('node:assert/strict')
const { after, before, describe, it } = require('node:test')
const express = require('express')
const session = require('express-session')
const passport = require('passport')
const LocalStrategy = require('passport-local')

const { guard } = require('../lib/guard.js')
const { verifyDjangoPassword } = require('../lib/passwords.js')
const { djangoPython, runDjango } = require('./django.js')

const SECRET = 'express secret'
const DJANGO_KEY = 'django secret key'
const OLD_DJANGO_KEY = 'django secret key, before rotation'
const OWN = 'djangoExpressSession'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// A MemoryStore that counts the writes and touches that reach it, and keeps what each
// write wrote.
class CountingStore extends session.MemoryStore {
  constructor () {
    super()
    this.writes = 0
    this.touches = 0
    this.log = []
  }

  set (sid, sess, callback) {
    this.writes++
    this.log.push({ sid, record: JSON.parse(JSON.stringify(sess)) })
    return super.set(sid, sess, callback)
  }

  touch (sid, sess, callback) { this.touches++; return super.touch(sid, sess, callback) }
  record (sid) {
    return new Promise((resolve, reject) => this.get(sid, (err, sess) => (err ? reject(err) : resolve(sess || null))))
  }

  put (sid, sess) {
    return new Promise((resolve, reject) => super.set(sid, sess, (err) => (err ? reject(err) : resolve())))
  }
}

// An app with guard(guardOptions); with `users` (username -> {password}), passport
// and passport-local log them in, checking Django's password hashes.
async function startApp (
  { guardOptions = {}, sessionOptions = {}, users = null, trustProxy = false, store = new CountingStore() } = {}
) {
  const app = express()
  const auth = users ? new passport.Passport() : null
  app.set('trust proxy', trustProxy)
  app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false, ...sessionOptions }))
  if (users) {
    auth.use(new LocalStrategy((username, password, done) => {
      const user = users.get(username)
      if (!user) return done(null, false)
      verifyDjangoPassword(password, user.password).then((ok) => done(null, ok ? user : false), done)
    }))
    auth.serializeUser((user, done) => done(null, user.username))
    auth.deserializeUser((username, done) => done(null, users.get(username) || false))
    app.use(auth.initialize())
    app.use(auth.session())
  }
  app.use(guard(guardOptions))
  if (users) {
    app.get('/login', (req, res, next) => {
      auth.authenticate('local', (err, user) => {
        if (err || !user) return next(err || new Error('no such user'))
        req.login(user, { keepSessionInfo: req.query.keep === '1' }, (err) => (err ? next(err) : res.json({ id: req.sessionID })))
      })(req, res, next)
    })
  }
  app.get('/session', (req, res) => res.json({ id: req.sessionID, data: { ...req.session }, user: req.user ? req.user.username : null }))
  app.get('/set', (req, res) => { Object.assign(req.session, req.query); res.json({ id: req.sessionID }) })
  app.get('/regenerate', (req, res, next) => req.session.regenerate((err) => (err ? next(err) : res.json({ id: req.sessionID }))))
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => res.status(500).json({ error: err.message }))
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
  return { store, url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() }
}

// A browser: keeps the session cookie between requests.
class Browser {
  constructor (app) { this.app = app; this.cookie = null; this.setCookie = null }

  async get (path, headers = {}) {
    const sent = { ...headers }
    if (this.cookie) sent.cookie = this.cookie
    const response = await fetch(this.app.url + path, { headers: sent })
    const line = response.headers.getSetCookie().find((text) => text.startsWith('connect.sid='))
    this.setCookie = line || null
    if (line) this.cookie = line.split(';')[0]
    const body = await response.json()
    assert.equal(response.status, 200, JSON.stringify(body))
    return body
  }
}

// The id of a session the browser holds, whose record `change` then rewrote (as an app
// without guard, or with other options, leaves it).
async function rewritten (app, browser, change) {
  const { id } = await browser.get('/set?color=blue')
  const record = await app.store.record(id)
  change(record)
  await app.store.put(id, record)
  return id
}

function expiresOf (setCookie) {
  const match = /Expires=([^;]+)/.exec(setCookie)
  return match ? new Date(match[1]).getTime() : null
}

describe('guard: options', () => {
  it('rejects what it does not understand, saying what to give', () => {
    for (const [options, message] of [
      [{ absoluteMaxAge: -1 }, /absoluteMaxAge must be a number of milliseconds/],
      [{ absoluteMaxAge: '1h' }, /absoluteMaxAge/],
      [{ absoluteMaxAgeFrom: 'first' }, /"start" or "login"/],
      [{ absoluteMaxAge: 1000, absoluteMaxAgeFrom: 'login' }, /needs the passport option/],
      [{ djangoSecretKey: 'k' }, /needs the passport option/],
      [{ passport: true, djangoSecretKey: [] }, /empty list/],
      [{ passport: true, djangoSecretKey: [1] }, /SECRET_KEY/],
      [{ passport: 'yes' }, /passport must be true or an object/],
      [{ passport: { field: '' } }, /passport.field/],
      [{ track: ['ip', 'email'] }, /track must be a list of "ip" and "userAgent"/],
      [{ track: 'ip' }, /track/],
      [{ touchAfter: -5 }, /touchAfter/],
      [{ passwordHashOf: 'password' }, /passwordHashOf must be a function/],
      [{ absoluteMaxage: 1000 }, /unknown options absoluteMaxage/]
    ]) {
      assert.throws(() => guard(options), message, JSON.stringify(options))
    }
    assert.equal(guard().options.visitIntervalMs, null)
    assert.equal(guard({ track: ['ip'] }).options.visitIntervalMs, 300_000)
    assert.equal(guard({ track: ['ip'], touchAfter: 60 }).options.visitIntervalMs, 60_000)
  })

  it('says where it goes when passport was not set up before it', async () => {
    const app = await startApp({ guardOptions: { passport: true } })
    try {
      const response = await fetch(app.url + '/set?a=1')
      assert.equal(response.status, 500)
      assert.match((await response.json()).error, /after passport.initialize\(\) and passport.session\(\)/)
    } finally { app.close() }
  })
})

describe('guard: the absolute cap', () => {
  it('starts the clock when a session is first stored and caps its cookie at it', async () => {
    const app = await startApp({ guardOptions: { absoluteMaxAge: 30_000 }, sessionOptions: { cookie: { maxAge: 600_000 } } })
    try {
      const browser = new Browser(app)
      const before = Date.now()
      const { id } = await browser.get('/set?color=blue')
      const record = await app.store.record(id)
      const started = record[OWN].startedAt
      assert.ok(started >= before && started <= Date.now())
      const cap = started + 30_000
      // The store's expiry too, to the second's end (what whole seconds keep of it).
      assert.equal(new Date(record.cookie.expires).getTime(), cap + 999)
      assert.equal(record.cookie.originalMaxAge, 600_000) // what a touch resets to
      const expires = expiresOf(browser.setCookie)
      assert.ok(expires >= cap && expires < cap + 1000, `${expires} for ${cap}`)
      // A new session that stays empty is not made a write (saveUninitialized: false).
      const writes = app.store.writes
      assert.equal((await new Browser(app).get('/session')).data[OWN], undefined)
      assert.equal(app.store.writes, writes)
    } finally { app.close() }
  })

  it('ends a session at its cap, however busy: the request goes on with a new one', async () => {
    const app = await startApp({ guardOptions: { absoluteMaxAge: 600 }, sessionOptions: { rolling: true } })
    try {
      const browser = new Browser(app)
      const { id } = await browser.get('/set?color=blue')
      const started = (await app.store.record(id))[OWN].startedAt
      while (Date.now() < started + 400) {
        assert.equal((await browser.get('/session')).data.color, 'blue')
        await sleep(50)
      }
      await sleep(started + 650 - Date.now())
      const after = await browser.get('/session')
      assert.notEqual(after.id, id)
      assert.equal(after.data.color, undefined)
      assert.equal(await app.store.record(id), null) // (the store's expiry was the cap)
    } finally { app.close() }
  })

  it('destroys a session past its cap that its store still holds', async () => {
    const app = await startApp({ guardOptions: { absoluteMaxAge: 60_000 } })
    try {
      const browser = new Browser(app)
      // As an app that does not keep the cap leaves it: a later store expiry.
      const id = await rewritten(app, browser, (record) => {
        record[OWN].startedAt -= 60_000
        record.cookie.expires = new Date(Date.now() + 600_000)
      })
      const before = Date.now()
      const after = await browser.get('/session')
      assert.notEqual(after.id, id)
      assert.equal(after.data.color, undefined)
      assert.equal(await app.store.record(id), null) // destroyed, not merely ignored
      assert.ok(after.data[OWN].startedAt >= before) // the new session's own clock
      assert.equal((await browser.get('/session')).id, after.id) // and its cookie was sent
    } finally { app.close() }
  })

  for (const [name, start] of [['past the dates Django shows', () => 1e15], ['an hour ahead', () => Date.now() + 3_600_000]]) {
    it(`ends a session whose start is ${name}, as Django does`, async () => {
      const app = await startApp({ guardOptions: { absoluteMaxAge: 60_000 } })
      try {
        const browser = new Browser(app)
        const id = await rewritten(app, browser, (record) => { record[OWN].startedAt = start() })
        const after = await browser.get('/session')
        assert.notEqual(after.id, id)
        assert.equal(after.data.color, undefined)
        assert.equal(await app.store.record(id), null)
      } finally { app.close() }
    })
  }

  it('starts the clock of a stored session that has none (made where no cap was kept)', async () => {
    const app = await startApp({ guardOptions: { absoluteMaxAge: 60_000 } })
    try {
      const browser = new Browser(app)
      const id = await rewritten(app, browser, (record) => delete record[OWN])
      const before = Date.now()
      await browser.get('/session')
      assert.ok((await app.store.record(id))[OWN].startedAt >= before)
    } finally { app.close() }
  })

  it('gives a regenerated session its own clock', async () => {
    const app = await startApp({ guardOptions: { absoluteMaxAge: 60_000 } })
    try {
      const browser = new Browser(app)
      const { id } = await browser.get('/set?color=blue')
      const started = (await app.store.record(id))[OWN].startedAt
      await sleep(20)
      const { id: renewed } = await browser.get('/regenerate')
      assert.ok((await app.store.record(renewed))[OWN].startedAt > started)
    } finally { app.close() }
  })
})

const HASHES = `
from django.contrib.auth.hashers import get_hasher
from django.contrib.auth.models import User
hasher = get_hasher("pbkdf2_sha256")
users = {}
for name, password in (("ada", "first password"), ("ada2", "second password"), ("bob", "bob's")):
    user = User(username=name, password=hasher.encode(password, hasher.salt(), 1000))
    users[name] = {"password": user.password, "hash": user.get_session_auth_hash()}
print(json.dumps(users))
`

describe('guard: passport logins', { skip: djangoPython() ? false : 'no Python with Django' }, () => {
  let django // username -> {password: Django's hash, hash: its session auth hash under DJANGO_KEY}
  before(() => { django = runDjango(HASHES, [DJANGO_KEY]) })

  function usersTable () {
    return new Map(['ada', 'bob'].map((name) => [name, { username: name, password: django[name].password }]))
  }

  async function loggedIn (guardOptions, { users = usersTable(), who = 'ada', password = 'first password' } = {}) {
    const app = await startApp({
      guardOptions: { passport: { field: 'username' }, djangoSecretKey: DJANGO_KEY, ...guardOptions },
      users
    })
    const browser = new Browser(app)
    const anonymous = await browser.get('/set?color=blue')
    await sleep(20)
    const writes = app.store.writes
    const login = await browser.get(`/login?username=${who}&password=${encodeURIComponent(password)}`)
    return { app, browser, users, anonymous, login, loginWrites: app.store.log.slice(writes) }
  }

  it('stamps Django\'s session auth hash at login, in passport\'s own save', async () => {
    const { app, browser, login, loginWrites } = await loggedIn({ absoluteMaxAge: 60_000, track: ['ip'] })
    try {
      // passport saves, then express-session saves a regenerated session again.
      const [{ sid, record: first }] = loginWrites
      assert.equal(sid, login.id)
      assert.equal(first._auth_user_hash, django.ada.hash)
      assert.equal(first[OWN].ip, '127.0.0.1')
      assert.deepEqual(loginWrites.map((write) => write.record[OWN]), loginWrites.map(() => first[OWN]))
      const record = await app.store.record(login.id)
      assert.equal(record._auth_user_hash, django.ada.hash)
      assert.deepEqual(record.passport, { user: 'ada' })
      const writes = app.store.writes
      assert.equal((await browser.get('/session')).user, 'ada')
      assert.equal(app.store.writes, writes) // nothing left to write after the login
    } finally { app.close() }
  })

  it('logs a session out once the user\'s password changed, as Django\'s get_user', async () => {
    const { app, browser, users, login } = await loggedIn({})
    try {
      assert.equal((await browser.get('/session')).user, 'ada')
      users.get('ada').password = django.ada2.password // changed elsewhere (on Django)
      const after = await browser.get('/session')
      assert.equal(after.user, null)
      assert.notEqual(after.id, login.id)
      assert.equal(after.data.passport, undefined)
      assert.equal(await app.store.record(login.id), null)
    } finally { app.close() }
  })

  it('takes a login stamped under a fallback key, and stamps it anew', async () => {
    const { app, browser, login } = await loggedIn({ djangoSecretKey: OLD_DJANGO_KEY })
    app.close()
    const again = await startApp({
      guardOptions: { passport: true, djangoSecretKey: [DJANGO_KEY, OLD_DJANGO_KEY] },
      users: usersTable(),
      store: app.store // the same records, read by the app with the rotated key
    })
    browser.app = again
    try {
      assert.notEqual((await app.store.record(login.id))._auth_user_hash, django.ada.hash)
      assert.equal((await browser.get('/session')).user, 'ada')
      assert.equal((await again.store.record(login.id))._auth_user_hash, django.ada.hash)
    } finally { again.close() }
  })

  it('leaves the session be, with one warning, when the user\'s password hash is unknown', async () => {
    const warnings = []
    const listen = (warning) => warnings.push(warning.message)
    process.on('warning', listen)
    const { app, browser, login } = await loggedIn({ passwordHashOf: () => undefined })
    try {
      for (let i = 0; i < 2; i++) assert.equal((await browser.get('/session')).id, login.id)
      assert.equal((await browser.get('/session')).user, 'ada')
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(warnings.filter((text) => /passwordHashOf/.test(text)).length, 1)
    } finally {
      process.off('warning', listen)
      app.close()
    }
  })

  it('stamps a login made without it (as Django\'s bridge does)', async () => {
    const { app, browser, login } = await loggedIn({})
    try {
      const record = await app.store.record(login.id)
      delete record._auth_user_hash
      await app.store.put(login.id, record)
      assert.equal((await browser.get('/session')).user, 'ada')
      assert.equal((await app.store.record(login.id))._auth_user_hash, django.ada.hash)
    } finally { app.close() }
  })

  it('keeps the clock through the login with absoluteMaxAgeFrom "start"', async () => {
    const { app, anonymous, login } = await loggedIn({ absoluteMaxAge: 60_000 })
    try {
      assert.notEqual(login.id, anonymous.id) // passport regenerated the session
      const started = (await app.store.record(login.id))[OWN].startedAt
      assert.ok(started < Date.now() - 15)
      assert.equal(await app.store.record(anonymous.id), null)
    } finally { app.close() }
  })

  it('keeps the clock through a login that keeps the session info too', async () => {
    const app = await startApp({
      guardOptions: { passport: true, djangoSecretKey: DJANGO_KEY, absoluteMaxAge: 60_000 },
      users: usersTable()
    })
    try {
      const browser = new Browser(app)
      const anonymous = await browser.get('/set?color=blue')
      const started = (await app.store.record(anonymous.id))[OWN].startedAt
      const login = await browser.get('/login?username=ada&password=first%20password&keep=1')
      const record = await app.store.record(login.id)
      assert.equal(record[OWN].startedAt, started)
      assert.equal(record.color, 'blue')
      assert.equal(record._auth_user_hash, django.ada.hash)
    } finally { app.close() }
  })

  it('restarts the clock at login with absoluteMaxAgeFrom "login"', async () => {
    const { app, anonymous, login } = await loggedIn({ absoluteMaxAge: 60_000, absoluteMaxAgeFrom: 'login' })
    try {
      const loggedInAt = (await app.store.record(login.id))[OWN].startedAt
      assert.ok(loggedInAt >= Date.now() - 1000)
      assert.notEqual(anonymous.id, login.id)
    } finally { app.close() }
  })

  it('starts a new clock when another user logs in on the session', async () => {
    const { app, browser, login } = await loggedIn({ absoluteMaxAge: 60_000 })
    try {
      const first = (await app.store.record(login.id))[OWN].startedAt
      await sleep(20)
      const bob = await browser.get('/login?username=bob&password=bob\'s')
      const record = await app.store.record(bob.id)
      assert.ok(record[OWN].startedAt > first)
      assert.equal(record._auth_user_hash, django.bob.hash)
    } finally { app.close() }
  })
})

describe('guard: bad moments', () => {
  it('hands a store that fails to end a session to next(err), and logs no one out', async () => {
    // A store whose destroy fails (as when the store is down): the session past its cap
    // cannot be ended, which is an error the app sees, not a silent new session.
    class FailingStore extends CountingStore {
      destroy (sid, callback) { callback(new Error('store down')) }
    }
    const app = await startApp({ guardOptions: { absoluteMaxAge: 60_000 }, store: new FailingStore() })
    try {
      const browser = new Browser(app)
      const id = await rewritten(app, browser, (record) => { record[OWN].startedAt -= 60_000 })
      const response = await fetch(app.url + '/session', { headers: { cookie: browser.cookie } })
      assert.equal(response.status, 500)
      assert.match((await response.json()).error, /store down/)
      assert.deepEqual(response.headers.getSetCookie(), []) // the browser keeps its cookie
      assert.equal((await app.store.record(id)).color, 'blue') // nothing lost
    } finally { app.close() }
  })
})

describe('guard: track', () => {
  it('records the client, cutting the user agent at 512 characters', async () => {
    const app = await startApp({ guardOptions: { track: ['ip', 'userAgent'] } })
    try {
      const browser = new Browser(app)
      const before = Date.now()
      const { id } = await browser.get('/set?a=1', { 'user-agent': 'U'.repeat(600) })
      const own = (await app.store.record(id))[OWN]
      assert.equal(own.ip, '127.0.0.1')
      assert.equal(own.userAgent, 'U'.repeat(512))
      assert.ok(own.createdAt >= before && own.lastSeenAt === own.createdAt)
      assert.equal(own.writtenBy, 'express')
      assert.equal(own.digest, undefined)
    } finally { app.close() }
  })

  it('takes X-Forwarded-For only from a proxy the app trusts', async () => {
    for (const [trustProxy, forwarded, expected] of [
      [false, '203.0.113.9', '127.0.0.1'],
      [true, '203.0.113.9, 10.0.0.1', '203.0.113.9'],
      [true, 'not an address', '127.0.0.1']
    ]) {
      const app = await startApp({ guardOptions: { track: ['ip'] }, trustProxy })
      try {
        const { id } = await new Browser(app).get('/set?a=1', { 'x-forwarded-for': forwarded })
        const own = (await app.store.record(id))[OWN]
        assert.equal(own.ip, expected, forwarded)
        assert.equal(own.userAgent, undefined) // not tracked
      } finally { app.close() }
    }
  })

  it('writes a visit that changes nothing once per touchAfter', async () => {
    const app = await startApp({ guardOptions: { track: ['userAgent'], touchAfter: 1 } })
    try {
      const browser = new Browser(app)
      const { id } = await browser.get('/set?a=1', { 'user-agent': 'first' })
      const created = (await app.store.record(id))[OWN].createdAt
      const writes = app.store.writes
      await browser.get('/session', { 'user-agent': 'second' })
      assert.equal(app.store.writes, writes) // touched only
      assert.equal((await app.store.record(id))[OWN].userAgent, 'first')
      await browser.get('/set?b=2', { 'user-agent': 'third' }) // a change writes the visit too
      assert.equal((await app.store.record(id))[OWN].userAgent, 'third')
      await sleep(1050)
      await browser.get('/session', { 'user-agent': 'fourth' })
      const own = (await app.store.record(id))[OWN]
      assert.equal(own.userAgent, 'fourth')
      assert.equal(own.createdAt, created)
      assert.ok(own.lastSeenAt >= created + 1000)
    } finally { app.close() }
  })

  it('writes at once a session whose record has no visit (written elsewhere)', async () => {
    const app = await startApp({ guardOptions: { track: ['ip'] } })
    try {
      const browser = new Browser(app)
      const id = await rewritten(app, browser, (record) => delete record[OWN])
      await browser.get('/session')
      assert.equal((await app.store.record(id))[OWN].ip, '127.0.0.1')
    } finally { app.close() }
  })
})

after(() => setImmediate(() => process.exit(process.exitCode || 0))) // keep-alive sockets
