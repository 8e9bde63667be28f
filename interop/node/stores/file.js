// session-file-store 1.5.0, as an Express app would configure it.
'use strict'

exports.make = async function make (session, options, packages) {
  const FileStore = packages.require('session-file-store')(session)
  const store = new FileStore({ reapInterval: -1, logFn () {}, ...options })
  return { store, async close () {} }
}
