// connect-mongo: a document {_id, session, expires[, lastModified]} per session,
// `session` a JSON string (stringify: true) or a sub-document. The compare-and-set is
// the Django store's (django_express_session/stores/mongodb.py): an updateOne filtered on
// the `session` value read and on the document being live, never an upsert; a new
// session is an upsert that may only replace an expired document (a live one is a
// duplicate key). Each write sets what the stock set() sets, so the bytes are its own.
'use strict'

const { stock } = require('./stock')

const DUPLICATE_KEY = 11000

function fits (store) {
  return store.collectionP && typeof store.collectionP.then === 'function' &&
    store.transformFunctions && typeof store.computeStorageId === 'function' && store.options
}

const unexpired = (now) => ({ $or: [{ expires: { $exists: false } }, { expires: { $gt: now } }] })

function make (store) {
  if (store.cryptoAdapter) {
    throw new TypeError('share(store): a connect-mongo store with crypto is not supported (Django cannot read its sessions either)')
  }
  const options = store.options
  const { serialize, unserialize } = store.transformFunctions
  const lazy = options.touchAfter > 0
  const copy = (value) => (typeof value === 'string' ? value : structuredClone(value))

  // connect-mongo's expiry: cookie.expires, else now + ttl.
  const expiresOf = (session) => {
    const expires = session && session.cookie && session.cookie.expires
    return expires ? new Date(expires) : new Date(Date.now() + options.ttl * 1000)
  }

  // The fields and update of a write, as the stock set() builds them.
  function writing (sid, session) {
    if (lazy) delete session.lastModified // get() lent it to the session; set() takes it back
    const fields = { _id: store.computeStorageId(sid), session: serialize(session), expires: expiresOf(session) }
    if (lazy) fields.lastModified = new Date()
    const update = { $set: fields }
    if (options.timestamps) update.$currentDate = { updatedAt: true }
    const written = { record: session, version: copy(fields.session), expiresAt: fields.expires.getTime() }
    return { update, written }
  }

  const writeOptions = () => ({ writeConcern: options.writeOperationOptions })

  return {
    async read (sid) {
      const collection = await store.collectionP
      const document = await collection.findOne({ _id: store.computeStorageId(sid), ...unexpired(new Date()) })
      if (!document) return null
      const version = copy(document.session)
      const record = unserialize(document.session)
      if (lazy && document.lastModified && record && typeof record === 'object') record.lastModified = document.lastModified
      const expiresAt = document.expires instanceof Date ? document.expires.getTime() : null
      return { record, version, expiresAt }
    },

    async create (sid, session) {
      const { update, written } = writing(sid, session)
      if (options.timestamps) update.$setOnInsert = { createdAt: new Date() }
      const collection = await store.collectionP
      try {
        await collection.updateOne({ _id: store.computeStorageId(sid), expires: { $lte: new Date() } }, update, { upsert: true, ...writeOptions() })
      } catch (error) {
        if (error && error.code === DUPLICATE_KEY) return null
        throw error
      }
      return written
    },

    async replace (sid, merged, read) {
      const { update, written } = writing(sid, merged)
      const collection = await store.collectionP
      const filter = { _id: store.computeStorageId(sid), session: read.version, ...unexpired(new Date()) }
      const result = await collection.updateOne(filter, update, writeOptions())
      return result.matchedCount === 1 ? written : null
    },

    // The stock touch, without its error for a session gone meanwhile (a logout during
    // the request is no failure of the request): it moves expires (and lastModified
    // outside touchAfter), never creates a document.
    async touch (sid, session) {
      const fields = {}
      const now = new Date()
      if (lazy) {
        const last = session.lastModified ? new Date(session.lastModified).getTime() : 0
        if (last > 0 && now.getTime() - last < options.touchAfter * 1000) return
        if (last > 0) fields.lastModified = now
      }
      fields.expires = expiresOf(session)
      const update = { $set: fields }
      if (options.timestamps) update.$currentDate = { updatedAt: true }
      const collection = await store.collectionP
      await collection.updateOne({ _id: store.computeStorageId(sid), ...unexpired(now) }, update, writeOptions())
    },

    destroy: (sid) => stock(store, 'destroy', sid),

    freshExpiry: (session) => expiresOf(session).getTime()
  }
}

module.exports = { fits, make }
