// Whose session a record is, as the Django side files it (django_express_session/owner.py):
// "d:<_auth_user_id>" for Django's login, "p:<passport.user as JSON>" for passport's.
'use strict'

// JSON with every object's keys sorted and no spaces (Python's json.dumps with
// sort_keys and compact separators, non-ASCII kept), so that an object user names one
// index entry whatever its key order.
function sortedJson (value) {
  if (Array.isArray(value)) return '[' + value.map((item) => sortedJson(item === undefined ? null : item)).join(',') + ']'
  if (value !== null && typeof value === 'object') {
    if (typeof value.toJSON === 'function') return sortedJson(value.toJSON())
    const keys = Object.keys(value).filter((key) => value[key] !== undefined).sort()
    return '{' + keys.map((key) => JSON.stringify(key) + ':' + sortedJson(value[key])).join(',') + '}'
  }
  return JSON.stringify(value)
}

function indexTerms (record) {
  const terms = []
  const djangoId = record._auth_user_id
  if (typeof djangoId === 'string') terms.push('d:' + djangoId)
  const passport = record.passport
  if (passport !== null && typeof passport === 'object' && !Array.isArray(passport)) {
    const user = passport.user
    if (user !== undefined && user !== null && typeof user !== 'boolean') terms.push('p:' + sortedJson(user))
  }
  return terms
}

// The passport.user values that name the user whose own value is `value`, as Django's
// owner.passport_forms: an integer id is also found by its decimal text.
function passportForms (value) {
  return Number.isInteger(value) ? [value, String(value)] : [value]
}

module.exports = { indexTerms, passportForms, sortedJson }
