// The pinned npm packages the Express side runs on. Each set is a folder of interop/
// with its own package.json and package-lock.json:
//
//   node    today's pins: Express 4, connect-redis 9, node-redis 5 (Debian's Node 20)
//   node22  Express 5, connect-redis 11, node-redis 6, on the Node 22 binary its `node`
//           package carries (connect-redis 11 is ESM only and needs Node 22)
//
// A set's packages load from its own folder, whichever file asks: `require` for CommonJS,
// `import` for any package (connect-redis 11 has no CommonJS entry at all).
'use strict'

const path = require('path')
const { createRequire } = require('module')
const { pathToFileURL } = require('url')

function packageSet (name = 'node') {
  const dir = path.resolve(__dirname, '..', name)
  // import() resolves a bare name from the file it is written in: import.mjs is the
  // set's own.
  const importer = pathToFileURL(path.join(dir, 'import.mjs')).href
  return {
    name,
    require: createRequire(path.join(dir, 'package.json')),
    import: async (id) => (await import(importer)).importHere(id)
  }
}

module.exports = { packageSet }
