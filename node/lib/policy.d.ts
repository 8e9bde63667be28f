import type { SessionOptions, Store } from 'express-session'

/** What the policy is made of: the options of share() and guard(), and express-session's. */
export interface PolicyOptions {
  /**
   * The express-session options object the app passes to `session()`: its cookie name,
   * secrets (as fingerprints only), `resave`, `saveUninitialized`, `rolling` and
   * `cookie.maxAge` are compared with Django's. Without it they are not compared.
   */
  session?: Pick<SessionOptions, 'name' | 'secret' | 'resave' | 'saveUninitialized' | 'rolling' | 'cookie'>
  /** Seconds, as share()'s `touchAfter` (default 0). */
  touchAfter?: number
  /** Milliseconds, as guard()'s `absoluteMaxAge` (default: no cap). */
  absoluteMaxAge?: number | null
  /** As guard()'s `absoluteMaxAgeFrom` (default `"start"`). */
  absoluteMaxAgeFrom?: 'start' | 'login'
  /** The user field passport's serializeUser keeps in `passport.user`, as Django's `passport` option. */
  passport?: true | { field?: string } | null
  /** Where startPolicy() writes each mismatch (default `console.warn`). */
  log?: (line: string) => void
  /** Accepted (not read), so that one object can go to share(), guard() and the policy. */
  indexPrefix?: string
  djangoSecretKey?: string | string[] | null
  passwordHashOf?: (user: any) => unknown
  track?: Array<'ip' | 'userAgent'>
}

/** One setting the two apps disagree on; `id` is the matching Django system check. */
export interface PolicyMismatch {
  id: 'W030' | 'W031' | 'W032' | 'W033' | 'W034' | 'W035' | 'W036' | 'W037' | 'W038'
  message: string
  /** What to change, on either side. */
  hint: string
}

/** The published document. */
export interface Policy {
  format: 1
  side: 'express' | 'django'
  publishedAt: string
  name?: string
  secretFingerprints?: string[]
  resave?: boolean
  saveUninitialized?: boolean
  rolling?: boolean
  cookie?: { maxAge: number | null }
  absoluteMaxAge: number | null
  absoluteMaxAgeFrom: 'start' | 'login'
  touchAfter: number
  passport?: { field: string } | null
}

/** Django's published document could not be read (not JSON, or a newer format). */
export class UnreadablePolicyError extends Error {}

/** Write this app's policy beside the store's sessions (a stock or shared store). */
export function publishPolicy (store: Store, options?: PolicyOptions): Promise<Policy>

/**
 * This app's policy against Django's published one: the mismatches ([] when they
 * agree), or null when Django has published none yet.
 */
export function checkPolicy (store: Store, options?: PolicyOptions): Promise<PolicyMismatch[] | null>

/** Publish, check, and log each mismatch with what to change; never rejects. */
export function startPolicy (store: Store, options?: PolicyOptions): Promise<PolicyMismatch[] | null>

/** This app's policy document. */
export function policyOf (options?: PolicyOptions): Policy

/** The mismatches of this app's policy `mine` with Django's `theirs`. */
export function compare (mine: Policy, theirs: Policy): PolicyMismatch[]

/** HMAC-SHA256 of a constant keyed by the secret, in hex (as the Django side computes it). */
export function fingerprint (secret: string): string
