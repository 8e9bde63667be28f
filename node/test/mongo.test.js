'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const { MongoClient, BSON } = require('mongodb')
const MongoStore = require('connect-mongo').default || require('connect-mongo').MongoStore
const { startMongoeco } = require('./support/servers')
const { get } = require('./support/http')
const { contract } = require('./support/contract')

// One server for both suites (mongoeco takes seconds to start).
let server, admin
let users = 0

for (const stringify of [true, false]) {
  // (a database of this run's own, should MONGO_URI name a shared server)
  const dbName = `des_node_${process.pid}_${stringify}`
  const documents = () => admin.db(dbName).collection('sessions')
  const fixture = {
    async start () {
      if (users++ === 0) {
        server = await startMongoeco()
        admin = new MongoClient(server.url)
        await admin.connect()
      }
    },
    async makeStore () {
      const store = MongoStore.create({ mongoUrl: server.url, dbName, stringify })
      await store.collectionP
      let closed = false
      return { store, close: () => closed ? undefined : (closed = true, store.close()) }
    },
    // The whole document in canonical Extended JSON: field order and BSON types show.
    async raw (sid) {
      const document = await documents().findOne({ _id: sid })
      return document ? BSON.EJSON.stringify(document, { relaxed: false }) : null
    },
    async record (sid) {
      const document = await documents().findOne({ _id: sid })
      return stringify ? JSON.parse(document.session) : document.session
    },
    async age (sid, seconds) {
      const { expires } = await documents().findOne({ _id: sid })
      await documents().updateOne({ _id: sid }, { $set: { expires: new Date(expires.getTime() - seconds * 1000) } })
    },
    expiresAt: async (sid) => (await documents().findOne({ _id: sid })).expires.getTime(),
    corrupt: (sid) => documents().updateOne({ _id: sid }, { $set: { session: stringify ? '{"cookie":' : 'no object' } }),
    async stop () {
      await admin.db(dbName).dropDatabase()
      if (--users === 0) {
        await admin.close()
        await server.stop()
      }
    }
  }

  contract(`connect-mongo (stringify: ${stringify})`, fixture, ({ twoApps, sidOf }) => {
    it('keeps expires as the stock store writes it', async () => {
      const { apps, close } = await twoApps(fixture)
      try {
        const first = await get(apps[0].port, '/set?a=1')
        await get(apps[1].port, '/set?b=1', first.cookie)
        const document = await documents().findOne({ _id: sidOf(first.cookie) })
        const session = stringify ? JSON.parse(document.session) : document.session
        assert.equal(document.expires.getTime(), new Date(session.cookie.expires).getTime())
      } finally {
        await close()
      }
    })
  })
}
