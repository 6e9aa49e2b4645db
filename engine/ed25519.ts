// Ed25519 keys, signatures and validator ids (PROTOCOL.md section 5), on node:crypto alone.
//
// The engine has no randomness: a key is made from a 32-byte seed its caller supplies, and no
// function here generates one. A validator id is the raw 32-byte public key in base64url without
// padding (43 characters); a signature travels as base64url of its 64 bytes (86 characters).
// Decoding accepts only the one canonical spelling of each value, so that a key has exactly one
// validator id and counting "distinct validators" by id cannot be fooled by a respelling.
import {
  createPrivateKey,
  createPublicKey,
  sign as signDetached,
  verify as verifyDetached,
  type KeyObject,
} from "node:crypto"

const seedBytes = 32
const publicKeyBytes = 32
const signatureBytes = 64
const validatorIdLength = 43
const signatureLength = 86

// node:crypto imports raw Ed25519 keys only inside these RFC 8410 DER wrappers.
const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex")
const spkiPrefix = Buffer.from("302a300506032b6570032100", "hex")

const base64urlAlphabet = /^[A-Za-z0-9_-]*$/

export type SigningKey = {
  readonly privateKey: KeyObject
  /** The 32 raw bytes of the public key, as RFC 8032 writes it. */
  readonly publicKeyRaw: Uint8Array
}

/** The key of a 32-byte RFC 8032 secret seed; undefined for a seed of any other length. */
export function keyFromSeed(seed: Uint8Array): SigningKey | undefined {
  if (seed.length !== seedBytes) return undefined
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: "der", type: "pkcs8" })
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" })
  assertSpki(spki)
  return { privateKey, publicKeyRaw: new Uint8Array(spki.subarray(spkiPrefix.length)) }
}

function assertSpki(spki: Buffer): void {
  const wellFormed = spki.length === spkiPrefix.length + publicKeyBytes && spki.subarray(0, spkiPrefix.length).equals(spkiPrefix)
  if (!wellFormed) throw new Error("node:crypto exported an Ed25519 public key in an unexpected SPKI form")
}

export function validatorId(publicKeyRaw: Uint8Array): string {
  if (publicKeyRaw.length !== publicKeyBytes) throw new Error(`validatorId: a public key is ${publicKeyBytes} bytes, not ${publicKeyRaw.length}`)
  return base64urlEncode(publicKeyRaw)
}

/** The raw public key a validator id names; undefined unless it is 43 canonical base64url characters. */
export function publicKeyFromValidatorId(id: string): Uint8Array | undefined {
  if (typeof id !== "string" || id.length !== validatorIdLength) return undefined
  const publicKeyRaw = base64urlDecode(id)
  return publicKeyRaw?.length === publicKeyBytes ? publicKeyRaw : undefined
}

/** The base64url Ed25519 signature of `message`. */
export function sign(key: SigningKey, message: Uint8Array): string {
  return base64urlEncode(signDetached(null, message, key.privateKey))
}

/**
 * Whether `signature` is the named validator's signature of `message`. Never throws: anything
 * malformed (id, signature, a 32-byte string that is no curve point) is simply not a signature.
 */
export function verify(validator: string, message: Uint8Array, signature: string): boolean {
  try {
    const publicKeyRaw = publicKeyFromValidatorId(validator)
    const signatureRaw = decodeSignature(signature)
    if (publicKeyRaw === undefined || signatureRaw === undefined) return false
    const publicKey = createPublicKey({ key: Buffer.concat([spkiPrefix, publicKeyRaw]), format: "der", type: "spki" })
    return verifyDetached(null, message, publicKey, signatureRaw)
  } catch {
    return false
  }
}

function decodeSignature(signature: string): Uint8Array | undefined {
  if (typeof signature !== "string" || signature.length !== signatureLength) return undefined
  const signatureRaw = base64urlDecode(signature)
  return signatureRaw?.length === signatureBytes ? signatureRaw : undefined
}

/** RFC 4648 section 5 base64url, without padding. */
export function base64urlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url")
}

/**
 * The bytes of unpadded base64url text; undefined for padding, characters outside the alphabet, an
 * impossible length, or non-zero unused bits in the last character. Node's decoder would accept
 * all of these silently, so the result is re-encoded and must give back the text exactly.
 */
export function base64urlDecode(text: string): Uint8Array | undefined {
  if (typeof text !== "string" || !base64urlAlphabet.test(text)) return undefined
  const bytes = Buffer.from(text, "base64url")
  if (bytes.toString("base64url") !== text) return undefined
  return new Uint8Array(bytes)
}
