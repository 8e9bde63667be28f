// Compiled (not run) by types.test.js: the declarations as an app uses them.
import session from 'express-session'
import { RedisStore } from 'connect-redis'
import { share, sessionHeader, SessionConflictError, SessionExistsError, type ShareOptions, type SessionHeaderOptions } from 'django-express-session'

declare const client: ConstructorParameters<typeof RedisStore>[0]['client']

const options: ShareOptions = { touchAfter: 60, indexPrefix: 'users:sess:' }
const store: session.Store = share(new RedisStore({ client }), options)
session({ store, secret: 's', resave: false, saveUninitialized: false })

function handle (error: unknown): number {
  if (error instanceof SessionConflictError) return error.status
  if (error instanceof SessionExistsError) return error.code.length
  return 0
}
handle(null)

// @ts-expect-error: touchAfter is seconds, a number
share(new RedisStore({ client }), { touchAfter: '60' })

const headerOptions: SessionHeaderOptions = { header: 'X-Session-Id', name: 'connect.sid' }
const headerMiddleware = sessionHeader(headerOptions)
headerMiddleware({}, {}, () => undefined)
// @ts-expect-error: the header is a name, a string
sessionHeader({ header: 42 })
// The session policies: the recent-authentication check and the limit's error.
import { authAge, markAuthenticated, requireRecentAuth, SessionLimitError, ReauthenticationRequiredError, guard } from 'django-express-session'
declare const req: unknown
const age: number | null = authAge(req)
markAuthenticated(req)
requireRecentAuth({ maxAge: 300, loginUrl: '/login' })
guard({ passport: true, maxSessionsPerUser: (user: { staff: boolean }) => (user.staff ? 1 : null), onSessionLimit: 'refuse' })
function limitStatus (error: unknown): number {
  if (error instanceof SessionLimitError) return error.status + error.limit
  if (error instanceof ReauthenticationRequiredError) return error.status
  return age ?? 0
}
limitStatus(null)
// @ts-expect-error: maxAge is required
requireRecentAuth({ loginUrl: '/login' })
// @ts-expect-error: onSessionLimit is "endOldest" or "refuse"
guard({ passport: true, maxSessionsPerUser: 2, onSessionLimit: 'newest' })
