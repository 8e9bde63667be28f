// share(store, options): the wrapped express-session store. It keeps what each request
// read, writes only that request's changes (a three-way merge per top-level key,
// applied with the backend's compare-and-set, retried as the Django side retries), and
// never brings back a session destroyed after the request read it.
'use strict'

const { fingerprint, changesOf, apply } = require('./merge')
const { SessionConflictError, SessionExistsError } = require('./errors')
const { UPDATE_ATTEMPTS, backoff, sleep, Turns } = require('./retry')
const { backendFor } = require('./stores')

// What get() read, lent to createSession() on the record it hands to express-session.
const READ = Symbol('django-express-session read')

const SHARED = Symbol('django-express-session shared')

// express-session's Store class, found on the wrapped store's own prototype chain (the
// one that defines createSession): the wrapper is one too, without depending on it.
function storeClassOf (store) {
  for (let proto = Object.getPrototypeOf(store); proto; proto = Object.getPrototypeOf(proto)) {
    if (Object.prototype.hasOwnProperty.call(proto, 'createSession') &&
        Object.prototype.hasOwnProperty.call(proto, 'regenerate')) return proto.constructor
  }
  throw new TypeError('share(store): the store is not an express-session Store (no createSession on its prototypes)')
}

const OPTIONS = ['touchAfter', 'indexPrefix']

function checkOptions (options) {
  if (options === null || typeof options !== 'object') throw new TypeError('share(store, options): options must be an object')
  const unknown = Object.keys(options).filter((name) => !OPTIONS.includes(name))
  if (unknown.length) throw new TypeError(`share(): unknown option ${unknown.join(', ')} (it takes ${OPTIONS.join(', ')})`)
  const { touchAfter = 0 } = options
  if (typeof touchAfter !== 'number' || !(touchAfter >= 0) || !Number.isFinite(touchAfter)) {
    throw new TypeError(`share(): touchAfter must be seconds (a number, 0 or more), not ${String(touchAfter)}`)
  }
  return { ...options, touchAfter }
}

const classes = new WeakMap()

function sharedClass (Store) {
  let Shared = classes.get(Store)
  if (Shared) return Shared
  Shared = class SharedStore extends Store {
    constructor (inner, backend, options) {
      super()
      this.inner = inner
      this.backend = backend
      this.touchAfterMs = options.touchAfter * 1000
      this.reads = new WeakMap()
      this.turns = new Turns()
      for (const event of ['connect', 'disconnect']) inner.on(event, (...args) => this.emit(event, ...args))
    }

    get (sid, callback) {
      settle(this.backend.read(sid).then((found) => {
        if (!found) return null
        Object.defineProperty(found.record, READ, { value: { ...found, prints: fingerprint(found.record) } })
        return found.record
      }), callback)
    }

    createSession (req, sess) {
      const read = sess[READ]
      const session = super.createSession(req, sess)
      if (read) this.reads.set(session, read)
      return session
    }

    set (sid, session, callback) {
      settle(this.turns.take(sid, (waited) => this.write(sid, session, waited)), callback)
    }

    async write (sid, session, waited) {
      const read = this.reads.get(session)
      if (!read) {
        // Brand new (generated, or regenerated): created only where no session is.
        const written = await this.backend.create(sid, session)
        if (!written) throw new SessionExistsError()
        this.remember(session, written)
        return
      }
      const changes = changesOf(read.prints, session)
      let current = waited ? null : read
      for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        if (current === null || attempt > 0) {
          current = await this.backend.read(sid)
          // Destroyed since this request read it (a logout, here or in Django): it stays so.
          if (!current) return
        }
        const merged = apply(changes, current.record)
        const written = await this.backend.replace(sid, merged, current)
        if (written) {
          this.remember(session, written)
          return
        }
        await sleep(backoff(attempt))
      }
      throw new SessionConflictError(UPDATE_ATTEMPTS)
    }

    // After a write, the session's next save in this request merges against it.
    remember (session, written) {
      this.reads.set(session, { ...written, prints: fingerprint(written.record) })
    }

    touch (sid, session, callback) {
      const read = this.reads.get(session)
      if (this.touchAfterMs > 0 && read && read.expiresAt != null) {
        // touchAfter: refresh the expiry only once it is that much behind a fresh one.
        const fresh = this.backend.freshExpiry(session)
        if (fresh != null && fresh - read.expiresAt < this.touchAfterMs) {
          process.nextTick(callback || noop, null)
          return
        }
      }
      settle(this.backend.touch(sid, session, read || null), callback)
    }

    destroy (sid, callback) {
      settle(this.backend.destroy(sid), callback)
    }
  }
  // Whatever else the stock store offers (all, length, clear, ids, close...) is its own.
  for (const name of ['all', 'length', 'clear', 'ids', 'close']) {
    Shared.prototype[name] = function (...args) {
      if (typeof this.inner[name] !== 'function') throw new TypeError(`the wrapped store has no ${name}()`)
      return this.inner[name](...args)
    }
  }
  classes.set(Store, Shared)
  return Shared
}

function noop () {}

// A promise's outcome to a Node-style callback (on the next tick, outside the promise).
function settle (promise, callback) {
  promise.then(
    (value) => { if (callback) process.nextTick(callback, null, value) },
    (error) => { if (callback) process.nextTick(callback, error) }
  )
}

/**
 * Wrap an express-session store so it shares sessions safely with Django (and with
 * other Express processes): see the README.
 */
function share (store, options = {}) {
  if (store === null || typeof store !== 'object') throw new TypeError('share(store): store must be an express-session store object')
  if (store[SHARED]) throw new TypeError('share(store): this store is already shared')
  const checked = checkOptions(options)
  const backend = backendFor(store, checked)
  if (checked.indexPrefix !== undefined && backend.indexPrefix === undefined) {
    throw new TypeError('share(): indexPrefix is an option for connect-redis stores only (the others keep no index)')
  }
  const Shared = sharedClass(storeClassOf(store))
  const shared = new Shared(store, backend, checked)
  Object.defineProperty(shared, SHARED, { value: true })
  return shared
}

module.exports = { share }
