// connect-mongo 6 (with the mongodb driver 6.7.0), as an Express app would configure it.
'use strict'

exports.make = async function make (session, options, packages) {
  const { MongoStore } = packages.require('connect-mongo')
  const store = MongoStore.create(options)
  // Wait for the TTL index: closing while it is being built fails (connect-mongo #413).
  await store.collectionP
  return { store, async close () { await store.close() } }
}
