// verifyDjangoPassword against hashes that Django itself makes (make_password and each
// hasher's encode, run by the repository's Python), and without the optional packages.
'use strict'

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { before, describe, it } = require('node:test')

const { verifyDjangoPassword } = require('../lib/passwords.js')
const { djangoPython, runDjango } = require('./django.js')

const PASSWORD = 'pässwörd with spaces'
// Past bcrypt's 72 bytes, where only the sha256 pre-hash tells passwords apart.
const LONG = 'x'.repeat(80)

const HASHES = `
from django.contrib.auth.hashers import get_hasher, make_password
password, long = sys.argv[2], sys.argv[3]
fast = lambda name, secret: get_hasher(name).encode(secret, get_hasher(name).salt(), 1000)
print(json.dumps({
    "pbkdf2_sha256": make_password(password, hasher="pbkdf2_sha256"),
    "pbkdf2_sha256_fast": fast("pbkdf2_sha256", password),
    "pbkdf2_sha1": fast("pbkdf2_sha1", password),
    "argon2": make_password(password, hasher="argon2"),
    "bcrypt_sha256": make_password(password, hasher="bcrypt_sha256"),
    "bcrypt_sha256_long": make_password(long, hasher="bcrypt_sha256"),
    "bcrypt": make_password(password, hasher="bcrypt"),
    "scrypt": make_password(password, hasher="scrypt"),
    "md5": make_password(password, hasher="md5"),
    "unusable": make_password(None),
}))
`

describe('verifyDjangoPassword', { skip: djangoPython() ? false : 'no Python with Django' }, () => {
  let hashes
  before(() => { hashes = runDjango(HASHES, ['unused', PASSWORD, LONG]) })

  for (const name of ['pbkdf2_sha256', 'pbkdf2_sha256_fast', 'pbkdf2_sha1', 'argon2',
    'bcrypt_sha256', 'bcrypt', 'scrypt']) {
    it(`checks Django's ${name} hashes`, async () => {
      assert.match(hashes[name], new RegExp(`^${name.replace('_fast', '')}\\$`))
      assert.equal(await verifyDjangoPassword(PASSWORD, hashes[name]), true)
      assert.equal(await verifyDjangoPassword(PASSWORD + ' ', hashes[name]), false)
      assert.equal(await verifyDjangoPassword('', hashes[name]), false)
    })
  }

  it('tells passwords apart past bcrypt\'s 72 bytes with bcrypt_sha256', async () => {
    assert.equal(await verifyDjangoPassword(LONG, hashes.bcrypt_sha256_long), true)
    assert.equal(await verifyDjangoPassword(LONG + 'y', hashes.bcrypt_sha256_long), false)
  })

  it('never matches an unusable password, nor what is no hash', async () => {
    assert.ok(hashes.unusable.startsWith('!'))
    for (const encoded of [hashes.unusable, '', 'pbkdf2_sha256', 'pbkdf2_sha256$x$salt$aGFzaA==',
      'pbkdf2_sha256$1000$salt', 'argon2$nonsense', 'bcrypt_sha256$$2b$nonsense', null, 42]) {
      assert.equal(await verifyDjangoPassword(PASSWORD, encoded), false, String(encoded))
    }
    assert.equal(await verifyDjangoPassword(undefined, hashes.pbkdf2_sha256_fast), false)
  })

  it('warns once, naming it, of an algorithm it cannot check', async () => {
    const warnings = []
    const listen = (warning) => warnings.push(warning.message)
    process.on('warning', listen)
    try {
      assert.equal(await verifyDjangoPassword(PASSWORD, hashes.md5), false)
      assert.equal(await verifyDjangoPassword(PASSWORD, hashes.md5), false)
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on next tick
    } finally {
      process.off('warning', listen)
    }
    assert.equal(warnings.length, 1, warnings.join('\n'))
    assert.match(warnings[0], /"md5"/)
  })

  it('is false with one warning when argon2 or bcrypt is not installed', () => {
    // The module alone, where no node_modules holds either package.
    const alone = fs.mkdtempSync(path.join(os.tmpdir(), 'passwords-'))
    for (const name of ['passwords.js', 'warnings.js']) {
      fs.copyFileSync(path.join(__dirname, '..', 'lib', name), path.join(alone, name))
    }
    const script = `
      const { verifyDjangoPassword } = require('./passwords.js')
      const [password, ...encoded] = JSON.parse(process.argv[1])
      Promise.all(encoded.map((e) => verifyDjangoPassword(password, e)))
        .then((results) => console.log(JSON.stringify(results)))`
    const given = [PASSWORD, hashes.argon2, hashes.argon2, hashes.bcrypt_sha256, hashes.pbkdf2_sha1]
    const run = spawnSync(process.execPath, ['-e', script, JSON.stringify(given)], {
      cwd: alone, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' }
    })
    fs.rmSync(alone, { recursive: true })
    assert.deepEqual(JSON.parse(run.stdout), [false, false, false, true])
    const warnings = run.stderr.split('\n').filter((line) => line.includes('Warning:'))
    assert.equal(warnings.length, 2, run.stderr)
    assert.match(warnings[0], /"argon2" \(npm install argon2\)/)
    assert.match(warnings[1], /"bcrypt" \(npm install bcrypt\)/)
  })
})
