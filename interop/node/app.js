// The Express side of the interoperability tests and of examples/shared-login: one
// Express app whose whole express-session configuration comes from JSON.
//
//   node app.js '<config JSON>' [port]        (or EXPRESS_SESSION_CONFIG=<json> node app.js)
//
// The config is express-session's options object (`secret` may be a list, `cookie` an
// object, `unset`, `rolling`, ...) plus `store: {kind, options}` (./store.js). Without
// `store`, express-session's MemoryStore is used. With `passport: {users, djangoSecretKey}`,
// passport and passport-local log users of the Django database in (./passport.js: routes
// /me, /auth/login, /auth/logout). `packages` names the set of npm packages to run on
// (./packages.js: "node", the default, or "node22"); `share: {...options}` wraps the
// store with the npm package's share(). Requests can be held between their read and
// their write (./holds.js: /hold/<name>/<route>, /holding/<name>, /release/<name>).
//
// When it listens, the app prints one JSON line `{"port": N}` on stdout (port 0 picks a
// free one). The package's guard() (node/lib/guard.js) takes the options it shares with
// Django (`absoluteMaxAge`, `absoluteMaxAgeFrom`, `track`, `touchAfter`; with `passport`,
// its `djangoSecretKey`). The routes mirror tests/interop/views.py, so one test drives
// either app:
//
//   GET /session                 the session as JSON: {id, data, cookie}; changes nothing
//   GET /set?k=v&...             sets each query key to its string value
//   GET /set?json={...}          merges a JSON object into the session (nested values)
//   GET /delete?key=k            deletes one key
//   GET /touch                   a plain page view: the session is touched, not modified
//   GET /save?k=v                sets keys, then saves explicitly before responding
//   GET /max-age?ms=N            sets req.session.cookie.maxAge (N = "null" for a browser-session cookie)
//   GET /regenerate              req.session.regenerate(): new id, no data
//   GET /login?user=name         regenerate, then what passport stores: {passport: {user}}
//   GET /destroy                 req.session.destroy()
//   GET /logout                  as passport's logout + destroy: the session ends
//   GET /fail?k=v                sets keys, then answers 500
//   GET /whoami                  {user} from passport.user or Django's _auth_user_id
'use strict'

const { packageSet } = require('./packages')
const { openStore } = require('./store')
const { holds } = require('./holds')

function readConfig () {
  const text = process.argv[2] || process.env.EXPRESS_SESSION_CONFIG
  if (!text) throw new Error('usage: node app.js <config JSON> [port]')
  const config = JSON.parse(text)
  const port = Number(process.argv[3] || config.port || process.env.PORT || 0)
  delete config.port
  return { config, port }
}

function sessionView (req) {
  const s = req.session
  const data = {}
  for (const key of Object.keys(s)) if (key !== 'cookie') data[key] = s[key]
  return {
    id: req.sessionID,
    data,
    cookie: { originalMaxAge: s.cookie.originalMaxAge, expires: s.cookie.expires, maxAge: s.cookie.maxAge }
  }
}

function setFromQuery (req) {
  for (const [key, value] of Object.entries(req.query)) {
    if (key === 'json') Object.assign(req.session, JSON.parse(value))
    else req.session[key] = value
  }
}

// Wraps a callback-style session method so a route can await it.
function promised (fn) {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())))
}

function routes (app) {
  const send = (req, res) => res.json(req.session ? sessionView(req) : { id: null, data: null })

  app.get('/session', send)
  app.get('/touch', send)
  app.get('/whoami', (req, res) => {
    const s = req.session
    const user = (s.passport && s.passport.user) || s._auth_user_id || null
    res.json({ user })
  })
  app.get('/set', (req, res) => { setFromQuery(req); send(req, res) })
  app.get('/delete', (req, res) => { delete req.session[req.query.key]; send(req, res) })
  app.get('/save', async (req, res, next) => {
    try {
      setFromQuery(req)
      await promised((cb) => req.session.save(cb))
      send(req, res)
    } catch (err) { next(err) }
  })
  app.get('/max-age', (req, res) => {
    req.session.cookie.maxAge = req.query.ms === 'null' ? null : Number(req.query.ms)
    send(req, res)
  })
  app.get('/regenerate', async (req, res, next) => {
    try {
      await promised((cb) => req.session.regenerate(cb))
      send(req, res)
    } catch (err) { next(err) }
  })
  app.get('/login', async (req, res, next) => {
    try {
      // passport's req.login: a new id against session fixation, then the user.
      await promised((cb) => req.session.regenerate(cb))
      req.session.passport = { user: req.query.user }
      send(req, res)
    } catch (err) { next(err) }
  })
  const end = async (req, res, next) => {
    try {
      await promised((cb) => req.session.destroy(cb))
      res.json({ id: null, data: null })
    } catch (err) { next(err) }
  }
  app.get('/destroy', end)
  app.get('/logout', end)
  app.get('/fail', (req, res) => { setFromQuery(req); res.status(500).json({ error: 'failed on purpose' }) })

  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`)
    res.status(500).json({ error: String(err && err.message ? err.message : err) })
  })
}

async function main () {
  const { config, port } = readConfig()
  const packages = packageSet(config.packages)
  const express = packages.require('express')
  const session = packages.require('express-session')
  const { store, close } = config.store
    ? await openStore(session, config.store, { packages, share: config.share })
    : { store: undefined, async close () {} }
  const options = { ...config }
  for (const key of ['store', 'passport', 'packages', 'share', 'policy', 'header', 'socketRecheck']) delete options[key]
  if (config.policy) {
    // `policy: {...}` (its own options, e.g. passport): publish the session policy
    // and log each difference with Django's before listening (node/lib/policy.js).
    const { startPolicy } = require('../../node/lib/policy')
    const { absoluteMaxAge, absoluteMaxAgeFrom, touchAfter } = config
    await startPolicy(store, { session: options, absoluteMaxAge, absoluteMaxAgeFrom, touchAfter, ...config.policy })
  }
  if (store) options.store = store

  const app = express()
  app.set('etag', false)
  if (config.header) {
    // The package's sessionHeader(): the signed id in a header, before session().
    const { sessionHeader } = require('../../node/lib/header.js')
    app.use(sessionHeader({ header: config.header, name: options.name }))
  }
  app.use(session(options))
  const users = config.passport ? require('./passport').setUp(app, config.passport, packages) : null
  // -- django-express-session's guard(): after express-session and passport --------------
  const { guard } = require('../../node/lib/guard.js')
  app.use(guard({
    absoluteMaxAge: config.absoluteMaxAge,
    absoluteMaxAgeFrom: config.absoluteMaxAgeFrom,
    track: config.track,
    touchAfter: config.touchAfter,
    passport: config.passport ? { field: 'username' } : null,
    djangoSecretKey: config.passport ? config.passport.djangoSecretKey : null,
    maxSessionsPerUser: config.maxSessionsPerUser,
    onSessionLimit: config.onSessionLimit
  }))
  // -- end of guard() -----------------------------------------------------------------------
  app.use(holds())
  if (users) users.routes(app)
  routes(app)

  const server = app.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n')
  })
  const stop = () => server.close(() => Promise.all([close(), users && users.close()]).finally(() => process.exit(0)))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
