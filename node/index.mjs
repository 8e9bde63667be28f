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
  UnreadablePolicyError
} = shared
export default shared
