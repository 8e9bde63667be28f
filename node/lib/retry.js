// The compare-and-set retry policy of the Django side (django_express_session/core/plans.py),
// so both apps back off alike when they write one session at once.
'use strict'

// Compare-and-set attempts before SessionConflictError.
const UPDATE_ATTEMPTS = 20

// Milliseconds to wait before attempt `attempt + 1`: full jitter over a window that
// doubles from 1 ms up to 64 ms, so writers that collided spread out.
function backoff (attempt) {
  return Math.random() * Math.min(64, 2 ** attempt)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Writers of one session in this process take turns (an event loop serves them all at
// once); the compare-and-set settles the races between processes. `work(waited)` is
// told whether it had to wait, as what it read has then surely changed.
class Turns {
  constructor () {
    this.tails = new Map()
  }

  take (key, work) {
    const before = this.tails.get(key)
    const run = before ? before.then(() => work(true)) : work(false)
    const tail = run.then(() => {}, () => {})
    this.tails.set(key, tail)
    tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key) })
    return run
  }
}

module.exports = { UPDATE_ATTEMPTS, backoff, sleep, Turns }
