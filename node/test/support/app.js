// The Express app the tests drive: express-session over the store given, and routes
// that read, change, hold (to overlap requests on purpose) and end a session.
'use strict'

const session = require('express-session')
const { listen } = require('./http')

// A gate requests wait at, opened by the test: it lets the test act while requests
// hold what they read (a logout meanwhile, a change from the other app...).
function gate () {
  let open
  const opened = new Promise((resolve) => { open = resolve })
  const arrived = []
  let waiters = []
  return {
    opened,
    open,
    arrive () {
      arrived.push(1)
      for (const waiter of waiters) waiter()
      waiters = []
      return opened
    },
    // Resolves once `count` requests wait at the gate.
    async reached (count) {
      while (arrived.length < count) await new Promise((resolve) => waiters.push(resolve))
    }
  }
}

async function startApp (store, { express = require('express'), sessionOptions = {}, held } = {}) {
  const app = express()
  app.set('etag', false)
  app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: false, store, cookie: { maxAge: 3600000 }, ...sessionOptions }))
  const data = (req) => {
    const out = {}
    for (const key of Object.keys(req.session)) if (key !== 'cookie') out[key] = req.session[key]
    return out
  }
  const set = (req) => { for (const [key, value] of Object.entries(req.query)) req.session[key] = value }
  app.get('/session', (req, res) => res.json({ id: req.sessionID, data: data(req) }))
  app.get('/set', (req, res) => { set(req); res.json({ id: req.sessionID, data: data(req) }) })
  app.get('/held', async (req, res) => {
    await held.arrive()
    set(req)
    res.json({ id: req.sessionID })
  })
  // Sets keys and saves at once, answering with the save's error code, if any.
  app.get('/save', (req, res) => {
    set(req)
    req.session.save((err) => res.status(err ? 503 : 200).json({ id: req.sessionID, error: err ? err.code : null }))
  })
  app.get('/login', (req, res, next) => req.session.regenerate((err) => {
    if (err) return next(err)
    req.session.passport = { user: req.query.user }
    res.json({ id: req.sessionID })
  }))
  app.get('/django-login', (req, res) => {
    req.session._auth_user_id = req.query.id
    res.json({ id: req.sessionID })
  })
  app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ id: null }))))
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => res.status(500).json({ error: String(err && err.message) }))
  return listen(app)
}

module.exports = { startApp, gate }
