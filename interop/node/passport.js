// passport 0.7 with passport-local over Django's user table, for app.js when its config
// has `passport: {users: <PostgreSQL URL of the Django database>, djangoSecretKey}`.
//
// serializeUser stores the username (Django's EXPRESS_SESSION["passport"] is
// {"field": "username"}), and the middleware after passport.session() is the README's
// "log out after a password change" snippet: a session whose _auth_user_hash is not the
// hash of the user's current password is logged out, as Django's get_user() does.
//
//   GET /me                              {user, id}: req.user's username, or null
//   GET /auth/login?username=&password=  passport.authenticate('local') + req.login
//   GET /auth/logout[?keep=1]            req.logout (keep=1: keepSessionInfo)
'use strict'

const crypto = require('crypto')

// Django's "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>".
function checkPassword (password, encoded) {
  const [algorithm, iterations, salt, hash] = String(encoded).split('$')
  if (algorithm !== 'pbkdf2_sha256') return Promise.resolve(false)
  return new Promise((resolve, reject) => {
    crypto.pbkdf2(password, salt, Number(iterations), 32, 'sha256', (err, key) => {
      if (err) return reject(err)
      const expected = Buffer.from(hash, 'base64')
      resolve(expected.length === key.length && crypto.timingSafeEqual(expected, key))
    })
  })
}

// Django's AbstractBaseUser.get_session_auth_hash(): salted_hmac over the password field.
function sessionAuthHash (password, secretKey) {
  const salt = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash'
  const key = crypto.createHash('sha256').update(salt + secretKey).digest()
  return crypto.createHmac('sha256', key).update(password).digest('hex')
}

function setUp (app, options, packages) {
  const passport = packages.require('passport')
  const LocalStrategy = packages.require('passport-local')
  const { Pool } = packages.require('pg')
  const pool = new Pool({ connectionString: options.users, max: 2 })
  const secretKey = options.djangoSecretKey
  const findUser = async (username) => {
    const sql = 'SELECT id, username, password, is_active FROM auth_user WHERE username = $1'
    return (await pool.query(sql, [username])).rows[0]
  }

  passport.use(new LocalStrategy((username, password, done) => {
    findUser(username)
      .then(async (user) => done(null, user && user.is_active && (await checkPassword(password, user.password)) ? user : false))
      .catch(done)
  }))
  passport.serializeUser((user, done) => done(null, user.username))
  passport.deserializeUser((username, done) => {
    findUser(username).then((user) => done(null, user && user.is_active ? user : false)).catch(done)
  })

  app.use(passport.initialize())
  app.use(passport.session())
  // The README's snippet: log out a session whose password changed since its login.
  app.use((req, res, next) => {
    if (!req.user) return next()
    if (req.session._auth_user_hash === sessionAuthHash(req.user.password, secretKey)) return next()
    req.logout((err) => next(err))
  })

  const me = (req, res) => res.json({ user: req.user ? req.user.username : null, id: req.sessionID })
  app.get('/me', me)
  app.get('/auth/login', (req, res, next) => {
    passport.authenticate('local', (err, user) => {
      if (err) return next(err)
      if (!user) return res.status(401).json({ user: null })
      req.login(user, (err) => {
        if (err) return next(err)
        // Stamped at login, so a password change before Django sees it still counts.
        req.session._auth_user_hash = sessionAuthHash(user.password, secretKey)
        me(req, res)
      })
    })(req, res, next)
  })
  app.get('/auth/logout', (req, res, next) => {
    req.logout({ keepSessionInfo: req.query.keep === '1' }, (err) => (err ? next(err) : me(req, res)))
  })
  return { close: () => pool.end() }
}

module.exports = { setUp, sessionAuthHash, checkPassword }
