/**
 * Whether `password` is the one Django's `encoded` hash (the user's `password` field,
 * "<algorithm>$…") was made from. pbkdf2_sha256, pbkdf2_sha1 and scrypt are checked with
 * node:crypto; argon2 needs the npm package `argon2`, bcrypt_sha256 and bcrypt the npm
 * package `bcrypt`. Resolves to false, never rejects, for a wrong or unusable password,
 * an unknown algorithm or a missing package (one warning per cause), or no hash at all.
 */
export declare function verifyDjangoPassword(password: string, encoded: string): Promise<boolean>
