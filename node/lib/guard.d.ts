export interface GuardOptions {
  /**
   * Django's `absoluteMaxAge`: a session ends this many milliseconds after
   * `djangoExpressSession.startedAt`, however active it is. Null or absent: no cap.
   */
  absoluteMaxAge?: number | null
  /**
   * Django's `absoluteMaxAgeFrom`: `"start"` (default) keeps the clock through
   * passport's login, `"login"` restarts it there (needs `passport`).
   */
  absoluteMaxAgeFrom?: 'start' | 'login'
  /**
   * passport is used (guard comes after `passport.initialize()` and
   * `passport.session()`): logins keep or restart the clock, and are stamped for the
   * password-change logout. `field` is Django's `EXPRESS_SESSION["passport"]["field"]`.
   */
  passport?: true | { field?: string } | null
  /**
   * Django's `SECRET_KEY`, or it followed by its `SECRET_KEY_FALLBACKS`: a session whose
   * `_auth_user_hash` does not match the user's current password hash is logged out, as
   * Django's `get_user()` does. Needs `passport`.
   */
  djangoSecretKey?: string | string[] | null
  /**
   * The user's current Django password hash, from passport's deserialized user
   * (default: `user.password`, the field of Django's `auth_user` row).
   */
  passwordHashOf?: (user: any) => string | null | undefined | Promise<string | null | undefined>
  /** Django's `track`: which client details to record. Default `[]`: off. */
  track?: Array<'ip' | 'userAgent'>
  /**
   * Django's `touchAfter` (seconds): with `track`, how old the recorded visit may get
   * before a request that changes nothing writes it (0 or absent: 300 s).
   */
  touchAfter?: number
  /**
   * Django's `maxSessionsPerUser`: after passport's login, the user's sessions over this
   * many end (or the login is refused), as on Django; a function gives each user's
   * (null: no limit). Needs `passport` and the store wrapped by `share()` over
   * connect-redis or connect-pg-simple.
   */
  maxSessionsPerUser?: number | ((user: any) => number | null | Promise<number | null>) | null
  /**
   * Django's `onSessionLimit`: `"endOldest"` (default) ends the least recently used
   * sessions; `"refuse"` fails the login with a `SessionLimitError` (status 403).
   */
  onSessionLimit?: 'endOldest' | 'refuse'
}

/** Express middleware (typed loosely, so no @types/express is needed). */
export interface GuardMiddleware {
  (req: any, res: any, next: (err?: unknown) => void): void
  /** The options as guard() read them. */
  readonly options: Readonly<{
    absoluteMaxAge: number | null
    absoluteMaxAgeFrom: 'start' | 'login'
    passport: Readonly<{ field?: string }> | null
    secretKeys: readonly string[]
    passwordHashOf: NonNullable<GuardOptions['passwordHashOf']>
    track: ReadonlyArray<'ip' | 'userAgent'>
    touchAfter: number
    visitIntervalMs: number | null
    maxSessionsPerUser: NonNullable<GuardOptions['maxSessionsPerUser']> | null
    onSessionLimit: 'endOldest' | 'refuse'
  }>
}

/**
 * The rules of django-express-session that need the request, on the Express side: the
 * absolute cap, the password-change logout, and client details. Put it after
 * express-session, and after `passport.session()` when passport is used.
 */
export declare function guard(options?: GuardOptions): GuardMiddleware

/** Django's `AbstractBaseUser.get_session_auth_hash()` for a password hash and key. */
export declare function sessionAuthHash(passwordHash: string, secretKey: string): string
