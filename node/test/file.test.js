'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const session = require('express-session')
const FileStore = require('session-file-store')(session)
const { tempDir } = require('./support/servers')
const { get } = require('./support/http')
const { contract } = require('./support/contract')

let dir

const storeOver = (where) => new FileStore({ path: where, reapInterval: -1, retries: 0, logFn () {} })
const fileOf = (sid) => path.join(dir, sid + '.json')

const fixture = {
  async start () {
    dir = tempDir('file')
  },
  async makeStore () {
    return { store: storeOver(dir), close () {} }
  },
  async makeLoneStore () {
    const own = tempDir('file-lone')
    return {
      store: storeOver(own),
      outage () {
        // The directory gone, a plain file in its place: every read and write fails.
        fs.rmSync(own, { recursive: true, force: true })
        fs.writeFileSync(own, '')
      }
    }
  },
  processConfig: () => ({ kind: 'file', path: dir }),
  raw: (sid) => (fs.existsSync(fileOf(sid)) ? fs.readFileSync(fileOf(sid), 'utf8') : null),
  comparable: (raw) => raw.replace(/"__lastAccess":\d+/, '"__lastAccess":0'),
  age (sid, seconds) {
    const record = JSON.parse(fixture.raw(sid))
    record.__lastAccess -= seconds * 1000
    fs.writeFileSync(fileOf(sid), JSON.stringify(record))
  },
  expiresAt: (sid) => {
    const record = JSON.parse(fixture.raw(sid))
    return record.__lastAccess + record.cookie.originalMaxAge
  },
  corrupt: (sid) => fs.writeFileSync(fileOf(sid), '{"cookie":'),
  async stop () {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

contract('session-file-store', fixture, ({ twoApps, sidOf }) => {
  it('takes the Django store\'s stripe lock: a write waits while another process holds it', async () => {
    const { apps, close } = await twoApps(fixture)
    try {
      const first = await get(apps[0].port, '/set?a=1')
      const sid = sidOf(first.cookie)
      const lock = path.join(dir, '.locks', `${zlib.crc32(sid) % 64}.lock`)
      assert.ok(fs.existsSync(lock))
      // Another process holds the lock for 300 ms, as a Django write would.
      const holder = spawn('flock', ['-x', lock, 'sleep', '0.3'])
      const released = new Promise((resolve) => holder.once('exit', resolve))
      await new Promise((resolve) => setTimeout(resolve, 100))
      const started = Date.now()
      assert.equal((await get(apps[1].port, '/set?b=2', first.cookie)).status, 200)
      assert.ok(Date.now() - started >= 150, `the write took ${Date.now() - started} ms`)
      await released
      assert.equal(JSON.parse(fixture.raw(sid)).b, '2')
      execFileSync('flock', ['-n', '-x', lock, 'true']) // and it let go
    } finally {
      await close()
    }
  })
})
