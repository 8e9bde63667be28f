export interface SessionHeaderOptions {
  /** The request and response header that carries the signed id. Default `"X-Session-Id"`. */
  header?: string
  /** express-session's cookie name (its `name` option). Default `"connect.sid"`. */
  name?: string
}

/** Express middleware (typed loosely, so no @types/express is needed). */
export interface SessionHeaderMiddleware {
  (req: any, res: any, next: (err?: unknown) => void): void
}

/**
 * The signed session id (`s:<id>.<signature>`) in a header for clients without cookies,
 * as Django's `EXPRESS_SESSION["header"]`. Put it before `session()`. Throws a
 * TypeError for a bad option.
 */
export function sessionHeader (options?: SessionHeaderOptions): SessionHeaderMiddleware
