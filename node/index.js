'use strict'

const { share } = require('./lib/share')
const { SessionConflictError, SessionExistsError } = require('./lib/errors')
const { guard, sessionAuthHash } = require('./lib/guard')
const { verifyDjangoPassword } = require('./lib/passwords')
const {
  publishPolicy,
  checkPolicy,
  startPolicy,
  policyOf,
  compare,
  fingerprint,
  UnreadablePolicyError
} = require('./lib/policy')

module.exports = {
  share,
  SessionConflictError,
  SessionExistsError,
  guard,
  sessionAuthHash,
  verifyDjangoPassword,
  publishPolicy,
  checkPolicy,
  startPolicy,
  policyOf,
  compare,
  fingerprint,
  UnreadablePolicyError
}
