/**
 * The login of the federation feed (PROTOCOL.md section 9.7): the message a follower signs to prove
 * its key, and its check.
 *
 * A validator's key signs block hashes, and so a login must never be a message that could also be
 * read as a block hash: a block signature is over 32 raw bytes, a login over the UTF-8 text
 * `gesell/feed-auth/v1:<genesis hash>:<nonce hex>` (149 bytes, with a prefix no other signed message
 * of the federation starts with). The nonce is exactly 32 bytes written as 64 lowercase hex digits,
 * and the genesis hash names the federation, so that a login made for one federation's node cannot
 * be replayed to another's. Nothing else than this text is ever signed for a login.
 */
import { sign, verify, type SigningKey } from "./ed25519.js"

export const feedLoginPrefix = "gesell/feed-auth/v1"

/** A nonce's random bytes: exactly this many, new for each connection. */
export const feedNonceBytes = 32

const hexOf32Bytes = /^[0-9a-f]{64}$/

/** Whether `text` is 32 bytes as 64 lowercase hex digits: a nonce, or a block hash. */
export const isHex32 = (text: unknown): text is string => typeof text === "string" && hexOf32Bytes.test(text)

/**
 * The bytes a follower signs to log in; undefined unless both the genesis hash and the nonce are
 * 64 lowercase hex digits (anything else is not a login, and is never signed).
 */
export const feedLoginMessage = (genesisHash: string, nonceHex: string): Uint8Array | undefined =>
  isHex32(genesisHash) && isHex32(nonceHex) ? new TextEncoder().encode(`${feedLoginPrefix}:${genesisHash}:${nonceHex}`) : undefined

/** The signature of a login, or undefined when the genesis hash or the nonce is not of the one allowed form. */
export const signFeedLogin = (key: SigningKey, genesisHash: string, nonceHex: string): string | undefined => {
  const message = feedLoginMessage(genesisHash, nonceHex)
  return message === undefined ? undefined : sign(key, message)
}

/** Whether `signature` is the named validator's login for this federation and this nonce. */
export const feedLoginValid = (validator: string, genesisHash: string, nonceHex: string, signature: unknown): boolean => {
  const message = feedLoginMessage(genesisHash, nonceHex)
  return message !== undefined && typeof signature === "string" && verify(validator, message, signature)
}

/**
 * A member's HTTP credentials (PROTOCOL.md section 9.7): `Authorization: Member <id>.<unix ms>.<signature>`,
 * the signature over the UTF-8 text `gesell/member-http/v1:<genesis hash>:<unix ms>`. Accepted within
 * `memberHttpSkewMs` of the server's clock: a header overheard is worth a minute, for reads only.
 */
export const memberHttpPrefix = "gesell/member-http/v1"
export const memberHttpSkewMs = 60_000

const memberHttpMessage = (genesisHash: string, timeMs: number): Uint8Array =>
  new TextEncoder().encode(`${memberHttpPrefix}:${genesisHash}:${timeMs}`)

/** The `Authorization` header of a member at `timeMs`. */
export const memberHttpAuthorization = (id: string, key: SigningKey, genesisHash: string, timeMs: number): string =>
  `Member ${id}.${timeMs}.${sign(key, memberHttpMessage(genesisHash, timeMs))}`

/**
 * The member a header names when its signature is that member's, for this federation, within the
 * allowed skew of `nowMs`; undefined otherwise (the caller then checks the id is a member).
 */
export const memberOfHttpAuthorization = (header: string | undefined, genesisHash: string, nowMs: number): string | undefined => {
  const match = header === undefined ? null : /^Member ([A-Za-z0-9_-]{43})\.(\d{1,15})\.([A-Za-z0-9_-]{86})$/.exec(header)
  if (match === null || !isHex32(genesisHash)) return undefined
  const [, id, time, signature] = match as unknown as [string, string, string, string]
  const timeMs = Number(time)
  if (Math.abs(timeMs - nowMs) > memberHttpSkewMs) return undefined
  return verify(id, memberHttpMessage(genesisHash, timeMs), signature) ? id : undefined
}
