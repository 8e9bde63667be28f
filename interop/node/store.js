// The session store an Express app of the tests configures: `spec` is {kind, options},
// where `kind` names a factory module ./stores/<kind>.js exporting
// `async make(session, options, packages)` -> {store, close()}. With `share` (an options
// object), the store is wrapped with share() of this repository's npm package (node/),
// which makes its writes per-key merges that never bring a destroyed session back.
'use strict'

const path = require('path')
const { packageSet } = require('./packages')

async function openStore (session, spec, { packages = packageSet(), share } = {}) {
  const { make } = require(`./stores/${spec.kind}.js`)
  const made = await make(session, spec.options || {}, packages)
  if (share) made.store = require(path.resolve(__dirname, '..', '..', 'node')).share(made.store, share)
  return made
}

module.exports = { openStore }
