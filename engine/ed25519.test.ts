// Ed25519 against RFC 8032 section 7.1, validator ids against RFC 8037 appendix A.1, base64url
// against RFC 4648 section 10; and verify refusing, without throwing, whatever is not a signature.
import { describe, it, expect } from "vitest"
import fc from "fast-check"
import * as ed25519 from "./ed25519.js"
import {
  base64urlDecode,
  base64urlEncode,
  keyFromSeed,
  publicKeyFromValidatorId,
  sign,
  validatorId,
  verify,
  type SigningKey,
} from "./ed25519.js"

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

function mustKey(seedHex: string): SigningKey {
  const key = keyFromSeed(fromHex(seedHex))
  if (key === undefined) throw new Error("a 32-byte seed always makes a key")
  return key
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const flipped = new Uint8Array(bytes)
  flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7))
  return flipped
}

// RFC 8032 section 7.1, TEST 1 and TEST 2 (secret key = the 32-byte seed).
const rfc8032 = [
  {
    name: "TEST 1",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
] as const

describe.each(rfc8032)("RFC 8032 $name", ({ seed, publicKey, message, signature }) => {
  const key = mustKey(seed)
  const id = validatorId(key.publicKeyRaw)
  const signatureB64url = base64urlEncode(fromHex(signature))

  it("derives the published public key from the seed", () => {
    expect(toHex(key.publicKeyRaw)).toBe(publicKey)
    expect(toHex(publicKeyFromValidatorId(id) ?? new Uint8Array(0))).toBe(publicKey)
  })

  it("produces the published signature", () => {
    expect(sign(key, fromHex(message))).toBe(signatureB64url)
  })

  it("verifies the published signature", () => {
    expect(verify(id, fromHex(message), signatureB64url)).toBe(true)
  })

  it("refuses the signature of a message with one bit flipped", () => {
    const bits = Math.max(fromHex(message).length * 8, 1)
    for (let bit = 0; bit < bits; bit++) {
      const altered = message === "" ? new Uint8Array([0]) : flipBit(fromHex(message), bit)
      expect(verify(id, altered, signatureB64url)).toBe(false)
    }
  })

  it("refuses a signature with one bit flipped, anywhere", () => {
    for (let bit = 0; bit < 512; bit++) {
      expect(verify(id, fromHex(message), base64urlEncode(flipBit(fromHex(signature), bit)))).toBe(false)
    }
  })

  it("refuses the signature under a public key with one bit flipped", () => {
    for (let bit = 0; bit < 256; bit += 7) {
      expect(verify(validatorId(flipBit(fromHex(publicKey), bit)), fromHex(message), signatureB64url)).toBe(false)
    }
  })
})

describe("validator ids", () => {
  it("are the base64url public key of RFC 8037 appendix A.1 (whose key is RFC 8032 TEST 1)", () => {
    // RFC 8037 A.1 writes this key as a JWK: "d" is the seed, "x" the public key.
    expect(base64urlEncode(fromHex(rfc8032[0].seed))).toBe("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    expect(validatorId(mustKey(rfc8032[0].seed).publicKeyRaw)).toBe("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
  })

  it("refuse anything but 43 canonical base64url characters of a 32-byte key", () => {
    const id = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    const malformed = [
      "",
      id.slice(1),
      `${id}A`,
      `${id}=`,
      id.replace("_", "/"),
      id.replace("_", "+"),
      id.replace("1", " "),
      // Same bytes to a lenient decoder ('o' and 'p' differ only in the unused low bits): a second spelling.
      `${id.slice(0, -1)}p`,
      "A".repeat(44),
    ]
    for (const bad of malformed) expect(publicKeyFromValidatorId(bad), bad).toBeUndefined()
    expect(publicKeyFromValidatorId(id)).toBeDefined()
  })
})

describe("verify never throws, and is false for anything malformed", () => {
  const { seed, message, signature } = rfc8032[1]
  const key = mustKey(seed)
  const id = validatorId(key.publicKeyRaw)
  const good = base64urlEncode(fromHex(signature))

  it("refuses garbage ids and signatures", () => {
    const garbage = ["", "x", "not base64!", "=".repeat(86), `${good}==`, good.slice(1), `${good.slice(0, -1)}B`, "A".repeat(88)]
    for (const bad of garbage) {
      expect(verify(id, fromHex(message), bad), `signature ${bad}`).toBe(false)
      expect(verify(bad, fromHex(message), good), `id ${bad}`).toBe(false)
    }
    // Not JSON-typed strings at all, as a decoder bug might let through.
    expect(verify(42 as unknown as string, fromHex(message), good)).toBe(false)
    expect(verify(id, fromHex(message), null as unknown as string)).toBe(false)
    expect(verify(id, "72" as unknown as Uint8Array, good)).toBe(false)
    // node:crypto throws ERR_INVALID_ARG_TYPE for these: verify must still answer false.
    expect(verify(id, undefined as unknown as Uint8Array, good)).toBe(false)
    expect(verify(id, 42 as unknown as Uint8Array, good)).toBe(false)
  })

  it("refuses another key's signature", () => {
    const other = mustKey(rfc8032[0].seed)
    expect(verify(validatorId(other.publicKeyRaw), fromHex(message), good)).toBe(false)
  })

  it("refuses ids that decode to no curve point, and the all-zero signature", () => {
    expect(verify("A".repeat(43), fromHex(message), good)).toBe(false)
    expect(verify(`${"_".repeat(42)}w`, fromHex(message), good)).toBe(false)
    expect(verify(id, fromHex(message), "A".repeat(86))).toBe(false)
  })

  it("holds for arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 }), fc.uint8Array(), (anyId, anySignature, anyMessage) => {
        expect(verify(anyId, anyMessage, anySignature)).toBe(false)
        expect(verify(id, anyMessage, anySignature)).toBe(false)
      }),
      { numRuns: 500 },
    )
  })

  it("holds for well-formed but wrong ids and signatures", () => {
    const b64url = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).map(base64urlEncode)
    fc.assert(
      fc.property(b64url(32), b64url(64), (anyId, anySignature) => {
        expect(verify(anyId, fromHex(message), anySignature)).toBe(false)
      }),
      { numRuns: 300 },
    )
  })
})

describe("keys and signing", () => {
  it("makes no key from a seed that is not 32 bytes", () => {
    expect(keyFromSeed(new Uint8Array(31))).toBeUndefined()
    expect(keyFromSeed(new Uint8Array(33))).toBeUndefined()
    expect(keyFromSeed(new Uint8Array(64))).toBeUndefined()
  })

  it("has no way to generate a seed: the engine takes randomness as an argument", () => {
    expect(Object.keys(ed25519)).not.toContain("generateSeed")
  })

  it("verifies what it signs, for any seed and message", () => {
    const seed = fc.uint8Array({ minLength: 32, maxLength: 32 })
    fc.assert(
      fc.property(seed, fc.uint8Array({ maxLength: 200 }), (anySeed, anyMessage) => {
        const key = keyFromSeed(anySeed)
        if (key === undefined) throw new Error("a 32-byte seed always makes a key")
        const signature = sign(key, anyMessage)
        expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/)
        expect(verify(validatorId(key.publicKeyRaw), anyMessage, signature)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it("signs the 32 raw bytes of a block hash, as the protocol says", () => {
    const key = mustKey(rfc8032[0].seed)
    const hashBytes = fromHex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(verify(validatorId(key.publicKeyRaw), hashBytes, sign(key, hashBytes))).toBe(true)
  })
})

describe("base64url", () => {
  // RFC 4648 section 10, without the padding that base64url here never carries.
  const vectors = [
    ["", ""],
    ["f", "Zg"],
    ["fo", "Zm8"],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg"],
    ["fooba", "Zm9vYmE"],
    ["foobar", "Zm9vYmFy"],
  ] as const

  it.each(vectors)("encodes %j as %j and back", (text, encoded) => {
    const bytes = new TextEncoder().encode(text)
    expect(base64urlEncode(bytes)).toBe(encoded)
    expect(base64urlDecode(encoded)).toEqual(bytes)
  })

  it("uses the URL alphabet", () => {
    expect(base64urlEncode(new Uint8Array([0xfb, 0xff]))).toBe("-_8")
    expect(base64urlDecode("-_8")).toEqual(new Uint8Array([0xfb, 0xff]))
  })

  it("encodes a view of a larger buffer by its own bytes only", () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5])
    expect(base64urlEncode(backing.subarray(1, 3))).toBe(base64urlEncode(new Uint8Array([2, 3])))
  })

  it.each(["Zg==", "Zm8=", "Zm9v+", "Zm9v/", "Zm9v Yg", "Z", "Zm9vY", "Zh", "Zm9", "é"])("refuses %j", (text) => {
    expect(base64urlDecode(text)).toBeUndefined()
  })

  it("round-trips any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(base64urlDecode(base64urlEncode(bytes))).toEqual(bytes)
      }),
    )
  })
})
