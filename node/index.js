'use strict'

// Each module's exports, as they are: a name added there is exported here too.
module.exports = {
  ...require('./lib/share'),
  ...require('./lib/errors'),
  ...require('./lib/guard'),
  ...require('./lib/passwords'),
  ...require('./lib/policy'),
  ...require('./lib/header'),
  ...require('./lib/recent-auth')
}
