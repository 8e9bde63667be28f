// The real Django beside the package's tests: a Python with Django (the repository's
// .venv, or $DJANGO_PYTHON) runs a snippet and answers JSON on stdout.
'use strict'

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const repository = path.resolve(__dirname, '..', '..')

function djangoPython () {
  if (process.env.DJANGO_PYTHON) return process.env.DJANGO_PYTHON
  const venv = path.join(repository, '.venv', 'bin', 'python')
  return fs.existsSync(venv) ? venv : null
}

const SETUP = `
import json, sys
import django
from django.conf import settings
settings.configure(
    SECRET_KEY=sys.argv[1] if len(sys.argv) > 1 else "unused",
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers." + name for name in (
            "PBKDF2PasswordHasher", "PBKDF2SHA1PasswordHasher", "Argon2PasswordHasher",
            "BCryptSHA256PasswordHasher", "BCryptPasswordHasher", "ScryptPasswordHasher",
            "MD5PasswordHasher",
        )
    ],
)
django.setup()
`

// Runs `code` (after Django is set up; it prints JSON) and returns what it printed.
function runDjango (code, args = []) {
  const python = djangoPython()
  const out = execFileSync(python, ['-c', SETUP + code, ...args], { encoding: 'utf8' })
  return JSON.parse(out)
}

module.exports = { djangoPython, runDjango }
