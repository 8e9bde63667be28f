// What every wrapped store must show, run against the real server by each store's test
// file. `fixture` gives:
//   start()               -> starts the server; resolves once it answers
//   makeStore()           -> a stock store on its own client: {store, close()}
//   raw(sid)              -> the stored bytes of a session (a string), or null
//   record(sid)           -> (optional) the stored session as an object, when raw is not its JSON
//   corrupt(sid)          -> stores an unreadable record under sid
//   stop()                -> stops the server
//   comparable(raw)       -> (optional) raw bytes with what differs by the moment of
//                            writing taken out (session-file-store's __lastAccess)
//   age(sid, seconds)     -> (optional, with expiresAt) moves the stored expiry back,
//                            as if written that long ago
//   expiresAt(sid)        -> the stored expiry, epoch ms
//   processConfig()       -> (optional) the config of ./app-process.js for this store
//   makeLoneStore()       -> (optional) a store of its own whose outage() breaks it
//                            alone (by default makeStore() and close())
'use strict'

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { share } = require('../..')
const { startApp, gate } = require('./app')
const { get } = require('./http')
const { spawn } = require('node:child_process')
const path = require('node:path')

const KEYS = 10

// The stored session as an object (fixture.record, else the raw bytes are its JSON).
async function recordOf (fixture, sid) {
  return fixture.record ? fixture.record(sid) : JSON.parse(await fixture.raw(sid))
}

function sidOf (cookie) {
  return decodeURIComponent(cookie.split('=')[1]).slice(2).split('.')[0]
}

// The test app in a child process (./app-process.js); resolves with {port, stop()}.
function startAppProcess (config) {
  const child = spawn(process.execPath, [path.join(__dirname, 'app-process.js'), JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the app process exited with ${code}`)))
    child.stdout.once('data', (line) => resolve({
      port: JSON.parse(String(line)).port,
      stop () {
        child.stdin.end()
        return exited
      }
    }))
  })
}

// Two Express apps, each with its own store and client (as two processes would).
async function twoApps (fixture, { wrap = true, express, sessionOptions, shareOptions } = {}) {
  const held = gate()
  const made = [await fixture.makeStore(), await fixture.makeStore()]
  const stores = made.map(({ store }) => (wrap ? share(store, shareOptions) : store))
  const apps = await Promise.all(stores.map((store) => startApp(store, { express, sessionOptions, held })))
  return {
    apps,
    stores,
    held,
    async close () {
      await Promise.all(apps.map((app) => app.close()))
      await Promise.all(made.map((one) => one.close()))
    }
  }
}

// 10 requests of one session, 5 on each app, all reading it before any writes it, each
// setting a key of its own; resolves with the keys the stored record kept.
async function concurrentKeys (fixture, options) {
  const { apps, held, close } = await twoApps(fixture, options)
  try {
    const first = await get(apps[0].port, '/set?start=1')
    const requests = []
    for (let i = 0; i < KEYS; i++) requests.push(get(apps[i % 2].port, `/held?k${i}=${i}`, first.cookie))
    await held.reached(KEYS)
    held.open()
    const answers = await Promise.all(requests)
    const stored = await recordOf(fixture, sidOf(first.cookie))
    return { answers, kept: Object.keys(stored).filter((key) => /^k\d+$/.test(key)) }
  } finally {
    await close()
  }
}

function contract (name, fixture, extra) {
  describe(name, () => {
    before(() => fixture.start())
    after(() => fixture.stop())

    it('keeps all of 10 concurrent changes of different keys from two apps', async () => {
      const { answers, kept } = await concurrentKeys(fixture)
      assert.deepEqual(answers.map((answer) => answer.status), Array(KEYS).fill(200))
      assert.equal(kept.length, KEYS, `kept ${kept}`)
    })

    if (fixture.processConfig) {
      it('keeps them when the other app is another process', async () => {
        const child = await startAppProcess({ ...fixture.processConfig(), holdMs: 200 })
        const { apps, held, close } = await twoApps(fixture)
        try {
          const first = await get(apps[0].port, '/set?start=1')
          const requests = []
          for (let i = 0; i < KEYS; i++) requests.push(get(i % 2 ? child.port : apps[0].port, `/held?k${i}=${i}`, first.cookie))
          await held.reached(KEYS / 2)
          held.open()
          const answers = await Promise.all(requests)
          assert.deepEqual(answers.map((answer) => answer.status), Array(KEYS).fill(200))
          const stored = await recordOf(fixture, sidOf(first.cookie))
          assert.equal(Object.keys(stored).filter((key) => /^k\d+$/.test(key)).length, KEYS)
        } finally {
          await close()
          await child.stop()
        }
      })
    }

    it('(the stock store loses them: the test can fail)', async () => {
      const { kept } = await concurrentKeys(fixture, { wrap: false })
      assert.ok(kept.length < KEYS, `the stock store kept ${kept.length}`)
    })

    it('keeps them on Express 5 too', async () => {
      const { kept } = await concurrentKeys(fixture, { express: require('express5') })
      assert.equal(kept.length, KEYS)
    })

    for (const change of [true, false]) {
      it(`does not bring back a session destroyed while a request ${change ? 'changing' : 'only reading'} it was in flight`, async () => {
        const { apps, held, close } = await twoApps(fixture)
        try {
          const first = await get(apps[0].port, '/set?user=alice')
          const sid = sidOf(first.cookie)
          const inFlight = get(apps[0].port, change ? '/held?more=1' : '/held', first.cookie)
          await held.reached(1)
          assert.equal((await get(apps[1].port, '/logout', first.cookie)).status, 200)
          held.open()
          await inFlight
          assert.equal(await fixture.raw(sid), null)
          const after = await get(apps[0].port, '/session', first.cookie)
          assert.deepEqual(after.body.data, {})
          assert.notEqual(after.body.id, sid)
        } finally {
          await close()
        }
      })
    }

    it('with resave: true, writes back no key it did not change', async () => {
      const { apps, held, close } = await twoApps(fixture, { sessionOptions: { resave: true } })
      try {
        const first = await get(apps[0].port, '/set?mine=1')
        const inFlight = get(apps[0].port, '/held', first.cookie)
        await held.reached(1)
        await get(apps[1].port, '/set?theirs=2', first.cookie)
        held.open()
        assert.equal((await inFlight).status, 200)
        const stored = await recordOf(fixture, sidOf(first.cookie))
        assert.equal(stored.theirs, '2')
        assert.equal(stored.mine, '1')
      } finally {
        await close()
      }
    })

    it('stores the same bytes as the stock store', async () => {
      const { store: stock, close } = await fixture.makeStore()
      const { apps, close: closeApps } = await twoApps(fixture)
      try {
        const first = await get(apps[0].port, '/set?a=1&text=%C3%A9t%C3%A9')
        await get(apps[1].port, '/set?b=2', first.cookie)
        const sid = sidOf(first.cookie)
        const written = await fixture.raw(sid)
        // The same session written again by the stock store, as an unwrapped process would.
        const record = await new Promise((resolve, reject) => stock.get(sid, (err, sess) => (err ? reject(err) : resolve(sess))))
        const session = stock.createSession({ sessionID: sid, sessionStore: stock }, record)
        await new Promise((resolve, reject) => stock.set(sid, session, (err) => (err ? reject(err) : resolve())))
        const comparable = fixture.comparable || ((raw) => raw)
        assert.equal(comparable(await fixture.raw(sid)), comparable(written))
      } finally {
        await closeApps()
        await close()
      }
    })

    it('hands an unreadable record to express-session as the stock store does', async () => {
      for (const wrap of [false, true]) {
        const { apps, close } = await twoApps(fixture, { wrap })
        try {
          const first = await get(apps[0].port, '/set?a=1')
          await fixture.corrupt(sidOf(first.cookie))
          const answer = await get(apps[0].port, '/session', first.cookie)
          assert.equal(answer.status, fixture.corruptStatus || 500, `${wrap ? 'wrapped' : 'stock'}: ${JSON.stringify(answer.body)}`)
          assert.equal((await get(apps[0].port, '/set?a=2')).status, 200) // and the app still serves
        } finally {
          await close()
        }
      }
    })

    it('never writes a new session over one stored under the same id', async () => {
      const { apps, close } = await twoApps(fixture, { sessionOptions: { genid: () => 'the-same-id-for-all' } })
      try {
        const first = await get(apps[0].port, '/save?mine=1')
        assert.equal(first.status, 200)
        const second = await get(apps[1].port, '/save?theirs=1')
        assert.deepEqual(second.body, { id: 'the-same-id-for-all', error: 'ESESSIONEXISTS' })
        assert.deepEqual(await recordOf(fixture, 'the-same-id-for-all'), { ...(await recordOf(fixture, 'the-same-id-for-all')), mine: '1' })
        assert.equal((await recordOf(fixture, 'the-same-id-for-all')).theirs, undefined)
      } finally {
        await close()
      }
    })

    it('gives a store outage to next(err), never a new session', async () => {
      const made = await (fixture.makeLoneStore || fixture.makeStore)()
      const app = await startApp(share(made.store))
      try {
        const first = await get(app.port, '/set?a=1')
        await (made.outage || made.close)()
        for (const path of ['/session', '/set?b=2']) {
          const answer = await get(app.port, path, first.cookie)
          assert.equal(answer.status, 500, `${path}: ${JSON.stringify(answer.body)}`)
          assert.equal(answer.cookie, undefined)
        }
      } finally {
        await app.close()
        if (made.close) await made.close()
      }
    })

    if (fixture.age) {
      it('spares touches within touchAfter, and touches past it', async () => {
        for (const [aged, touched] of [[300, false], [700, true]]) {
          const { apps, close } = await twoApps(fixture, { shareOptions: { touchAfter: 600 } })
          try {
            const first = await get(apps[0].port, '/set?a=1')
            const sid = sidOf(first.cookie)
            // As if the last write or touch had been `aged` seconds ago.
            await fixture.age(sid, aged)
            const before = await fixture.expiresAt(sid)
            await get(apps[1].port, '/session', first.cookie)
            const after = await fixture.expiresAt(sid)
            assert.equal(after > before, touched, `aged ${aged} s: expiry ${before} -> ${after}`)
          } finally {
            await close()
          }
        }
      })
    }

    if (extra) extra({ twoApps, sidOf })
  })
}

module.exports = { contract, twoApps, sidOf }
