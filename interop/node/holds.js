// Requests held in flight, so a test can act between an Express request's read of its
// session and its write (a Django logout, writes of other keys):
//
//   GET /hold/<name>/<route>?...   held once express-session has read the session, until
//                                  /release/<name>; then served as GET /<route>?...
//                                  (e.g. /hold/a/set?k=v: read, wait, set k, save)
//   GET /holding/<name>?count=N    answers {holding} once N requests are held under
//                                  <name>, or 504 after 10 s
//   GET /release/<name>            lets every request held under <name> go on: {released}
//
// Mounted after the session middleware; /holding and /release need no session (send them
// without the cookie).
'use strict'

const WAIT_MS = 10000

function holds () {
  const held = new Map() // name -> the resume() of each request held under it
  const watchers = new Set() // the /holding requests waiting: {name, count, res, timer}

  const heldUnder = (name) => (held.get(name) || []).length
  const answer = (watcher, status) => {
    watchers.delete(watcher)
    clearTimeout(watcher.timer)
    watcher.res.status(status).json({ holding: heldUnder(watcher.name) })
  }
  const notify = () => {
    for (const watcher of watchers) if (heldUnder(watcher.name) >= watcher.count) answer(watcher, 200)
  }

  return (req, res, next) => {
    const [, verb, name, rest] = /^\/(hold|holding|release)\/([^/?]+)(.*)$/.exec(req.url) || []
    if (verb === 'hold' && rest.startsWith('/')) {
      if (!held.has(name)) held.set(name, [])
      held.get(name).push(() => {
        req.url = rest
        next()
      })
      notify()
    } else if (verb === 'holding' && !rest.startsWith('/')) {
      const watcher = { name, count: Number(req.query.count || 1), res }
      watcher.timer = setTimeout(() => answer(watcher, 504), WAIT_MS)
      watchers.add(watcher)
      notify()
    } else if (verb === 'release' && !rest.startsWith('/')) {
      const resumes = held.get(name) || []
      held.delete(name)
      resumes.forEach((resume) => resume())
      res.json({ released: resumes.length })
    } else {
      next()
    }
  }
}

module.exports = { holds }
