// connect-redis with a node-redis client, as an Express app would configure it: the
// package set's versions (connect-redis 9 and node-redis 5, or connect-redis 11 and
// node-redis 6; connect-redis 11 is ESM only, hence import()).
//
// Options: `url` (a redis:// URL) or `cluster` (a list of redis:// URLs of cluster
// nodes); everything else goes to RedisStore as is (prefix, ttl, disableTouch,
// disableTTL, scanCount). A `ttlSeconds` option stands for a ttl *function* that
// returns that many seconds, since JSON cannot carry a function.
'use strict'

exports.make = async function make (session, options, packages) {
  const { createClient, createCluster } = packages.require('redis')
  const { RedisStore } = await packages.import('connect-redis')
  const { url, cluster, ttlSeconds, ...storeOptions } = options
  const client = cluster
    ? createCluster({ rootNodes: cluster.map((node) => ({ url: node })) })
    : createClient({ url })
  client.on('error', () => {}) // failures surface as rejected commands
  await client.connect()
  if (ttlSeconds !== undefined) storeOptions.ttl = () => ttlSeconds
  const store = new RedisStore({ client, ...storeOptions })
  return {
    store,
    async close () {
      await client.close()
    }
  }
}
