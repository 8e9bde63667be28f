// sessionHeader() in a real Express app with express-session (its MemoryStore): the signed
// id travels in X-Session-Id for a client without cookies, the Django side's rules.
'use strict'

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { after, before, describe, it } = require('node:test')
const express = require('express')
const session = require('express-session')

const { sessionHeader } = require('../lib/header.js')
const { listen } = require('./support/http.js')

const SECRET = 'express secret'
const HEADER = 'x-session-id'

// cookie-signature's value, computed here independently of the code under test.
function signed (sid) {
  return 's:' + sid + '.' + crypto.createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '')
}

async function startApp ({ headerOptions = {}, sessionOptions = {}, useHeader = true } = {}) {
  const app = express()
  const seen = {}
  if (useHeader) app.use(sessionHeader(headerOptions))
  app.use((req, res, next) => { seen.header = req.headers[HEADER]; seen.raw = req.rawHeaders.join(' '); next() })
  app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, ...sessionOptions }))
  app.get('/count', (req, res) => { req.session.n = (req.session.n || 0) + 1; res.json({ n: req.session.n }) })
  app.get('/peek', (req, res) => res.json({ n: req.session.n || null }))
  app.get('/nothing', (req, res) => res.json({}))
  app.get('/login', (req, res, next) => {
    const n = req.session.n
    req.session.regenerate((err) => { if (err) return next(err); req.session.n = n; req.session.who = 'alice'; res.json({ who: 'alice' }) })
  })
  app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({}))))
  const server = await listen(app)
  return { ...server, seen, url: `http://127.0.0.1:${server.port}` }
}

// A client without cookies: sends the header (when given) and reads it back.
async function get (app, path, value, headers = {}) {
  const sent = { ...headers }
  if (value !== undefined) sent[HEADER] = value
  const response = await fetch(app.url + path, { headers: sent })
  const setCookie = response.headers.getSetCookie().find((line) => line.startsWith('connect.sid=')) || null
  const cookieValue = setCookie ? decodeURIComponent(setCookie.split(';')[0].slice('connect.sid='.length)) : null
  return { body: await response.json(), header: response.headers.get(HEADER), vary: response.headers.get('vary'), cookieValue }
}

describe('sessionHeader: options', () => {
  it('refuses bad options with a TypeError naming them', () => {
    assert.throws(() => sessionHeader({ header: 'X Session' }), /header must be a header name/)
    assert.throws(() => sessionHeader({ header: 'Cookie' }), /means something else/)
    assert.throws(() => sessionHeader({ heder: 'X-Session-Id' }), /unknown options heder/)
    assert.throws(() => sessionHeader({ name: 'a;b' }), /name must be/)
    assert.throws(() => sessionHeader('X-Session-Id'), /options must be an object/)
  })
})

describe('sessionHeader: the id in a header', () => {
  let app, plain, uninitialized
  before(async () => {
    app = await startApp()
    plain = await startApp({ useHeader: false })
    uninitialized = await startApp({ sessionOptions: { saveUninitialized: true } })
  })
  after(() => Promise.all([app.close(), plain.close(), uninitialized.close()]))

  it('keeps a header client in its session, and says nothing while the id stands', async () => {
    const first = await get(app, '/count')
    assert.equal(first.header, first.cookieValue)
    assert.match(first.header, /^s:.+\..+$/)
    const again = await get(app, '/count', first.header)
    assert.deepEqual(again.body, { n: 2 })
    assert.equal(again.header, null)
    assert.match(again.vary, /x-session-id/)
  })

  it('takes the URL-encoded form of the cookie value too', async () => {
    const first = await get(app, '/count')
    assert.deepEqual((await get(app, '/count', encodeURIComponent(first.header))).body, { n: 2 })
  })

  it('sends the new id when it changes, and an empty header when the session ends', async () => {
    const first = await get(app, '/count')
    const login = await get(app, '/login', first.header)
    assert.notEqual(login.header, first.header)
    assert.equal(login.header, login.cookieValue)
    assert.deepEqual((await get(app, '/peek', login.header)).body, { n: 1 })
    assert.equal((await get(app, '/peek', first.header)).header, '') // the old id is gone
    assert.equal((await get(app, '/logout', login.header)).header, '')
  })

  it('treats a forged value as no session', async () => {
    const first = await get(app, '/count')
    const forged = await get(app, '/peek', first.header.slice(0, -2) + 'xx')
    assert.deepEqual(forged.body, { n: null })
    assert.equal(forged.header, '')
    assert.deepEqual((await get(app, '/peek', first.header)).body, { n: 1 })
  })

  it('lets the cookie win over the header', async () => {
    const byCookie = await get(app, '/count')
    const byHeader = await get(app, '/count')
    const both = await get(app, '/count', byHeader.header, { cookie: 'connect.sid=' + encodeURIComponent(byCookie.cookieValue) })
    assert.deepEqual(both.body, { n: 2 })
    assert.deepEqual((await get(app, '/peek', byHeader.header)).body, { n: 1 })
  })

  it('does not offer a saveUninitialized session to a client without the header', async () => {
    const visit = await get(uninitialized, '/nothing')
    assert.ok(visit.cookieValue)
    assert.equal(visit.header, null)
    const client = await get(uninitialized, '/nothing', signed('no-such-session'))
    assert.equal(client.header, client.cookieValue)
  })

  it('keeps the id out of req.headers and req.rawHeaders', async () => {
    const first = await get(app, '/count')
    await get(app, '/count', first.header)
    assert.equal(app.seen.header, undefined)
    assert.ok(!app.seen.raw.includes(first.header.slice(2, 20)), app.seen.raw)
  })

  it('without it, the header means nothing', async () => {
    const first = await get(plain, '/count')
    const other = await get(plain, '/count', first.cookieValue)
    assert.deepEqual(other.body, { n: 1 }) // a new session: the header was not read
    assert.equal(other.header, null)
    assert.equal(plain.seen.header, first.cookieValue)
  })
})
