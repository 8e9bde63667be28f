'use strict'

const { it } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

it('the type declarations compile as an app uses them', () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--skipLibCheck', path.join(__dirname, 'types', 'use.ts')], { encoding: 'utf8', cwd: path.join(__dirname, '..') })
  assert.equal(result.status, 0, result.stdout + result.stderr)
})
