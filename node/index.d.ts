import type { Store } from 'express-session'

export interface ShareOptions {
  /**
   * Seconds: an unmodified session's expiry is refreshed only once it is at least this
   * far behind the expiry a touch would give (Django's `touchAfter`). Default 0: every
   * request touches, as express-session does.
   */
  touchAfter?: number
  /**
   * connect-redis only: where the per-user index sets go, as the Django store's
   * `indexPrefix` (default `"users:" + store.prefix`). Must differ from the prefix.
   */
  indexPrefix?: string
}

/**
 * Wrap a connect-redis, connect-pg-simple, connect-mongo, session-file-store or
 * connect-memcached store: each save writes only the request's changes, merged per
 * top-level key with a compare-and-set, and never brings back a destroyed session.
 * Throws a TypeError for a store it does not know.
 */
export function share<S extends Store> (store: S, options?: ShareOptions): Store

/** A compare-and-set kept losing past its retries: the request's changes were not saved. */
export class SessionConflictError extends Error {
  readonly code: 'ESESSIONCONFLICT'
  readonly status: 503
}

/** A new session was saved under an id already in use: it was not written. */
export class SessionExistsError extends Error {
  readonly code: 'ESESSIONEXISTS'
  readonly status: 500
}

/** guard()'s `onSessionLimit: "refuse"`: passport's login was over the user's limit. */
export class SessionLimitError extends Error {
  readonly code: 'ESESSIONLIMIT'
  readonly status: 403
  readonly limit: number
}

export { guard, sessionAuthHash } from './lib/guard'
export type { GuardOptions, GuardMiddleware } from './lib/guard'
export { verifyDjangoPassword } from './lib/passwords'
export {
  publishPolicy,
  checkPolicy,
  startPolicy,
  policyOf,
  compare,
  fingerprint,
  UnreadablePolicyError
} from './lib/policy'
export type { PolicyOptions, PolicyMismatch, Policy } from './lib/policy'
export { sessionHeader } from './lib/header'
export type { SessionHeaderOptions, SessionHeaderMiddleware } from './lib/header'
export {
  authAge,
  markAuthenticated,
  requireRecentAuth,
  ReauthenticationRequiredError
} from './lib/recent-auth'
export type { RecentAuthOptions } from './lib/recent-auth'
