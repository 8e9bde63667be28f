// sessionHeader(options): express-session's signed session id in a request header, for
// clients that keep no cookies (Django's EXPRESS_SESSION["header"]). Put it BEFORE
// session():
//
// - A request without the session cookie whose header carries the signed value
//   (s:<id>.<signature>, or its URL-encoded form, as the cookie holds it) is given it as
//   that cookie, so express-session verifies and opens the session as usual.
// - The header is removed from req.headers (and masked in req.rawHeaders), so request
//   loggers never see the id.
// - When the response sets the session cookie to another value than the request
//   brought, the header carries the new value back. A client that did not send the
//   header gets it only once the session holds data: the empty sessions of
//   saveUninitialized are not offered to browsers.
// - To a client that sent the header, an empty header says that the id it sent names no
//   session (destroyed, regenerated, unknown or forged) and no new one was sent.
'use strict'

const DEFAULTS = { header: 'X-Session-Id', name: 'connect.sid' }
const OPTIONS = Object.keys(DEFAULTS)
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9-]*$/
const RESERVED = ['cookie', 'set-cookie', 'authorization', 'host', 'content-type', 'content-length']
const MASK = '********************'

function invalid (name, problem) {
  return new TypeError(`sessionHeader(): ${name} ${problem}`)
}

function parseOptions (options = {}) {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('options', `must be an object, not ${options}`)
  }
  const unknown = Object.keys(options).filter((key) => !OPTIONS.includes(key))
  if (unknown.length) throw invalid(`has unknown options ${unknown.join(', ')}`, `(known: ${OPTIONS.join(', ')})`)
  const { header, name } = { ...DEFAULTS, ...options }
  if (typeof header !== 'string' || !TOKEN.test(header)) {
    throw invalid('header', `must be a header name of letters, digits and "-", not ${header}`)
  }
  if (RESERVED.includes(header.toLowerCase())) throw invalid('header', `cannot be ${header}: that header means something else`)
  if (typeof name !== 'string' || !name || /[\s;,=]/.test(name)) throw invalid('name', `must be the session cookie's name, not ${name}`)
  return { header: header.toLowerCase(), name }
}

function decoded (value) {
  const text = value.trim()
  if (!text.includes('%')) return text
  try { return decodeURIComponent(text) } catch { return text }
}

// The names of the cookies in a Cookie header (cookie@0.7's split, without decoding).
function cookieNames (header) {
  return (header || '').split(';').map((pair) => pair.split('=')[0].trim())
}

// The id of a signed value s:<id>.<signature> (not verified: express-session does that).
function idOf (value) {
  if (!value || !value.startsWith('s:')) return null
  const dot = value.lastIndexOf('.')
  return dot > 2 ? value.slice(2, dot) : null
}

function sessionCookieValue (res, name) {
  const lines = res.getHeader('Set-Cookie')
  for (const line of Array.isArray(lines) ? lines : lines ? [String(lines)] : []) {
    if (line.startsWith(name + '=')) return decoded(line.slice(name.length + 1).split(';')[0])
  }
  return null
}

function varyOn (res, header) {
  const vary = res.getHeader('Vary')
  const names = vary ? String(vary).toLowerCase().split(/\s*,\s*/) : []
  if (!names.includes(header) && !names.includes('*')) res.setHeader('Vary', vary ? `${vary}, ${header}` : header)
}

function holdsData (session) {
  return Boolean(session) && Object.keys(session).some((key) => key !== 'cookie')
}

function take (req, header) {
  const raw = req.headers[header]
  if (raw === undefined) return null
  delete req.headers[header]
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === header) req.rawHeaders[i + 1] = MASK
  }
  return decoded(Array.isArray(raw) ? raw[0] : raw)
}

function sessionHeader (options) {
  const { header, name } = parseOptions(options)
  return function sessionHeaderMiddleware (req, res, next) {
    const sent = take(req, header)
    const byHeader = sent !== null && !cookieNames(req.headers.cookie).includes(name)
    if (byHeader) {
      const pair = `${name}=${encodeURIComponent(sent)}`
      req.headers.cookie = req.headers.cookie ? `${req.headers.cookie}; ${pair}` : pair
    }
    const writeHead = res.writeHead
    // express-session sets its cookie in a writeHead wrapper of its own, installed after
    // this one, so the cookie is there when this one runs.
    res.writeHead = function writeHeadWithSessionHeader (...args) {
      const value = sessionCookieValue(res, name)
      if (value && value !== sent && (byHeader || holdsData(req.session))) {
        res.setHeader(header, value)
      } else if (byHeader && !value && (!req.session || req.sessionID !== idOf(sent))) {
        res.setHeader(header, '')
      }
      if (byHeader || res.getHeader(header) !== undefined) varyOn(res, header)
      return writeHead.apply(this, args)
    }
    next()
  }
}

module.exports = { sessionHeader }
