/**
 * Validator key files: `{"validator": ID, "seed": BASE64URL}`, mode 0600. The seed comes from the
 * operating system's cryptographic generator; the engine derives the key from it.
 */
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { Effect } from "effect"
import { base64urlDecode, base64urlEncode, keyFromSeed, validatorId, type SigningKey } from "../engine/ed25519.js"

export interface NodeKey {
  readonly validator: string
  readonly key: SigningKey
}

export class KeyFileInvalid extends Error {
  override readonly name = "KeyFileInvalid"
}

/** Writes a new key file; refuses to overwrite one. */
export const writeNewKey = (file: string): NodeKey => {
  if (existsSync(file)) throw new KeyFileInvalid(`${file} exists; refusing to overwrite a key`)
  const seed = randomBytes(32)
  const key = keyFromSeed(seed)
  if (key === undefined) throw new KeyFileInvalid("a 32-byte seed always makes a key")
  const validator = validatorId(key.publicKeyRaw)
  writeFileSync(file, JSON.stringify({ validator, seed: base64urlEncode(seed) }) + "\n", { mode: 0o600, flag: "wx" })
  return { validator, key }
}

export const readKey = (file: string): NodeKey => {
  const parsed = JSON.parse(readFileSync(file, "utf8")) as { seed?: unknown; validator?: unknown }
  const seed = typeof parsed.seed === "string" ? base64urlDecode(parsed.seed) : undefined
  const key = seed === undefined ? undefined : keyFromSeed(seed)
  if (key === undefined) throw new KeyFileInvalid(`${file} holds no 32-byte seed`)
  const validator = validatorId(key.publicKeyRaw)
  if (parsed.validator !== undefined && parsed.validator !== validator) {
    throw new KeyFileInvalid(`${file}: its validator id does not match its seed`)
  }
  return { validator, key }
}

export const loadOrCreateKey = (file: string) =>
  Effect.try({
    try: () => (existsSync(file) ? readKey(file) : writeNewKey(file)),
    catch: (error) => new KeyFileInvalid(`cannot use the key ${file}: ${String(error)}`),
  })
