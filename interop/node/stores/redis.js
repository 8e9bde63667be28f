// connect-redis 9 with a node-redis 5 client, as an Express app would configure it.
//
// Options: `url` (a redis:// URL) or `cluster` (a list of redis:// URLs of cluster
// nodes); everything else goes to RedisStore as is (prefix, ttl, disableTouch,
// disableTTL, scanCount). A `ttlSeconds` option stands for a ttl *function* that
// returns that many seconds, since JSON cannot carry a function.
'use strict'

const { createClient, createCluster } = require('redis')
const { RedisStore } = require('connect-redis')

exports.make = async function make (session, options) {
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
