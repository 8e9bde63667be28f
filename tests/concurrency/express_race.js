// The race's Express side: express-session with the same two routes and the same 10 ms
// of "work" as tests/concurrency/views.py, so the figure compares like with like.
//
//   node express_race.js '<config JSON>' PORT
//
// The config is express-session's options plus `store: {kind, options}`, a factory of
// interop/node/stores/ (no store: express-session's MemoryStore), and `share` (options
// of the npm package's share(), which then wraps the store; see interop/node/store.js).
'use strict'

const path = require('path')
const NODE = path.resolve(__dirname, '..', '..', 'interop', 'node')
const express = require(path.join(NODE, 'node_modules', 'express'))
const session = require(path.join(NODE, 'node_modules', 'express-session'))
const { openStore } = require(path.join(NODE, 'store.js'))

const WORK_MS = 10

async function main () {
  const config = JSON.parse(process.argv[2])
  const port = Number(process.argv[3])
  const { store: spec, share, ...options } = config
  if (spec) options.store = (await openStore(session, spec, { share })).store

  const app = express()
  app.use(session(options))
  app.get('/set', (req, res) => {
    setTimeout(() => {
      Object.assign(req.session, req.query)
      res.send('set')
    }, WORK_MS)
  })
  app.get('/session', (req, res) => {
    const data = { ...req.session }
    delete data.cookie
    res.json({ id: req.sessionID, data })
  })
  app.listen(port, '127.0.0.1')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
