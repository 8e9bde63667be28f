'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const EXPORTS = [
  'share', 'SessionConflictError', 'SessionExistsError', 'guard', 'sessionAuthHash',
  'verifyDjangoPassword', 'publishPolicy', 'checkPolicy', 'startPolicy', 'policyOf',
  'compare', 'fingerprint', 'UnreadablePolicyError', 'sessionHeader', 'SessionLimitError',
  'authAge', 'markAuthenticated', 'requireRecentAuth', 'ReauthenticationRequiredError'
]

it('require and import give the same exports', async () => {
  const required = require('django-express-session')
  const imported = await import('django-express-session')
  assert.deepEqual(Object.keys(required).sort(), [...EXPORTS].sort())
  for (const name of EXPORTS) {
    assert.equal(typeof required[name], 'function', name)
    assert.equal(imported[name], required[name], name)
  }
  assert.equal(imported.default, required)
})

it('npm pack ships the entry points, the types and the library, and no tests', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: path.join(__dirname, '..'), encoding: 'utf8' }))
  const files = packed.files.map((file) => file.path).sort()
  for (const needed of ['index.js', 'index.mjs', 'index.d.ts', 'lib/share.js', 'lib/stores/redis.js', 'README.md', 'LICENSE', 'package.json']) {
    assert.ok(files.includes(needed), `${needed} is missing from ${files}`)
  }
  assert.deepEqual(files.filter((file) => file.startsWith('test/') || file.includes('node_modules')), [])
})

it('share() refuses what is no store, and a store twice', () => {
  const { share } = require('..')
  assert.throws(() => share(null), /store must be an express-session store object/)
  const { RedisStore } = require('connect-redis')
  const store = share(new RedisStore({ client: require('redis').createClient() }))
  assert.throws(() => share(store), TypeError)
  assert.throws(() => share(new RedisStore({ client: require('redis').createClient() }), { touchAfter: -1 }), /touchAfter/)
  assert.throws(() => share(new RedisStore({ client: require('redis').createClient() }), { indexPrefix: 'sess:' }), /indexPrefix/)
  assert.throws(() => share(new RedisStore({ client: require('redis').createClient() }), { touchafter: 60 }), /unknown option touchafter/)
  const PgStore = require('connect-pg-simple')(require('express-session'))
  const pool = new (require('pg').Pool)()
  assert.throws(() => share(new PgStore({ pool, pruneSessionInterval: false }), { indexPrefix: 'users:' }), /connect-redis stores only/)
  pool.end()
})
