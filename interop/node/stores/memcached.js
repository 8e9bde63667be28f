// connect-memcached 3 (node-memcached 2.2), as an Express app would configure it.
//
// Options go to MemcachedStore as is: `hosts` ("127.0.0.1:11211" or a list), `prefix`
// (default ""), `ttl` (seconds), plus any node-memcached option.
'use strict'

exports.make = async function make (session, options, packages) {
  const MemcachedStore = packages.require('connect-memcached')(session)
  const store = new MemcachedStore({ retries: 0, ...options })
  return {
    store,
    async close () {
      store.client.end()
    }
  }
}
