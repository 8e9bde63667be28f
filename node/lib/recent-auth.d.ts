/**
 * Seconds since the user last proved who they are in this session (Django's `login()`
 * or `mark_authenticated()`, passport's login under `guard({passport})`, or
 * `markAuthenticated(req)`), as Django's `request.session.auth_age`; null if never.
 */
export declare function authAge(req: any): number | null

/** The user just proved who they are (a password re-check): `authAge` restarts. */
export declare function markAuthenticated(req: any): void

export interface RecentAuthOptions {
  /** Seconds: how old the proof may be. */
  maxAge: number
  /**
   * Where a stale or anonymous request is sent, with `next` set to the URL it asked for.
   * Null or absent: `next(ReauthenticationRequiredError)` (status 401).
   */
  loginUrl?: string | null
}

/** Express middleware: Django's `recent_auth` decorator for a route. */
export declare function requireRecentAuth(
  options: RecentAuthOptions
): (req: any, res: any, next: (err?: unknown) => void) => void

/** A route needs a more recent proof of identity than the session has. */
export declare class ReauthenticationRequiredError extends Error {
  readonly code: 'EREAUTH'
  readonly status: 401
  readonly maxAge: number
}
