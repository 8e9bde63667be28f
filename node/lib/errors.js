// The errors share() gives to express-session's callbacks (and so to next(err)).
'use strict'

// A compare-and-set kept losing to other writers of the session past the retries: the
// request's changes were not written (never written over the others' instead).
class SessionConflictError extends Error {
  constructor (attempts) {
    super(`the session kept changing under ${attempts} writes; this request's changes were not saved`)
    this.name = 'SessionConflictError'
    this.code = 'ESESSIONCONFLICT'
    this.status = 503
  }
}

// A brand-new session's id is already taken: creating it would overwrite another session.
class SessionExistsError extends Error {
  constructor () {
    super('a new session was saved under an id already in use; it was not written')
    this.name = 'SessionExistsError'
    this.code = 'ESESSIONEXISTS'
    this.status = 500
  }
}

// guard()'s maxSessionsPerUser with onSessionLimit "refuse": passport's login was
// refused, since the user has `limit` sessions already (its session is gone).
class SessionLimitError extends Error {
  constructor (limit) {
    const devices = limit === 1 ? 'one device' : `${limit} devices`
    super(`This account is signed in on ${devices} already, the most it may be. Sign out on one of them, then sign in again.`)
    this.name = 'SessionLimitError'
    this.code = 'ESESSIONLIMIT'
    this.status = 403
    this.limit = limit
  }
}

module.exports = { SessionConflictError, SessionExistsError, SessionLimitError }
