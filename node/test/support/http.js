// Express apps on loopback ports, driven with plain http, as express-session's own tests do.
'use strict'

const http = require('node:http')

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

// GET `path`; resolves {status, headers, body (parsed JSON when it is), cookie (the
// name=value of the set-cookie, if any)}.
function get (port, path, cookie) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => { text += chunk })
      response.on('end', () => {
        let body = text
        try { body = JSON.parse(text) } catch {}
        const setCookie = response.headers['set-cookie']
        resolve({ status: response.statusCode, headers: response.headers, body, cookie: setCookie ? setCookie[0].split(';')[0] : undefined })
      })
      response.on('error', reject)
    })
    request.on('error', reject)
  })
}

function listen (app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()) })
    }))
  })
}

module.exports = { get, listen, agent }
