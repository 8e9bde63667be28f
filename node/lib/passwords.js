// Django's password hashes, checked on Node: for a passport strategy over Django's user
// table (`auth_user.password`, "<algorithm>$<fields>").
//
// pbkdf2_sha256, pbkdf2_sha1 and scrypt use node:crypto; argon2 and bcrypt_sha256 (and
// bcrypt) need the npm packages `argon2` and `bcrypt`, which are required only when
// such a hash is met, so an app whose users have none installs neither. Whatever cannot
// be checked (an unknown algorithm, a missing package, a malformed hash) is `false`,
// never an exception, with one warning per cause so a misconfiguration shows in the log.
'use strict'

const crypto = require('node:crypto')
const { promisify } = require('node:util')

const { warnOnce } = require('./warnings.js')

const pbkdf2 = promisify(crypto.pbkdf2)
const scrypt = promisify(crypto.scrypt)

// Django marks an unusable password (set_unusable_password) with this prefix.
const UNUSABLE_PREFIX = '!'

function equal (expected, actual) {
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual)
}

// The npm package `name`, or null (with one warning) when it is not installed.
function optional (name, algorithm) {
  try {
    return require(name)
  } catch (err) {
    const missing = err && err.code === 'MODULE_NOT_FOUND'
    warnOnce(`package:${name}`, `Django ${algorithm} password hashes need the npm package ` +
      `"${name}" (${missing ? `npm install ${name}` : `it failed to load: ${err && err.message}`}); ` +
      'until it loads they never match')
    return null
  }
}

function wholeNumber (text) {
  return /^[1-9][0-9]*$/.test(text) ? Number(text) : null
}

// "pbkdf2_<digest>$<iterations>$<salt>$<base64 hash>" (PBKDF2PasswordHasher and
// PBKDF2SHA1PasswordHasher): the key is as long as the stored hash.
async function checkPbkdf2 (digest, password, fields) {
  if (fields.length !== 3) return false
  const [iterationsText, salt, hash] = fields
  const iterations = wholeNumber(iterationsText)
  const expected = Buffer.from(hash, 'base64')
  if (iterations === null || expected.length === 0) return false
  return equal(expected, await pbkdf2(password, salt, iterations, expected.length, digest))
}

// "scrypt$<n>$<salt>$<r>$<p>$<base64 hash>" (ScryptPasswordHasher).
async function checkScrypt (password, fields) {
  if (fields.length !== 5) return false
  const [nText, salt, rText, pText, hash] = fields
  const [N, r, p] = [nText, rText, pText].map(wholeNumber)
  const expected = Buffer.from(hash, 'base64')
  if (N === null || r === null || p === null || expected.length === 0) return false
  // Twice the memory scrypt needs (128 * N * r), as Django allows.
  const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r })
  return equal(expected, key)
}

// "argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>": Django prefixes argon2's own
// encoding ("$argon2id$…") with its algorithm name.
async function checkArgon2 (password, rest) {
  const argon2 = optional('argon2', 'argon2')
  if (argon2 === null) return false
  try {
    return await argon2.verify(`$${rest}`, password) // argon2 compares in constant time
  } catch (err) {
    return false // not an encoding argon2 reads
  }
}

// "bcrypt_sha256$$2b$12$…": bcrypt of the password's SHA-256 in hex (so that passwords
// past bcrypt's 72 bytes still count); "bcrypt$$2b$…" is bcrypt of the password itself.
async function checkBcrypt (password, rest, preHashed) {
  const bcrypt = optional('bcrypt', preHashed ? 'bcrypt_sha256' : 'bcrypt')
  if (bcrypt === null) return false
  const secret = preHashed ? crypto.createHash('sha256').update(password).digest('hex') : password
  try {
    return await bcrypt.compare(secret, rest) // bcrypt compares in constant time
  } catch (err) {
    return false
  }
}

/**
 * Whether `password` is the one Django's `encoded` hash (the user's `password` field)
 * was made from. Resolves to false for a wrong password, an unusable password, a hash
 * this module cannot check (an unknown algorithm, or argon2/bcrypt without their npm
 * packages: one warning each) and anything that is not a hash.
 */
async function verifyDjangoPassword (password, encoded) {
  if (typeof password !== 'string' || typeof encoded !== 'string') return false
  if (encoded === '' || encoded.startsWith(UNUSABLE_PREFIX)) return false
  const cut = encoded.indexOf('$')
  if (cut <= 0) return false
  const algorithm = encoded.slice(0, cut)
  const rest = encoded.slice(cut + 1)
  switch (algorithm) {
    case 'pbkdf2_sha256': return checkPbkdf2('sha256', password, rest.split('$'))
    case 'pbkdf2_sha1': return checkPbkdf2('sha1', password, rest.split('$'))
    case 'scrypt': return checkScrypt(password, rest.split('$'))
    case 'argon2': return checkArgon2(password, rest)
    case 'bcrypt_sha256': return checkBcrypt(password, rest, true)
    case 'bcrypt': return checkBcrypt(password, rest, false)
    default:
      warnOnce(`algorithm:${algorithm}`, `Django password hashes of the algorithm ` +
        `"${algorithm}" cannot be checked on Node; they never match (have Django rehash ` +
        'them with one of pbkdf2_sha256, pbkdf2_sha1, scrypt, argon2, bcrypt_sha256)')
      return false
  }
}

module.exports = { verifyDjangoPassword }
