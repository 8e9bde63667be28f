// The Express half of the shared-login example: express-session + connect-redis on the
// same Redis, secret, cookie name and cookie options as the Django demo next to it, so
// one browser has one session; passport keeps the user under session.passport.user,
// which the Django side's EXPRESS_SESSION["passport"] option turns into its login.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 SESSION_SECRET='keyboard cat' PORT=3000 node app.js
'use strict'

const express = require('express')
const session = require('express-session')
const { RedisStore } = require('connect-redis')
const { createClient } = require('redis')
const passport = require('passport')
const LocalStrategy = require('passport-local')
// The npm package django-express-session, from this repository until it is published
// (in your app: require('django-express-session')).
const { guard } = require('../../node/lib/guard.js')

const PORT = Number(process.env.PORT || 3000)
const DJANGO_URL = process.env.DJANGO_URL || 'http://localhost:8000/'
// A stand-in for the user database both apps would share: the Django demo's user. A
// real app reads Django's auth_user table, checks its password hashes with the package's
// verifyDjangoPassword, and gives guard() Django's SECRET_KEY (djangoSecretKey) to log a
// session out after a password change on Django (docs/passport.md).
const USERS = { demo: { username: 'demo', password: 'demo' } }

// serializeUser stores the username: Django's option is {"field": "username"}.
passport.use(new LocalStrategy((username, password, done) => {
  const user = USERS[username]
  done(null, user && user.password === password ? user : false)
}))
passport.serializeUser((user, done) => done(null, user.username))
passport.deserializeUser((username, done) => done(null, USERS[username] || false))

function page (req, message) {
  const s = req.session
  const user = req.user && req.user.username
  const esc = (v) => String(v).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html><meta charset="utf-8"><title>Express half</title>
<h1>Express app (port ${PORT})</h1>
${message ? `<p><strong>${esc(message)}</strong></p>` : ''}
<p>User: <strong id="user">${user ? esc(user) : 'anonymous'}</strong>
${s._auth_user_id ? `(Django user id ${esc(s._auth_user_id)})` : ''}</p>
<p>Visits in this session (counted by both apps): <strong id="views">${s.views}</strong></p>
<p>Session id: <code id="sid">${esc(req.sessionID)}</code></p>
${user
    ? '<form method="post" action="/logout"><button>Log out (on Express)</button></form>'
    : `<form method="post" action="/login"><input name="username" placeholder="demo">
       <input name="password" type="password" placeholder="demo"><button>Log in (on Express)</button></form>`}
<p><a href="${esc(DJANGO_URL)}">Open the Django app</a></p>
<pre>${esc(JSON.stringify(s, null, 2))}</pre>`
}

async function main () {
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379/0' })
  await client.connect()

  const app = express()
  app.use(express.urlencoded({ extended: false }))
  app.use(session({
    store: new RedisStore({ client }), // prefix "sess:", as the Django store's default
    secret: process.env.SESSION_SECRET || 'keyboard cat',
    name: 'connect.sid',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 60 * 60 * 1000, sameSite: 'lax' }
  }))
  app.use(passport.initialize())
  app.use(passport.session())
  // Django's rules that need the request, after passport: with the Django demo's
  // options (add absoluteMaxAge, track... when Django has them).
  app.use(guard({ passport: { field: 'username' } }))

  app.get('/', (req, res) => {
    req.session.views = (req.session.views || 0) + 1
    res.send(page(req))
  })

  // req.login regenerates the session (a new id), then stores passport.user.
  app.post('/login', (req, res, next) => {
    passport.authenticate('local', (err, user) => {
      if (err) return next(err)
      if (!user) return res.status(401).send(page(req, 'Wrong user name or password (try demo / demo).'))
      req.login(user, (err) => (err ? next(err) : res.redirect('/')))
    })(req, res, next)
  })

  // req.logout removes passport.user and regenerates the session: logged out on both.
  app.post('/logout', (req, res, next) => {
    req.logout((err) => (err ? next(err) : res.redirect('/')))
  })

  app.listen(PORT, () => console.log(`Express half on http://localhost:${PORT}/`))
}

main().catch((err) => { console.error(err); process.exit(1) })
