// Real servers for the tests, each on a free loopback port in a temp dir of its own,
// stopped by the returned stop(): redis-server, memcached, a throwaway PostgreSQL
// cluster and mongoeco (MongoDB's wire protocol, run by the Python of MONGOECO_PYTHON).
'use strict'

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..', '..')

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function tempDir (name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `des-node-${name}-`))
}

// Resolves once something accepts connections on the port (or rejects after `ms`).
async function listening (port, child, ms = 20000) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (child && child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`nothing listens on port ${port} after ${ms} ms`)
}

async function startProcess (name, command, args, port, options = {}) {
  const dir = options.dir || tempDir(name)
  const log = fs.openSync(path.join(dir, 'server.log'), 'a')
  const child = spawn(command, args(port, dir), { cwd: options.cwd || dir, stdio: ['ignore', log, log] })
  fs.closeSync(log)
  await listening(port, child)
  return {
    port,
    dir,
    async stop () {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function startRedis () {
  const server = await startProcess('redis', 'redis-server', (port, dir) => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir
  ], await freePort())
  return { ...server, url: `redis://127.0.0.1:${server.port}` }
}

// Three primaries (no replicas) sharing the 16384 slots; resolves once the cluster is ok.
async function startRedisCluster () {
  const nodes = []
  for (let index = 0; index < 3; index++) {
    const bus = await freePort()
    nodes.push(await startProcess('redis-cluster', 'redis-server', (port, dir) => [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(bus)
    ], await freePort()))
  }
  const stop = () => Promise.all(nodes.map((node) => node.stop()))
  try {
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore', timeout: 60000 })
    const until = Date.now() + 30000
    while (!nodes.every((node) => /cluster_state:ok/.test(execFileSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' })))) {
      if (Date.now() > until) throw new Error('the test cluster is not ready')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { urls: nodes.map((node) => `redis://127.0.0.1:${node.port}`), stop }
}

async function startMemcached () {
  const asRoot = process.getuid && process.getuid() === 0
  return startProcess('memcached', 'memcached', (port) => [
    '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', ...(asRoot ? ['-u', 'nobody'] : [])
  ], await freePort())
}

function postgresBin () {
  const versions = fs.existsSync('/usr/lib/postgresql') ? fs.readdirSync('/usr/lib/postgresql') : []
  const newest = versions.map(Number).filter(Number.isFinite).sort((a, b) => b - a)[0]
  if (newest === undefined) throw new Error('no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)')
  return `/usr/lib/postgresql/${newest}/bin`
}

// A throwaway cluster (initdb + pg_ctl, trust auth, no fsync) whose TimeZone is not UTC,
// as the Python tests run it: connect-pg-simple's expire column has no time zone.
async function startPostgres () {
  const bin = postgresBin()
  const dir = tempDir('pg')
  const asRoot = process.getuid && process.getuid() === 0
  const asUser = asRoot ? ['runuser', '-u', 'postgres', '--'] : []
  if (asRoot) execFileSync('chown', ['postgres', dir])
  const run = (command, args) => {
    const argv = [...asUser, path.join(bin, command), ...args]
    execFileSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 120000 })
  }
  const data = path.join(dir, 'data')
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'])
  const port = await freePort()
  const options = [
    `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${dir}`,
    '-c TimeZone=America/New_York', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'
  ].join(' ')
  run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', 'start'])
  return {
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async stop () {
      try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']) } catch {}
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

function mongoecoPython () {
  return process.env.MONGOECO_PYTHON || path.join(ROOT, '.venv-mongoeco', 'bin', 'python')
}

// mongoeco on a free port, or the MongoDB of MONGO_URI when it is set (as scripts/test
// does for the Python tests).
async function startMongoeco () {
  if (process.env.MONGO_URI) return { url: process.env.MONGO_URI, async stop () {} }
  const launcher = path.join(ROOT, 'tests', 'servers', 'mongoeco_server.py')
  const server = await startProcess('mongoeco', mongoecoPython(), (port) => [launcher, String(port)], await freePort(), { cwd: ROOT })
  return { ...server, url: `mongodb://127.0.0.1:${server.port}/?directConnection=true` }
}

module.exports = { freePort, tempDir, startRedis, startRedisCluster, startMemcached, startPostgres, startMongoeco, mongoecoPython }
