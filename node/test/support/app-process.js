// The test app in a process of its own: `node app-process.js '<JSON>'` with
// {kind: "redis", url} or {kind: "file", path}; /held waits `holdMs` before changing the
// session. Prints {"port": N} once it listens; exits when its stdin closes.
'use strict'

const session = require('express-session')
const { share } = require('../..')
const { startApp } = require('./app')

async function storeOf (config) {
  if (config.kind === 'redis') {
    const client = require('redis').createClient({ url: config.url })
    await client.connect()
    return new (require('connect-redis').RedisStore)({ client })
  }
  if (config.kind === 'file') {
    const FileStore = require('session-file-store')(session)
    return new FileStore({ path: config.path, reapInterval: -1, retries: 0, logFn () {} })
  }
  throw new Error(`no store kind ${config.kind}`)
}

;(async () => {
  const config = JSON.parse(process.argv[2])
  const held = { arrive: () => new Promise((resolve) => setTimeout(resolve, config.holdMs)) }
  const app = await startApp(share(await storeOf(config)), { held })
  process.stdout.write(JSON.stringify({ port: app.port }) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
})()
