import shared from './index.js'

export const {
  share,
  SessionConflictError,
  SessionExistsError,
  guard,
  sessionAuthHash,
  verifyDjangoPassword,
  publishPolicy,
  checkPolicy,
  startPolicy,
  policyOf,
  compare,
  fingerprint,
  UnreadablePolicyError,
  sessionHeader,
  SessionLimitError,
  authAge,
  markAuthenticated,
  requireRecentAuth,
  ReauthenticationRequiredError
} = shared
export default shared
