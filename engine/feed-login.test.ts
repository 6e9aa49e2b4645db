// The feed's login (PROTOCOL.md section 9.7): the exact text signed, the one form of nonce and
// genesis hash accepted, and that a login signature is never a signature of a block hash.
import { describe, expect, it } from "vitest"
import { signatureValid } from "./block.js"
import { keyFromSeed, validatorId, verify } from "./ed25519.js"
import { feedLoginMessage, feedLoginValid, signFeedLogin } from "./feed-login.js"
import type { ValidatorId } from "./names.js"

const key = keyFromSeed(new Uint8Array(32).fill(7))
if (key === undefined) throw new Error("a 32-byte seed makes a key")
const id = validatorId(key.publicKeyRaw) as ValidatorId
const genesis = "ab".repeat(32)
const nonce = "0123456789abcdef".repeat(4)

describe("the feed's login", () => {
  it("is the UTF-8 text gesell/feed-auth/v1:<genesis hash>:<nonce hex>", () => {
    expect(new TextDecoder().decode(feedLoginMessage(genesis, nonce))).toBe(`gesell/feed-auth/v1:${genesis}:${nonce}`)
    const signature = signFeedLogin(key, genesis, nonce)
    expect(signature).toBeDefined()
    expect(feedLoginValid(id, genesis, nonce, signature)).toBe(true)
    expect(feedLoginValid(id, "cd".repeat(32), nonce, signature)).toBe(false)
    expect(feedLoginValid(id, genesis, "00".repeat(32), signature)).toBe(false)
  })

  it("signs nothing but 32 bytes as 64 lowercase hex digits, for the nonce and the genesis hash", () => {
    for (const bad of ["", "00", "0".repeat(63), "0".repeat(65), "0".repeat(128), "AB".repeat(32), "g".repeat(64), ` ${"0".repeat(63)}`]) {
      expect(signFeedLogin(key, genesis, bad), bad).toBeUndefined()
      expect(signFeedLogin(key, bad, nonce), bad).toBeUndefined()
      expect(feedLoginValid(id, genesis, bad, "x")).toBe(false)
    }
  })

  it("never signs a block hash: a block hash offered as the nonce gets no valid block signature", () => {
    const blockHash = "5e".repeat(32)
    const signature = signFeedLogin(key, genesis, blockHash) ?? ""
    expect(signatureValid(blockHash, { validator: id, signature })).toBe(false)
    expect(verify(id, Buffer.from(blockHash, "hex"), signature)).toBe(false)
    expect(verify(id, new TextEncoder().encode(blockHash), signature)).toBe(false)
  })
})
