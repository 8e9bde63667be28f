// The benchmark's Express app: the same three routes as views.py, with or without
// express-session.
//
//   node app.js '<config JSON>' PORT
//
// The config is express-session's options plus `store: {kind, options}` (a factory of
// interop/node/stores/, e.g. connect-redis 9) and `share` (options of the npm package's
// share(), which then wraps the store), or `null` for the app without sessions (Node's
// baseline). The packages are interop/node's, so the versions are the pinned ones.
'use strict'

const path = require('path')
const NODE = path.resolve(__dirname, '..', '..', 'interop', 'node')
const express = require(path.join(NODE, 'node_modules', 'express'))
const session = require(path.join(NODE, 'node_modules', 'express-session'))
const { openStore } = require(path.join(NODE, 'store.js'))

async function main () {
  const config = JSON.parse(process.argv[2])
  const port = Number(process.argv[3])
  const app = express()
  app.set('etag', false)
  let close = async () => {}
  if (config) {
    const { store: spec, share, ...options } = config
    const made = await openStore(session, spec, { share })
    close = made.close
    app.use(session({ ...options, store: made.store }))
  }
  const text = (res, value) => res.type('text/plain').send(String(value))
  app.get('/noop', (req, res) => text(res, 0))
  app.get('/read', (req, res) => text(res, req.session ? req.session.n || 0 : 0))
  app.get('/incr', (req, res) => {
    if (!req.session) return text(res, 0)
    req.session.n = (req.session.n || 0) + 1
    text(res, req.session.n)
  })
  const server = app.listen(port, '127.0.0.1')
  const stop = () => server.close(() => close().finally(() => process.exit(0)))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
