// Calls a real express store the way express-session does, for byte-level tests.
//
//   node store-call.js '{"store": "redis", "options": {...}, "calls": [...]}'
//
// "store" names a module of ./stores/ (see ./store.js), run on interop/node's packages.
// Each call is {op: "set"|"touch", sid, session} or {op: "get"|"destroy"|"length"|"all"|
// "clear", sid}; a session is the JSON a store holds, turned into a real express-session
// Session (with its Cookie) by Store#createSession, exactly as express-session does when
// it loads one. Prints one JSON line: the results.
'use strict'

const session = require('express-session')
const { openStore } = require('./store')

function call (store, method, ...args) {
  return new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)))
  })
}

function toSession (store, sid, data) {
  const req = { sessionID: sid, sessionStore: store }
  store.createSession(req, JSON.parse(JSON.stringify(data)))
  return req.session
}

async function main () {
  const request = JSON.parse(process.argv[2])
  const { store, close } = await openStore(session, { kind: request.store, options: request.options })
  const results = []
  try {
    for (const c of request.calls) {
      switch (c.op) {
        case 'set':
        case 'touch':
          await call(store, c.op, c.sid, toSession(store, c.sid, c.session))
          results.push(null)
          break
        case 'get': {
          const value = await call(store, 'get', c.sid)
          results.push(value === undefined ? null : value)
          break
        }
        case 'destroy':
        case 'clear':
          await call(store, c.op, ...(c.sid ? [c.sid] : []))
          results.push(null)
          break
        case 'length':
        case 'all':
          results.push(await call(store, c.op))
          break
        default:
          throw new Error(`unknown op ${c.op}`)
      }
    }
  } finally {
    await close()
  }
  process.stdout.write(JSON.stringify(results) + '\n')
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
