// passport 0.7 with passport-local over Django's user table, for app.js when its config
// has `passport: {users: <PostgreSQL URL of the Django database>, djangoSecretKey}`.
//
// serializeUser stores the username (Django's EXPRESS_SESSION["passport"] is
// {"field": "username"}); passwords are checked with the package's
// verifyDjangoPassword, and app.js puts the package's guard() right after
// passport.session() (with djangoSecretKey), which stamps each login with Django's
// _auth_user_hash and logs out a session whose user's password changed since.
//
//   GET /me                              {user, id}: req.user's username, or null
//   GET /auth/login?username=&password=  passport.authenticate('local') + req.login
//   GET /auth/logout[?keep=1]            req.logout (keep=1: keepSessionInfo)
//   GET /auth/age                        {user, age}: the package's authAge(req)
//
// A login over guard()'s maxSessionsPerUser that it refuses answers 403 {user: null, error}.
'use strict'


const { verifyDjangoPassword } = require('../../node/lib/passwords.js')
const { authAge } = require('../../node/lib/recent-auth.js')

// The middleware: passport.initialize() and passport.session(). `routes(app)` adds the
// routes above, after whatever app.js puts behind passport (guard()). `packages` is the
// npm package set the app runs on (./packages.js).
function setUp (app, options, packages) {
  const passport = packages.require('passport')
  const LocalStrategy = packages.require('passport-local')
  const { Pool } = packages.require('pg')
  const pool = new Pool({ connectionString: options.users, max: 2 })
  const findUser = async (username) => {
    const sql = 'SELECT id, username, password, is_active FROM auth_user WHERE username = $1'
    return (await pool.query(sql, [username])).rows[0]
  }

  passport.use(new LocalStrategy((username, password, done) => {
    findUser(username)
      .then(async (user) => done(null, user && user.is_active && (await verifyDjangoPassword(password, user.password)) ? user : false))
      .catch(done)
  }))
  passport.serializeUser((user, done) => done(null, user.username))
  passport.deserializeUser((username, done) => {
    findUser(username).then((user) => done(null, user && user.is_active ? user : false)).catch(done)
  })

  app.use(passport.initialize())
  app.use(passport.session())
  return { routes: (app) => routes(app, passport), close: () => pool.end() }
}

function routes (app, passport) {
  const me = (req, res) => res.json({ user: req.user ? req.user.username : null, id: req.sessionID })
  app.get('/me', me)
  app.get('/auth/login', (req, res, next) => {
    passport.authenticate('local', (err, user) => {
      if (err) return next(err)
      if (!user) return res.status(401).json({ user: null })
      req.login(user, (err) => {
        if (err && err.code === 'ESESSIONLIMIT') return res.status(403).json({ user: null, error: err.message })
        return err ? next(err) : me(req, res)
      })
    })(req, res, next)
  })
  app.get('/auth/age', (req, res) => res.json({ user: req.user ? req.user.username : null, age: authAge(req) }))
  app.get('/auth/logout', (req, res, next) => {
    req.logout({ keepSessionInfo: req.query.keep === '1' }, (err) => (err ? next(err) : me(req, res)))
  })
}

module.exports = { setUp }
