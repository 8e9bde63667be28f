// The absolute session timeout of django-express-session, on the Express side: put it
// right after app.use(session(...)). A session ends `absoluteMaxAge` ms after
// `djangoExpressSession.startedAt` (epoch ms, in the record both apps share), however
// active it is; a session holding data but no start gets one now.
'use strict'

module.exports = function absoluteTimeout ({ absoluteMaxAge, name = 'connect.sid' }) {
  return function (req, res, next) {
    const s = req.session
    if (!s) return next()
    const mine = s.djangoExpressSession
    const started = mine && typeof mine.startedAt === 'number' ? mine.startedAt : null
    if (started === null) {
      if (Object.keys(s).length > 1) s.djangoExpressSession = { ...mine, startedAt: Date.now() }
      return next()
    }
    if (Date.now() < started + absoluteMaxAge) return next()
    s.destroy((err) => {
      if (err) return next(err)
      console.log('session ended: absolute lifetime reached (session %s…)', req.sessionID.slice(0, 6))
      res.clearCookie(name, { path: '/' })
      req.sessionStore.generate(req) // the request goes on with a new, empty session
      next()
    })
  }
}
