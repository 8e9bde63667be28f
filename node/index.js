'use strict'

const { share } = require('./lib/share')
const { SessionConflictError, SessionExistsError } = require('./lib/errors')

module.exports = { share, SessionConflictError, SessionExistsError }
