// session-file-store: one file `<path>/<sid><fileExtension>` per session, the record
// plus `__lastAccess`. The compare-and-set is the Django store's
// (django_express_session/stores/file.py): under an exclusive flock(2) of the id's stripe
// lock file (`<path>/.locks/<crc32(sid) % 64>.lock`, the one Django's processes take),
// read, compare the bytes with what the request read, write a temporary file (a name
// session-file-store ignores) and rename it into place. A new session is linked into
// place, which fails if the file exists. Node has no flock of its own: util-linux's
// flock(1) takes it on a descriptor this process holds, and closing it releases it.
'use strict'

const { spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs/promises')
const path = require('node:path')
const zlib = require('node:zlib')

const LAST_ACCESS = '__lastAccess'
const LOCK_STRIPES = 64
const DEFAULT_MODE = 0o600
// Letters, digits, "-" and "_", and "." after the first character: never a path
// separator, "." or ".." (the Django store's rule).
const SAFE_SID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/

function fits (store) {
  const options = store.options
  return Boolean(options && typeof options.path === 'string' && typeof options.fileExtension === 'string' &&
    typeof options.encoder === 'function' && typeof options.decoder === 'function')
}

// CRC-32 (zlib's), for the stripe: zlib.crc32 where this Node has it (20.15+).
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32 (text) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(text)
  let c = 0xffffffff
  for (const byte of Buffer.from(text, 'utf8')) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

// Holds an exclusive flock on `file` until the returned release() (the lock belongs to
// the open file description this process keeps; flock(1) only takes it).
async function flocked (file, mode) {
  const handle = await fs.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, mode)
  try {
    await new Promise((resolve, reject) => {
      const child = spawn('flock', ['-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', handle.fd] })
      let said = ''
      child.stderr.on('data', (chunk) => { said += chunk })
      child.on('error', (error) => reject(error.code === 'ENOENT'
        ? new Error('share(): the file store needs flock(1) (util-linux) to lock as the Django store does')
        : error))
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`flock failed (${code}): ${said.trim()}`))))
    })
  } catch (error) {
    await handle.close()
    throw error
  }
  return () => handle.close()
}

function make (store) {
  const options = store.options
  if (options.secret !== undefined && options.secret !== null) {
    throw new TypeError('share(store): an encrypted session-file-store (secret) is not supported (Django cannot read it either)')
  }
  const fileOf = (sid) => path.join(options.path, sid + options.fileExtension)
  const checked = (sid) => {
    if (!SAFE_SID.test(sid)) throw new Error('share(): this session id cannot be a session file name (use letters, digits, "-", "_" and ".")')
    return sid
  }
  // Writers of one stripe in this process queue here (flock(1) would block each in a child).
  const turns = new Map()

  async function locked (sid, work) {
    const stripe = crc32(sid) % LOCK_STRIPES
    const before = turns.get(stripe) || Promise.resolve()
    let done
    const mine = new Promise((resolve) => { done = resolve })
    turns.set(stripe, before.then(() => mine))
    await before
    try {
      const locks = path.join(options.path, '.locks')
      await fs.mkdir(locks, { recursive: true, mode: 0o700 })
      const release = await flocked(path.join(locks, `${stripe}.lock`), DEFAULT_MODE)
      try {
        return await work()
      } finally {
        await release()
      }
    } finally {
      done()
      if (turns.get(stripe) === mine) turns.delete(stripe)
    }
  }

  // session-file-store's expiry: __lastAccess + (cookie.originalMaxAge or ttl).
  const expiryOf = (record) => {
    const last = record[LAST_ACCESS]
    if (typeof last !== 'number') return 0
    const maxAge = record.cookie && record.cookie.originalMaxAge
    return last + (maxAge || options.ttl * 1000)
  }

  // The unexpired record and its exact text, or null. An undecodable file is removed
  // and its error given, as session-file-store's get does.
  async function load (sid) {
    let text
    try {
      text = await fs.readFile(fileOf(sid), options.encoding)
    } catch (error) {
      if (error.code === 'ENOENT') return null
      throw error
    }
    let record
    try {
      record = options.decoder(text)
    } catch (error) {
      await fs.rm(fileOf(sid), { force: true })
      throw error
    }
    if (!record || typeof record !== 'object' || expiryOf(record) < Date.now()) return null
    return { record, version: text, expiresAt: expiryOf(record) }
  }

  // A temporary file with the record stamped now (a name the store's listing skips),
  // with the mode of the file it replaces (else 0600).
  async function temporary (sid, record) {
    record[LAST_ACCESS] = Date.now()
    const text = options.encoder(record)
    let mode = DEFAULT_MODE
    try {
      mode = (await fs.stat(fileOf(sid))).mode & 0o777
    } catch {}
    const name = path.join(options.path, `.${sid}.${crypto.randomBytes(8).toString('hex')}.tmp`)
    await fs.writeFile(name, text, { encoding: options.encoding, flag: 'wx', mode })
    return { name, written: { record, version: text, expiresAt: expiryOf(record) } }
  }

  async function write (sid, record) {
    const { name, written } = await temporary(sid, record)
    await fs.rename(name, fileOf(sid))
    return written
  }

  return {
    read: (sid) => (SAFE_SID.test(sid) ? load(sid) : Promise.resolve(null)),

    create: (sid, session) => locked(checked(sid), async () => {
      const { name, written } = await temporary(sid, session)
      try {
        await fs.link(name, fileOf(sid))
        return written
      } catch (error) {
        if (error.code === 'EEXIST') return null
        throw error
      } finally {
        await fs.rm(name, { force: true })
      }
    }),

    replace: (sid, merged, read) => locked(checked(sid), async () => {
      const current = await load(sid)
      if (!current || current.version !== read.version) return null
      return write(sid, merged)
    }),

    // The cookie and __lastAccess rewritten (as session-file-store's touch does), but
    // never a missing or expired file recreated.
    touch: (sid, session) => (SAFE_SID.test(sid)
      ? locked(sid, async () => {
        const current = await load(sid)
        if (!current) return
        current.record.cookie = session.cookie
        await write(sid, current.record)
      })
      : Promise.resolve()),

    destroy: (sid) => (SAFE_SID.test(sid) ? fs.rm(fileOf(sid), { force: true }) : Promise.resolve()),

    freshExpiry (session) {
      const maxAge = session.cookie && session.cookie.originalMaxAge
      return Date.now() + (maxAge || options.ttl * 1000)
    }
  }
}

module.exports = { fits, make }
