import shared from './index.js'

export const { share, SessionConflictError, SessionExistsError } = shared
export default shared
