'use strict'

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { createCluster } = require('redis')
const { RedisStore } = require('connect-redis')
const Redis = require('ioredis')
const { share } = require('..')
const { startRedisCluster } = require('./support/servers')
const { startApp, gate } = require('./support/app')
const { get } = require('./support/http')
const { sidOf } = require('./support/contract')

describe('connect-redis on a Redis Cluster', () => {
  let cluster, admin
  before(async () => {
    cluster = await startRedisCluster()
    admin = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) })
    await admin.connect()
  })
  after(async () => {
    await admin.close()
    await cluster.stop()
  })

  // One node-redis cluster client and one ioredis cluster client: two processes.
  async function twoApps () {
    const nodeRedis = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) })
    await nodeRedis.connect()
    const ioredis = new Redis.Cluster(cluster.urls.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })))
    const held = gate()
    const apps = await Promise.all([nodeRedis, ioredis].map((client) => startApp(share(new RedisStore({ client })), { held })))
    return {
      apps,
      held,
      async close () {
        await Promise.all(apps.map((app) => app.close()))
        await nodeRedis.close()
        ioredis.disconnect()
      }
    }
  }

  it('keeps 10 concurrent changes, files the login in the index sets (other slots), and a logout sticks', async () => {
    const { apps, held, close } = await twoApps()
    try {
      const login = await get(apps[0].port, '/login?user=dave')
      const sid = sidOf(login.cookie)
      await get(apps[1].port, '/django-login?id=7', login.cookie)
      assert.deepEqual(await admin.sMembers('users:sess:p:"dave"'), [sid])
      assert.deepEqual(await admin.sMembers('users:sess:d:7'), [sid])
      const requests = []
      for (let i = 0; i < 10; i++) requests.push(get(apps[i % 2].port, `/held?k${i}=${i}`, login.cookie))
      await held.reached(10)
      held.open()
      await Promise.all(requests)
      const stored = JSON.parse(await admin.get('sess:' + sid))
      assert.equal(Object.keys(stored).filter((key) => /^k\d$/.test(key)).length, 10)
      await get(apps[1].port, '/logout', login.cookie)
      assert.equal(await admin.get('sess:' + sid), null)
      assert.deepEqual(await admin.sMembers('users:sess:p:"dave"'), [])
      assert.deepEqual(await admin.sMembers('users:sess:d:7'), [])
    } finally {
      await close()
    }
  })
})
