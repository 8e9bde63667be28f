// Both apps agree: the Express app publishes its session policy beside the sessions and
// compares it with the one Django published, logging each difference that breaks
// sharing with what to change. Django does the same on its first request, and
// `manage.py check` reports each difference as a warning (W030 to W039).
//
// A policy is a small JSON document: the cookie name, each secret's fingerprint (an
// HMAC-SHA256 of a constant keyed by the secret: the secret never leaves the app), the
// express-session options `resave`, `saveUninitialized`, `rolling`, `cookie.maxAge`,
// and Django's `absoluteMaxAge`, `absoluteMaxAgeFrom`, `touchAfter` and passport field.
// It is kept where neither app counts it as a session (the same places as Django's
// `read_policy`/`publish_policy`):
//
//   connect-redis       the key `policy:<prefix><side>`        (never with prefix '')
//   connect-memcached   the key `policy:<prefix><side>`
//   connect-pg-simple   the table `<tableName>_policy` (side, policy), same schema
//   connect-mongo       the collection `<collectionName>_policy`, {_id: side, policy}
//   session-file-store  the file `<path>.policy.<side>.json` beside the directory
'use strict'

const crypto = require('node:crypto')
const fs = require('node:fs/promises')
const path = require('node:path')
const { stock } = require('./stores/stock')

const EXPRESS = 'express'
const DJANGO = 'django'
const FORMAT = 1
const FINGERPRINT_MESSAGE = 'django-express-session policy'

function fingerprint (secret) {
  return crypto.createHmac('sha256', secret).update(FINGERPRINT_MESSAGE).digest('hex')
}

// express-session's defaults for what its options leave out.
function sessionPolicy (session) {
  const secrets = [].concat(session.secret === undefined ? [] : session.secret)
  const cookie = session.cookie || {}
  return {
    name: session.name || 'connect.sid',
    secretFingerprints: secrets.map(fingerprint),
    resave: session.resave === undefined ? true : Boolean(session.resave),
    saveUninitialized: session.saveUninitialized === undefined ? true : Boolean(session.saveUninitialized),
    rolling: Boolean(session.rolling),
    cookie: { maxAge: cookie.maxAge == null ? null : cookie.maxAge }
  }
}

// What the policy reads, and what it accepts besides, so that one object can be given
// to share(), guard() and the policy alike; any other name is a typo, and an error.
const READ = ['session', 'touchAfter', 'absoluteMaxAge', 'absoluteMaxAgeFrom', 'passport', 'log']
const ACCEPTED = [...READ, 'indexPrefix', 'djangoSecretKey', 'passwordHashOf', 'track']

function checkOptions (options) {
  if (options === null || typeof options !== 'object') throw new TypeError('the policy\'s options must be an object')
  const unknown = Object.keys(options).filter((name) => !ACCEPTED.includes(name))
  if (unknown.length) throw new TypeError(`the policy: unknown option ${unknown.join(', ')} (it reads ${READ.join(', ')})`)
}

/**
 * The Express app's policy from `options`: `session` (the express-session options
 * object) and the Django-named options share() and guard() take (`touchAfter`,
 * `absoluteMaxAge`, `absoluteMaxAgeFrom`, `passport`). Without `session`, the
 * express-session settings are left out, and Django does not compare them.
 */
function policyOf (options = {}) {
  checkOptions(options)
  const policy = {
    format: FORMAT,
    side: EXPRESS,
    publishedAt: new Date().toISOString(),
    ...(options.session ? sessionPolicy(options.session) : {}),
    absoluteMaxAge: options.absoluteMaxAge == null ? null : options.absoluteMaxAge,
    absoluteMaxAgeFrom: options.absoluteMaxAgeFrom || 'start',
    touchAfter: options.touchAfter || 0
  }
  if (options.passport && options.passport.field) policy.passport = { field: options.passport.field }
  return policy
}

// -- comparing ------------------------------------------------------------------------

const py = (value) => (value === null ? 'None' : value === true ? 'True' : value === false ? 'False' : JSON.stringify(value))
const js = (value) => JSON.stringify(value)

// Settings compared as they are, where both documents give them.
const SETTINGS = [
  ['W032', ['resave'], 'express-session', 'A side with resave true writes back every session it loads, so its writes race the other app\'s on every request.'],
  ['W033', ['saveUninitialized'], 'express-session', 'Visitors get a stored session on one app and none on the other.'],
  ['W034', ['rolling'], 'express-session', 'The cookie\'s expiry is refreshed by one app and not by the other.'],
  ['W035', ['cookie', 'maxAge'], 'express-session', 'A session then lasts as long as the app that answered last says.'],
  ['W036', ['absoluteMaxAge'], 'guard()', 'One app ends sessions at the cap and the other keeps them alive.'],
  ['W036', ['absoluteMaxAgeFrom'], 'guard()', 'The two apps start the absolute clock at different moments.'],
  ['W037', ['touchAfter'], 'share()', 'One app refreshes the store\'s expiry more often than the other.']
]

function holder (policy, keys) {
  let value = policy
  for (const key of keys.slice(0, -1)) value = (value && value[key]) || {}
  return value || {}
}

function secretMismatches (mine, theirs) {
  const found = []
  if (mine.length && !theirs.includes(mine[0])) {
    found.push({
      id: 'W031',
      message: 'This app signs its cookies with a secret Django does not verify: Django rejects every cookie this app sets.',
      hint: 'Put this app\'s first secret in EXPRESS_SESSION["secret"] (first, or second while rotating). Django\'s default secret is derived from SECRET_KEY: set "secret" there explicitly.'
    })
  }
  if (theirs.length && !mine.includes(theirs[0])) {
    found.push({
      id: 'W031',
      message: 'Django signs its cookies with a secret that is not among this app\'s secrets: this app rejects every cookie Django sets.',
      hint: 'Give express-session the same first secret as EXPRESS_SESSION["secret"] (or add it to the secret list while rotating).'
    })
  }
  return found
}

function passportMismatch (mine, theirs) {
  const field = mine && mine.field
  if (!field) return null
  if (theirs == null) {
    return {
      id: 'W038',
      message: `passport.user holds the user's ${js(field)} here, but Django's EXPRESS_SESSION has no "passport": logins on this app are not logins on Django.`,
      hint: `Set EXPRESS_SESSION["passport"] = {"field": ${js(field)}} in Django's settings.`
    }
  }
  if (theirs.field !== undefined && theirs.field !== field) {
    return {
      id: 'W038',
      message: `passport.user holds the user's ${js(field)} here, but Django's EXPRESS_SESSION["passport"]["field"] is ${js(theirs.field)}: a login on one app names another user, or nobody, on the other.`,
      hint: 'Make both name the field passport\'s serializeUser stores.'
    }
  }
  return null
}

/**
 * Each setting of this app's policy `mine` that Django's `theirs` contradicts in a way
 * that breaks sharing: [{id, message, hint}] (the ids of Django's system checks). A
 * setting this app does not state (no `session` option) is not compared.
 */
function compare (mine, theirs) {
  const found = []
  if ('name' in mine && mine.name !== theirs.name) {
    found.push({
      id: 'W030',
      message: `This app's cookie is ${js(mine.name)}, Django's is ${js(theirs.name)}: neither app sees the other's sessions.`,
      hint: `Set name: ${js(theirs.name)} in the express-session options, or EXPRESS_SESSION["name"] = ${js(mine.name)} in Django's settings.`
    })
  }
  if ('secretFingerprints' in mine) found.push(...secretMismatches(mine.secretFingerprints, theirs.secretFingerprints || []))
  for (const [id, keys, where, why] of SETTINGS) {
    const name = keys[keys.length - 1]
    const mineHolder = holder(mine, keys)
    if (!(name in mineHolder)) continue
    const value = mineHolder[name]
    const theirValue = holder(theirs, keys)[name]
    if (theirValue === undefined || value === theirValue) continue
    const option = keys.join('.')
    const django = 'EXPRESS_SESSION' + keys.map((key) => `[${js(key)}]`).join('')
    found.push({
      id,
      message: `${option} (${where}) is ${js(value)} here, but Django's ${django} is ${py(theirValue)}. ${why}`,
      hint: `Set the same value on both sides: ${option}: ${js(theirValue)} here, or ${django} = ${py(value)} in Django's settings.`
    })
  }
  const passport = passportMismatch(mine.passport, theirs.passport)
  if (passport) found.push(passport)
  return found
}

class UnreadablePolicyError extends Error {
  constructor (problem) {
    super(`Django's published session policy cannot be read: ${problem}`)
    this.name = 'UnreadablePolicyError'
  }
}

function parse (document) {
  let policy = document
  if (typeof document === 'string' || Buffer.isBuffer(document)) {
    try {
      policy = JSON.parse(String(document))
    } catch (error) {
      throw new UnreadablePolicyError(`it is not JSON (${error.message})`)
    }
  }
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw new UnreadablePolicyError('it is not a JSON object')
  if (policy.format !== FORMAT) throw new UnreadablePolicyError(`its format is ${js(policy.format)}; this version reads ${FORMAT}`)
  if (policy.secretFingerprints !== undefined &&
      !(Array.isArray(policy.secretFingerprints) && policy.secretFingerprints.every((f) => typeof f === 'string'))) {
    throw new UnreadablePolicyError('"secretFingerprints" is not a list of strings')
  }
  return policy
}

// -- where each store keeps it -----------------------------------------------------------

// Each place: {read(side) -> text | object | null, write(side, text)}. Which store is
// which is told by share()'s own per-store detection (lib/stores/<kind>.js `fits`).
const PLACES = {
  redis (store) {
    const prefix = store.prefix
    const key = (side) => {
      if (!prefix) throw new Error('with an empty prefix every key is a session: no key is left for the policy')
      return keyBeside(prefix, side)
    }
    return {
      read: (side) => store.client.get(key(side)),
      write: (side, text) => store.client.set(key(side), text)
    }
  },
  memcached (store) {
    const client = store.client
    const key = (side) => keyBeside(store.prefix || '', side)
    return {
      read: (side) => new Promise((resolve, reject) => client.get(key(side), (error, value) => (error ? reject(error) : resolve(value === undefined ? null : value)))),
      // 0: never expires (it is published again at each start; memcached may evict it)
      write: (side, text) => new Promise((resolve, reject) => client.set(key(side), text, 0, (error) => (error ? reject(error) : resolve())))
    }
  },
  pg (store) {
    // The sessions' quoted (and schema-qualified) table, its name suffixed.
    const table = () => store.quotedTable().replace(/"$/, '_policy"')
    const query = (sql, params) => stock(store, 'query', sql, params)
    return {
      async read (side) {
        const exists = await query('SELECT to_regclass($1::text) AS found', [table()])
        if (!exists || !exists.found) return null
        const row = await query(`SELECT policy FROM ${table()} WHERE side = $1`, [side])
        return row ? row.policy : null
      },
      async write (side, text) {
        await query(`CREATE TABLE IF NOT EXISTS ${table()} (side varchar(16) NOT NULL PRIMARY KEY, policy text NOT NULL)`, [])
        await query(`INSERT INTO ${table()} (side, policy) VALUES ($1, $2) ON CONFLICT (side) DO UPDATE SET policy = EXCLUDED.policy`, [side, text])
      }
    }
  },
  mongo (store) {
    const policies = async () => {
      const sessions = await store.collectionP
      const client = await store.clientP
      return client.db(sessions.dbName).collection(`${sessions.collectionName}_policy`)
    }
    return {
      async read (side) {
        const found = await (await policies()).findOne({ _id: side })
        return found ? found.policy : null
      },
      async write (side, text) {
        await (await policies()).replaceOne({ _id: side }, { _id: side, policy: text }, { upsert: true })
      }
    }
  },
  file (store) {
    const directory = path.resolve(store.options.path)
    const file = (side) => path.join(path.dirname(directory), `${path.basename(directory)}.policy.${side}.json`)
    return {
      async read (side) {
        try {
          return await fs.readFile(file(side), 'utf8')
        } catch (error) {
          if (error.code === 'ENOENT') return null
          throw error
        }
      },
      async write (side, text) {
        const target = file(side)
        const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${crypto.randomBytes(8).toString('hex')}.tmp`)
        await fs.writeFile(temporary, text, { flag: 'wx' })
        try {
          await fs.rename(temporary, target)
        } catch (error) {
          await fs.rm(temporary, { force: true })
          throw error
        }
      }
    }
  }
}

// The key-value stores' key: beside the sessions' prefix, never under it.
function keyBeside (prefix, side) {
  const key = `policy:${prefix}${side}`
  if (prefix && key.startsWith(prefix)) throw new Error(`the policy key ${js(key)} would lie under the sessions' prefix ${js(prefix)}`)
  return key
}

// share()'s own detection of each store.
const DETECTION = {
  redis: require('./stores/redis'),
  memcached: require('./stores/memcached'),
  pg: require('./stores/pg'),
  mongo: require('./stores/mongo'),
  file: require('./stores/file')
}

function placeFor (store) {
  const stock = store && store.inner ? store.inner : store // a shared store: the one it wraps
  for (const [kind, place] of Object.entries(PLACES)) {
    if (DETECTION[kind].fits(stock)) return place(stock)
  }
  throw new TypeError('the policy is kept beside a connect-redis, connect-pg-simple, connect-mongo, session-file-store or connect-memcached store; this store is none of them')
}

// -- publishing, checking, logging -------------------------------------------------------

/** Write this app's policy beside the store's sessions; resolves to the document. */
async function publishPolicy (store, options = {}) {
  const policy = policyOf(options)
  await placeFor(store).write(EXPRESS, JSON.stringify(policy))
  return policy
}

/**
 * Compare this app's policy with Django's published one: resolves to the mismatches
 * ([] when they agree, null when Django has published none yet). Rejects with an
 * UnreadablePolicyError when Django's document cannot be read.
 */
async function checkPolicy (store, options = {}) {
  const found = await placeFor(store).read(DJANGO)
  if (found == null) return null
  return compare(policyOf(options), parse(found))
}

/**
 * Publish, then check, logging each mismatch (one line each, with what to change) to
 * `options.log` (default console.warn). Never rejects: a failure is logged too, and
 * the app goes on. Resolves to the mismatches (null: none to compare with yet).
 */
async function startPolicy (store, options = {}) {
  const log = options.log || console.warn
  try {
    await publishPolicy(store, options)
    const found = await checkPolicy(store, options)
    for (const mismatch of found || []) log(`django-express-session: ${mismatch.message} ${mismatch.hint} (${mismatch.id})`)
    return found
  } catch (error) {
    log(`django-express-session: the session policy was not published or checked: ${error.message}`)
    return null
  }
}

module.exports = { publishPolicy, checkPolicy, startPolicy, policyOf, compare, fingerprint, UnreadablePolicyError }
