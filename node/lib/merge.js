// The three-way merge of one request's changes, per top-level key, as the Django side
// does it (django_express_session/record.py, Changes): a key this request set or
// deleted is applied over the latest stored record; every other key keeps the stored
// value, so a concurrent change of another key, by either app, is not lost.
'use strict'

// Each top-level data key's JSON (the cookie apart): what a later diff compares against.
// A value JSON.stringify drops (undefined, a function) counts as absent, as it is once stored.
function fingerprint (data) {
  const prints = new Map()
  for (const key of Object.keys(data)) {
    if (key === 'cookie') continue
    const text = JSON.stringify(data[key])
    if (text !== undefined) prints.set(key, text)
  }
  return prints
}

// What the request did between `before` (the fingerprint of what it read) and its
// session now: the keys it assigned (with their values) and the keys it deleted.
function changesOf (before, session) {
  const after = fingerprint(session)
  const assigned = new Map()
  for (const [key, text] of after) {
    if (before.get(key) !== text) assigned.set(key, session[key])
  }
  const deleted = new Set()
  for (const key of before.keys()) if (!after.has(key)) deleted.add(key)
  return { cookie: session.cookie, assigned, deleted }
}

// The changes laid over `stored`: the request's cookie first, then the stored keys in
// their order (a Node reader sees the same shape), then the keys the request added.
function apply (changes, stored) {
  const merged = { cookie: changes.cookie }
  for (const key of Object.keys(stored)) {
    if (key === 'cookie' || changes.deleted.has(key)) continue
    merged[key] = changes.assigned.has(key) ? changes.assigned.get(key) : stored[key]
  }
  for (const [key, value] of changes.assigned) {
    if (!Object.prototype.hasOwnProperty.call(merged, key)) merged[key] = value
  }
  return merged
}

module.exports = { fingerprint, changesOf, apply }
