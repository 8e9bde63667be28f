// Recent authentication on the Express side, over the record both apps share:
// djangoExpressSession.authAt (epoch ms) is when the user last proved who they are,
// stamped by Django's login() and mark_authenticated(), and here by guard()'s passport
// login and markAuthenticated(req). authAge(req) gives the seconds since (null if
// never); requireRecentAuth({maxAge, loginUrl}) guards a route as Django's recent_auth
// decorator guards a view.
'use strict'

const OWN_KEY = 'djangoExpressSession'
const AUTH_AT = 'authAt'

function isPlainObject (value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function authAge (req) {
  const own = req.session && req.session[OWN_KEY]
  const at = isPlainObject(own) ? own[AUTH_AT] : undefined
  if (typeof at !== 'number' || !Number.isFinite(at)) return null
  return Math.max(0, Math.floor((Date.now() - at) / 1000))
}

function markAuthenticated (req) {
  if (!req.session) throw new TypeError('markAuthenticated(req): the request has no session (express-session must come first)')
  const own = req.session[OWN_KEY]
  req.session[OWN_KEY] = { ...(isPlainObject(own) ? own : {}), [AUTH_AT]: Date.now() }
}

// A route that needs a recent proof of identity was asked for without one.
class ReauthenticationRequiredError extends Error {
  constructor (maxAge) {
    super(`this page needs you to have signed in within the last ${maxAge} seconds: sign in again`)
    this.name = 'ReauthenticationRequiredError'
    this.code = 'EREAUTH'
    this.status = 401
    this.maxAge = maxAge
  }
}

function requireRecentAuth (options = {}) {
  if (!isPlainObject(options)) throw new TypeError('requireRecentAuth(options): options must be an object')
  const { maxAge, loginUrl = null } = options
  if (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge < 0) {
    throw new TypeError(`requireRecentAuth(): maxAge must be seconds (a number, 0 or more), not ${maxAge}`)
  }
  if (loginUrl !== null && (typeof loginUrl !== 'string' || loginUrl === '')) {
    throw new TypeError(`requireRecentAuth(): loginUrl must be a URL or null, not ${loginUrl}`)
  }
  return function djangoExpressSessionRecentAuth (req, res, next) {
    const age = authAge(req)
    const user = req[req._userProperty || 'user']
    const loggedOut = 'isAuthenticated' in req && typeof req.isAuthenticated === 'function' ? !req.isAuthenticated() : user === null
    if (age !== null && age <= maxAge && !loggedOut) return next()
    if (loginUrl === null) return next(new ReauthenticationRequiredError(maxAge))
    const join = loginUrl.includes('?') ? '&' : '?'
    res.redirect(`${loginUrl}${join}next=${encodeURIComponent(req.originalUrl)}`)
  }
}

module.exports = { authAge, markAuthenticated, requireRecentAuth, ReauthenticationRequiredError }
