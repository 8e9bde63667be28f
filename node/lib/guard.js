// guard(options): the rules of django-express-session that need the request, on the
// Express side, over the record both apps share. Put it after express-session (and after
// passport.initialize() and passport.session() when passport is used):
//
// - absoluteMaxAge / absoluteMaxAgeFrom: a session ends absoluteMaxAge ms after
//   djangoExpressSession.startedAt (epoch ms), however active it is; the cookie and the
//   store's expiry stop at that moment (to the end of its second). The clock starts when
//   the session is first stored, survives passport's regenerate at login ("start") or
//   restarts there ("login"), as Django's login() keeps or restarts it.
// - djangoSecretKey (with passport): Django's password-change logout. A session whose
//   _auth_user_hash is not the HMAC of the user's current password hash is logged out,
//   as Django's get_user() does; a passport login stamps it, so Django accepts it too.
// - track: ip, userAgent, createdAt and lastSeenAt in djangoExpressSession, with
//   Django's 512-character cut, written when the request writes the session anyway or
//   once the last visit is touchAfter (else 300 s) old.
//
// A session that ends here (the cap, a changed password) is destroyed and the request
// goes on with a new, empty session, as after req.session.regenerate().
'use strict'

const crypto = require('node:crypto')
const net = require('node:net')

const { warnOnce } = require('./warnings.js')
const { SessionLimitError } = require('./errors.js')
const { parseLimit, enforceLimit } = require('./limit.js')

// The record's one key of django-express-session's own, as the Django side names it.
const OWN_KEY = 'djangoExpressSession'
// Django's HASH_SESSION_KEY and the key salt of AbstractBaseUser.get_session_auth_hash.
const HASH_KEY = '_auth_user_hash'
const AUTH_HASH_SALT = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash'
const TRACKABLE = ['ip', 'userAgent']
// How often a visit is written when touchAfter does not say (seconds), and how much of
// a user agent is kept: Django's tracking.DEFAULT_VISIT_INTERVAL and USER_AGENT_LIMIT.
const DEFAULT_VISIT_INTERVAL = 300
const USER_AGENT_LIMIT = 512
const FROM = ['start', 'login']
const OPTIONS = ['absoluteMaxAge', 'absoluteMaxAgeFrom', 'passport', 'djangoSecretKey',
  'passwordHashOf', 'track', 'touchAfter', 'maxSessionsPerUser', 'onSessionLimit']

function invalid (name, problem) {
  return new TypeError(`guard(): ${name} ${problem}`)
}

function isPlainObject (value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// By default the user's password hash is its `password` field: what a passport
// deserializeUser that reads Django's auth_user row gives.
function passwordField (user) {
  return user && typeof user.password === 'string' ? user.password : null
}

function parseOptions (options = {}) {
  if (!isPlainObject(options)) throw invalid('options', `must be an object, not ${options}`)
  const unknown = Object.keys(options).filter((key) => !OPTIONS.includes(key))
  if (unknown.length) throw invalid(`has unknown options ${unknown.join(', ')}`, `(known: ${OPTIONS.join(', ')})`)
  // Absent and null both mean "not given", as None does in Django's settings.
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== null))
  const { absoluteMaxAge = null, absoluteMaxAgeFrom = 'start', passport = null } = given
  const { djangoSecretKey = null, passwordHashOf = passwordField, track = [], touchAfter = 0 } = given
  if (absoluteMaxAge !== null && !(Number.isFinite(absoluteMaxAge) && absoluteMaxAge > 0)) {
    throw invalid('absoluteMaxAge', `must be a number of milliseconds above 0, or null, not ${absoluteMaxAge}`)
  }
  if (!FROM.includes(absoluteMaxAgeFrom)) {
    throw invalid('absoluteMaxAgeFrom', `must be "start" or "login", not ${JSON.stringify(absoluteMaxAgeFrom)}`)
  }
  if (absoluteMaxAgeFrom === 'login' && passport === null) {
    throw invalid('absoluteMaxAgeFrom', '"login" restarts the clock at passport\'s login: it needs the passport option')
  }
  if (passport !== null && passport !== true && !isPlainObject(passport)) {
    throw invalid('passport', `must be true or an object like {field: "username"}, not ${passport}`)
  }
  if (isPlainObject(passport) && passport.field !== undefined && (typeof passport.field !== 'string' || !passport.field)) {
    throw invalid('passport.field', `must name the user field serializeUser stores, not ${passport.field}`)
  }
  const secretKeys = djangoSecretKey === null ? [] : [].concat(djangoSecretKey)
  if (secretKeys.length === 0 && djangoSecretKey !== null) throw invalid('djangoSecretKey', 'is an empty list')
  if (secretKeys.some((key) => typeof key !== 'string' || key === '')) {
    throw invalid('djangoSecretKey', 'must be Django\'s SECRET_KEY (a string), or a list of it and its SECRET_KEY_FALLBACKS')
  }
  if (secretKeys.length && passport === null) {
    throw invalid('djangoSecretKey', 'is for the password-change logout of passport logins: it needs the passport option')
  }
  if (typeof passwordHashOf !== 'function') throw invalid('passwordHashOf', 'must be a function (user) => password hash')
  if (!Array.isArray(track) || track.some((item) => !TRACKABLE.includes(item))) {
    throw invalid('track', `must be a list of ${TRACKABLE.map((item) => `"${item}"`).join(' and ')}, not ${JSON.stringify(track)}`)
  }
  if (!(Number.isFinite(touchAfter) && touchAfter >= 0)) {
    throw invalid('touchAfter', `must be a number of seconds (0 or more), not ${touchAfter}`)
  }
  const limit = parseLimit(given)
  if (limit.maxSessionsPerUser !== null && passport === null) {
    throw invalid('maxSessionsPerUser', 'counts passport\'s logins: it needs the passport option')
  }
  return Object.freeze({
    ...limit,
    absoluteMaxAge,
    absoluteMaxAgeFrom,
    passport: passport === null ? null : Object.freeze({ ...(passport === true ? {} : passport) }),
    secretKeys,
    passwordHashOf,
    track: Object.freeze([...track]),
    touchAfter,
    // Django's tracking.visit_interval_ms: null when track is off.
    visitIntervalMs: track.length ? (touchAfter || DEFAULT_VISIT_INTERVAL) * 1000 : null
  })
}

// -- the record's own dict -------------------------------------------------------------

function ownOf (session) {
  const own = session[OWN_KEY]
  return isPlainObject(own) ? { ...own } : null
}

function moment (own, key) {
  const value = own ? own[key] : undefined
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : null
}

// The moments a Django datetime can show (years 1 to 9999), in ms, and how far ahead of
// this server's clock a start may be (another server's clock may run a little ahead).
const EARLIEST_MS = -62135596800000
const LATEST_MS = 253402300799999
const CLOCK_SKEW_MS = 300000

// A start the cap cannot be counted from (beyond what Django's dates show, or ahead of
// now): the session ends, the safe side for a cap, as on Django.
function startRefused (session, now) {
  const started = moment(ownOf(session), 'startedAt')
  return started !== null && !(started >= EARLIEST_MS && started <= Math.min(LATEST_MS, now + CLOCK_SKEW_MS))
}

function capOf (session, config) {
  const started = moment(ownOf(session), 'startedAt')
  return config.absoluteMaxAge === null || started === null ? null : started + config.absoluteMaxAge
}

function setOwn (session, own) {
  if (JSON.stringify(session[OWN_KEY]) !== JSON.stringify(own)) session[OWN_KEY] = own
}

function hasData (session) {
  return Object.keys(session).some((key) => key !== 'cookie')
}

function dataOf (session) {
  return JSON.stringify(session, function (key, value) {
    return this === session && key === 'cookie' ? undefined : value
  })
}

// -- ending a session ------------------------------------------------------------------

function promised (fn) {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())))
}

// The session is over: its record is destroyed and the request goes on with a new,
// empty session (with its own clock), which express saves as after any regenerate.
// When the store cannot destroy it, the error goes to the app with the session as it
// was (express-session made a new one anyway, whose cookie would log the browser out).
async function endSession (req, config) {
  const [session, sessionID] = [req.session, req.sessionID]
  try {
    await promised((done) => req.session.regenerate(done))
  } catch (err) {
    [req.session, req.sessionID] = [session, sessionID]
    throw err
  }
  if (config.absoluteMaxAge !== null) req.session[OWN_KEY] = { startedAt: Date.now() }
  if (config.passport !== null) req[req._userProperty || 'user'] = null
}

// The cookie, and so the store's expiry, ends with the cap: express-session touches the
// session (expiry = now + maxAge) just before it decides and saves, so the expiry is
// held back right after, keeping originalMaxAge (what a touch resets to). It is held at
// the cap's last millisecond of the second (cap + 999 ms): Set-Cookie's Expires and
// connect-memcached's TTL both cut to whole seconds, which would end the session up to
// a second before its cap; the session itself ends at the cap, checked at each read.
const CAP_ROUNDING_MS = 999

function capOnTouch (session, config) {
  if (Object.prototype.hasOwnProperty.call(session, 'touch')) return
  Object.defineProperty(session, 'touch', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function touch () {
      Object.getPrototypeOf(this).touch.call(this)
      const cap = capOf(this, config)
      const expires = this.cookie.expires
      if (cap !== null && !(expires instanceof Date && expires.getTime() <= cap + CAP_ROUNDING_MS)) {
        const originalMaxAge = this.cookie.originalMaxAge
        this.cookie.expires = new Date(cap + CAP_ROUNDING_MS) // the setter sets originalMaxAge
        this.cookie.originalMaxAge = originalMaxAge
      }
      return this
    }
  })
}

// -- the password-change logout --------------------------------------------------------

// Django's AbstractBaseUser.get_session_auth_hash(): salted_hmac with SHA-256 over the
// password hash, keyed by the secret key.
function sessionAuthHash (passwordHash, secretKey) {
  const key = crypto.createHash('sha256').update(AUTH_HASH_SALT + secretKey).digest()
  return crypto.createHmac('sha256', key).update(passwordHash).digest('hex')
}

function sameText (one, other) {
  const a = Buffer.from(String(one))
  const b = Buffer.from(String(other))
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

// The user's password hash as passwordHashOf gives it (null, with one warning: it
// gives none, and the rule cannot apply).
async function passwordHashOfUser (user, config) {
  const passwordHash = await config.passwordHashOf(user)
  if (typeof passwordHash === 'string') return passwordHash
  warnOnce('passwordHashOf', 'guard(): passwordHashOf(user) gave no password hash, so the ' +
    'password-change logout cannot apply (by default it reads user.password, Django\'s field)')
  return null
}

// The session auth hash of `user` under the current key (null: no rule to stamp for).
async function stampOf (user, config) {
  if (!config.secretKeys.length || !user) return null
  const passwordHash = await passwordHashOfUser(user, config)
  return passwordHash === null ? null : sessionAuthHash(passwordHash, config.secretKeys[0])
}

// As Django's get_user(): the hash of the current password under the current key
// stands; under one of the fallback keys it is stamped anew; otherwise the password
// changed since the login and the session ends. A login that was never stamped (an
// Express app without guard) gets the current hash, as Django's bridge gives it.
async function checkPasswordChange (req, config) {
  const user = req[req._userProperty || 'user']
  const passwordHash = user ? await passwordHashOfUser(user, config) : null
  if (passwordHash === null) return
  const [current, ...fallbacks] = config.secretKeys.map((key) => sessionAuthHash(passwordHash, key))
  const stamped = req.session[HASH_KEY]
  if (typeof stamped === 'string' && stamped !== '') {
    if (sameText(stamped, current)) return
    if (!fallbacks.some((hash) => sameText(stamped, hash))) return endSession(req, config)
  }
  req.session[HASH_KEY] = current
}

// -- passport's login ------------------------------------------------------------------

// The session after a login, from the one before it, as Django's login() leaves it: the
// same user or none before keeps the clock ("start") or restarts it ("login"), and the
// other details; another user before ends that session first, so all starts anew. The
// login is the user's proof of identity (authAt, which Django's auth_age reads).
function ownAfterLogin (before, previousUser, newUser, config) {
  const another = previousUser !== undefined && previousUser !== null &&
    JSON.stringify(previousUser) !== JSON.stringify(newUser)
  const own = another || !before ? {} : { ...before }
  if (config.absoluteMaxAge !== null &&
      (another || config.absoluteMaxAgeFrom === 'login' || moment(own, 'startedAt') === null)) {
    own.startedAt = Date.now()
  }
  own.authAt = Date.now()
  return own
}

// Gives the session `own` and the stamp; whether that changed it.
function settleLogin (session, own, stamp) {
  const before = JSON.stringify(session[OWN_KEY])
  if (own !== null) setOwn(session, own)
  const changed = before !== JSON.stringify(session[OWN_KEY])
  if (stamp === null || session[HASH_KEY] === stamp) return changed
  session[HASH_KEY] = stamp
  return true
}

// passport 0.7's req.login regenerates the session, saves it with passport.user, then
// calls back. When the session had no user before, what the login leaves in its own
// dict is known beforehand, so the new session gets it (with the stamp, and the visit
// with track) as soon as it exists and passport's save writes it. It is settled again
// after the login, where keepSessionInfo may have copied the old session's over it, or
// another user before (known once passport serialized the new one) starts all anew;
// `saved()` is told when passport's save left nothing more to write.
function hookLogin (req, config, saved) {
  const original = req.logIn
  const login = function logIn (user, options, done) {
    if (typeof options === 'function') [done, options] = [options, {}]
    options = options || {}
    const previous = req.session
    if (options.session === false || typeof done !== 'function' || !previous) {
      return original.call(this, user, options, done)
    }
    const before = ownOf(previous)
    const previousUser = isPlainObject(previous.passport) ? previous.passport.user : undefined
    const ownAfter = (newUser) => {
      const own = ownAfterLogin(before, previousUser, newUser, config)
      return config.visitIntervalMs === null ? own : visited(own, req, config)
    }
    stampOf(user, config).then((stamp) => {
      let own = null
      if (previousUser === undefined) {
        own = ownAfter(undefined)
        Object.defineProperty(previous, 'regenerate', {
          configurable: true,
          enumerable: false,
          writable: true,
          value: function regenerate (callback) {
            return Object.getPrototypeOf(previous).regenerate.call(this, (err) => {
              if (!err && req.session) settleLogin(req.session, own, stamp)
              callback(err)
            })
          }
        })
      }
      original.call(this, user, options, (err) => {
        if (err) return done(err)
        const session = req.session
        if (session) {
          if (own === null) own = ownAfter(isPlainObject(session.passport) ? session.passport.user : undefined)
          if (!settleLogin(session, own, stamp)) saved()
        }
        if (!session || config.maxSessionsPerUser === null) return done()
        // passport saved the login's session: it counts against the limit now.
        enforceLimit(req, user, config).then(async (refusedAt) => {
          if (refusedAt === null) return done()
          await endSession(req, config)
          done(new SessionLimitError(refusedAt))
        }).catch(done)
      })
    }, done)
  }
  req.login = req.logIn = login
}

// -- track -----------------------------------------------------------------------------

// The client's address: Express's req.ip, which follows the app's "trust proxy" (the
// left-most X-Forwarded-For entry under `true`, as Django's client_ip behind a trusted
// proxy); the connection's address when that is no IP address.
function clientIp (req) {
  if (typeof req.ip === 'string' && net.isIP(req.ip)) return req.ip
  return (req.socket && req.socket.remoteAddress) || null
}

function setOrDrop (own, key, value) {
  if (value === null || value === undefined || value === '') delete own[key]
  else own[key] = value
}

// Django's tracking.visited, for a write by this app: Django's digest of the record
// it wrote no longer applies, and writtenBy says who wrote last.
function visited (own, req, config) {
  const now = Date.now()
  const updated = { ...own }
  if (moment(updated, 'createdAt') === null) updated.createdAt = now
  updated.lastSeenAt = now
  if (config.track.includes('ip')) setOrDrop(updated, 'ip', clientIp(req))
  if (config.track.includes('userAgent')) {
    const agent = req.headers['user-agent']
    setOrDrop(updated, 'userAgent', agent ? agent.slice(0, USER_AGENT_LIMIT) : null)
  }
  updated.writtenBy = 'express'
  delete updated.digest
  return updated
}

// -- the request -----------------------------------------------------------------------

// The browser's cookie named this session (express-session's signed "s:<id>.<mac>"),
// so it was read from the store rather than made for this request.
function namedByCookie (req) {
  const header = req.headers.cookie
  const sid = req.sessionID
  return typeof header === 'string' && typeof sid === 'string' &&
    (header.includes(`s%3A${sid}.`) || header.includes(`s:${sid}.`))
}

// What happens just before express-session decides to save: the new session's clock,
// the visit, the cap on the cookie. Run once, at res.end or at the headers if they go
// first (both are wrapped here, after express-session wrapped them, so this runs first).
function beforeSave (req, res, work) {
  let done = false
  const once = () => {
    if (done) return
    done = true
    work()
  }
  const { end, writeHead } = res
  res.end = function (...args) { once(); return end.apply(this, args) }
  res.writeHead = function (...args) { once(); return writeHead.apply(this, args) }
}

function guard (options) {
  const config = parseOptions(options)

  async function open (req, res) {
    const startId = req.sessionID
    // What the store holds of this session as far as this request knows (with track:
    // a request that leaves it as it is writes the visit only when one is due).
    const snapshot = () => ({
      id: req.sessionID,
      data: config.visitIntervalMs === null ? null : dataOf(req.session)
    })
    let written = namedByCookie(req) ? snapshot() : null
    const cap = capOf(req.session, config)
    const now = Date.now()
    if (cap !== null && (now >= cap || startRefused(req.session, now))) {
      await endSession(req, config) // whatever touched it meanwhile, the session is over
    } else if (config.absoluteMaxAge !== null && cap === null && written !== null) {
      // A session made where the cap was not kept: its clock starts now, as on Django.
      req.session[OWN_KEY] = { ...ownOf(req.session), startedAt: Date.now() }
    }
    if (config.secretKeys.length && req.session) await checkPasswordChange(req, config)
    if (config.passport !== null) {
      hookLogin(req, config, () => { written = snapshot() })
    }
    if (config.absoluteMaxAge === null && config.visitIntervalMs === null) return

    beforeSave(req, res, () => {
      const session = req.session
      if (!session) return
      // Saved whatever happens: it holds data, or it replaced the session read.
      const saved = hasData(session) || req.sessionID !== startId
      if (config.absoluteMaxAge !== null) {
        if (capOf(session, config) === null && saved) {
          session[OWN_KEY] = { ...ownOf(session), startedAt: Date.now() }
        }
        capOnTouch(session, config)
      }
      if (config.visitIntervalMs !== null) {
        const same = written !== null && req.sessionID === written.id
        const changed = same ? dataOf(session) !== written.data : saved
        const last = moment(ownOf(session), 'lastSeenAt')
        if (changed || (same && (last === null || Date.now() - last >= config.visitIntervalMs))) {
          session[OWN_KEY] = visited(ownOf(session), req, config)
        }
      }
    })
  }

  const middleware = function djangoExpressSessionGuard (req, res, next) {
    if (!req.session) return next() // express-session skipped this request
    if (config.passport !== null && typeof req.logIn !== 'function') {
      return next(new Error('guard({passport}) must come after passport.initialize() and passport.session()'))
    }
    open(req, res).then(() => next(), next)
  }
  middleware.options = config
  return middleware
}

module.exports = { guard, sessionAuthHash }
