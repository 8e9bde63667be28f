// One process warning per cause: a misconfiguration shows in the log once, not per
// request.
'use strict'

const warned = new Set()

function warnOnce (key, message) {
  if (warned.has(key)) return
  warned.add(key)
  process.emitWarning(message, { code: 'DJANGO_EXPRESS_SESSION' })
}

module.exports = { warnOnce }
