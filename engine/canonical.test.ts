// Canonical JSON against the published RFC 8785 examples, and against hostile values that must be
// refused with a reason instead of throwing or hashing as something else.
import { describe, it, expect } from "vitest"
import fc from "fast-check"
import canonicalize from "canonicalize"
import { canonicalBytes, canonicalJson, nestingDepthMax, type Canonical } from "./canonical.js"

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

function okValue<T>(result: Canonical<T>): T {
  if (!result.ok) throw new Error(`expected a canonical form, got ${result.reason} at ${result.path}`)
  return result.value
}

/** The double whose IEEE 754 bits are `bits` (16 hex digits), as RFC 8785 Appendix B lists them. */
function doubleFromBits(bits: string): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setBigUint64(0, BigInt(`0x${bits}`))
  return view.getFloat64(0)
}

describe("RFC 8785 published examples", () => {
  // Section 3.2.2, input exactly as the RFC writes it (JSON text, so the numbers are parsed as written).
  const sampleInput = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`
  const sampleOutput = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
  // Section 3.2.4: the same output as UTF-8 bytes.
  const sampleUtf8 = [
    "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72",
    "75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a",
    "5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31",
    "65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37",
    "5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30",
    "30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d",
  ]
    .join(" ")
    .replaceAll(" ", "")

  it("serializes the section 3.2.2 sample (numbers, string escapes, literals)", () => {
    expect(okValue(canonicalJson(JSON.parse(sampleInput)))).toBe(sampleOutput)
  })

  it("encodes the section 3.2.2 sample as the UTF-8 bytes of section 3.2.4", () => {
    expect(hexOf(okValue(canonicalBytes(JSON.parse(sampleInput))))).toBe(sampleUtf8)
  })

  it("sorts property names by UTF-16 code units (section 3.2.3)", () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`
    // By code point U+1F600 would sort after U+FB33; by UTF-16 its lead unit D83D sorts before.
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    expect(okValue(canonicalJson(JSON.parse(input)))).toBe(expected)
  })

  // Appendix B: IEEE 754 bit patterns and their serialization.
  const appendixB: ReadonlyArray<readonly [string, string]> = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ]

  it.each(appendixB)("serializes the double 0x%s as %s (Appendix B)", (bits, expected) => {
    expect(okValue(canonicalJson(doubleFromBits(bits)))).toBe(expected)
    expect(okValue(canonicalJson({ n: [doubleFromBits(bits)] }))).toBe(`{"n":[${expected}]}`)
  })

  it.each(["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])(
    "refuses the non-finite double 0x%s (Appendix B)",
    (bits) => {
      expect(canonicalJson(doubleFromBits(bits))).toEqual({ ok: false, reason: "non_finite_number", path: "$" })
    },
  )

  it.each([
    [1e21, "1e+21"],
    [1e-7, "1e-7"],
    [-0, "0"],
    [9007199254740992, "9007199254740992"],
    [295147905179352830000, "295147905179352830000"],
    [1e30, "1e+30"],
    [4.5, "4.5"],
  ])("serializes the number %d as %s", (value, expected) => {
    expect(okValue(canonicalJson(value))).toBe(expected)
  })
})

describe("what has no canonical form is refused, never thrown, never silently rewritten", () => {
  const cyclicObject: Record<string, unknown> = { a: 1 }
  cyclicObject["self"] = cyclicObject
  const cyclicArray: unknown[] = [1]
  cyclicArray.push([cyclicArray])
  const throwingGetter = Object.defineProperty({}, "boom", {
    enumerable: true,
    get() {
      throw new Error("getter")
    },
  })
  const throwingProxy = new Proxy(
    {},
    {
      ownKeys() {
        throw new Error("trap")
      },
    },
  )
  const holey: unknown[] = [1]
  holey[2] = 3
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()

  const refused: ReadonlyArray<readonly [string, unknown, string, string]> = [
    ["undefined", undefined, "no_json_form", "$"],
    ["a function", () => 1, "no_json_form", "$"],
    ["a symbol", Symbol("s"), "no_json_form", "$"],
    ["a bigint", 10n, "no_json_form", "$"],
    ["a nested bigint", { amount: 10n }, "no_json_form", '$["amount"]'],
    ["NaN", Number.NaN, "non_finite_number", "$"],
    ["Infinity", Number.POSITIVE_INFINITY, "non_finite_number", "$"],
    ["a nested -Infinity", { legs: [{ amount: 1 }, { amount: Number.NEGATIVE_INFINITY }] }, "non_finite_number", '$["legs"][1]["amount"]'],
    ["a lone surrogate", "a\ud800b", "lone_surrogate", "$"],
    ["a lone surrogate in a key", { "\udc00": 1 }, "lone_surrogate", '$["\\udc00"]'],
    ["a cyclic object", cyclicObject, "cycle", '$["self"]'],
    ["a cyclic array", cyclicArray, "cycle", "$[1][0]"],
    ["undefined in an array", [1, undefined], "no_json_form", "$[1]"],
    ["an array hole", holey, "no_json_form", "$[1]"],
    ["a function member", { f: () => 1 }, "no_json_form", '$["f"]'],
    ["a toJSON method", { toJSON: () => "replaced" }, "no_json_form", '$["toJSON"]'],
    ["a symbol member", { s: Symbol("s") }, "no_json_form", '$["s"]'],
    ["a Date", new Date(0), "not_plain_data", "$"],
    ["a Map", new Map([["a", 1]]), "not_plain_data", "$"],
    ["a Set", new Set([1]), "not_plain_data", "$"],
    ["a typed array", new Uint8Array([1, 2]), "not_plain_data", "$"],
    ["a boxed number", Object(1) as unknown, "not_plain_data", "$"],
    ["a class instance", new (class Leg {})(), "not_plain_data", "$"],
    ["an Array subclass", new (class Legs extends Array {})(), "not_plain_data", "$"],
    ["a getter that throws", throwingGetter, "unreadable", "$"],
    ["a proxy whose trap throws", throwingProxy, "unreadable", "$"],
    ["a revoked proxy", revoked.proxy, "unreadable", "$"],
  ]

  it.each(refused)("refuses %s", (_name, value, reason, path) => {
    expect(canonicalJson(value)).toEqual({ ok: false, reason, path })
    expect(canonicalBytes(value)).toEqual({ ok: false, reason, path })
  })

  it("omits an undefined property, as JSON.stringify does on the wire", () => {
    expect(okValue(canonicalJson({ b: 1, memo: undefined, a: 2 }))).toBe('{"a":2,"b":1}')
  })

  it("accepts a value shared by two siblings (not a cycle) and null-prototype objects", () => {
    const leg = { amount: 1 }
    expect(okValue(canonicalJson({ x: leg, y: [leg] }))).toBe('{"x":{"amount":1},"y":[{"amount":1}]}')
    const bare = Object.assign(Object.create(null) as object, { b: 2, a: 1 })
    expect(okValue(canonicalJson(bare))).toBe('{"a":1,"b":2}')
  })

  function nested(depth: number): unknown {
    let value: unknown = 0
    for (let level = 0; level < depth; level++) value = [value]
    return value
  }

  it(`accepts ${nestingDepthMax} nested containers and refuses one more`, () => {
    expect(canonicalJson(nested(nestingDepthMax)).ok).toBe(true)
    expect(canonicalJson(nested(nestingDepthMax + 1))).toMatchObject({ ok: false, reason: "too_deep" })
  })

  it("refuses very deep nesting without overflowing the stack", () => {
    expect(canonicalJson(nested(100_000))).toMatchObject({ ok: false, reason: "too_deep" })
  })

  it("never throws on anything fast-check can build, and what it accepts round-trips through JSON", () => {
    const anything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    })
    fc.assert(
      fc.property(anything, (value) => {
        const result = canonicalJson(value)
        if (!result.ok) return
        // Accepted values are exactly what the package would print, and a JSON round trip
        // (what a peer receives) canonicalizes to the same text.
        expect(result.value).toBe(canonicalize(value))
        expect(okValue(canonicalJson(JSON.parse(result.value)))).toBe(result.value)
      }),
      { numRuns: 2000 },
    )
  })

  it("accepts every JSON value, independently of key order", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = okValue(canonicalJson(value))
        const reordered: unknown = JSON.parse(JSON.stringify(value), (_key, member: unknown) =>
          member !== null && typeof member === "object" && !Array.isArray(member)
            ? Object.fromEntries(Object.entries(member).reverse())
            : member,
        )
        expect(okValue(canonicalJson(reordered))).toBe(text)
      }),
      { numRuns: 1000 },
    )
  })
})
