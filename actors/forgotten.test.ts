/** The forgotten-request filter never forgets a key it was given, and rarely claims one it was not. */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { ForgottenRequests } from "./forgotten.js"

describe("ForgottenRequests", () => {
  it("says maybe for every key added, across segments", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 70 }), { maxLength: 400 }), (keys) => {
        const filter = new ForgottenRequests(50, 4)
        keys.forEach((key, index) => filter.add(key, index))
        for (const key of keys) expect(filter.mayContain(key)).toBe(true)
      }),
    )
  })

  it("says surely not for nearly every key never added (about 1% false positives at capacity)", () => {
    const filter = new ForgottenRequests(10_000, 4)
    for (let i = 0; i < 10_000; i++) filter.add(`bar-1/seen-${i}`, i)
    let falsePositives = 0
    for (let i = 0; i < 10_000; i++) if (filter.mayContain(`bar-1/new-${i}`)) falsePositives++
    expect(falsePositives).toBeLessThan(300)
    expect(new ForgottenRequests(10, 2).mayContain("anything")).toBe(false)
  })

  it("keeps memory bounded past its segments, still never forgetting, and drops segments past retention", () => {
    const filter = new ForgottenRequests(100, 3)
    for (let i = 0; i < 1_000; i++) filter.add(`k${i}`, i)
    expect(filter.bytes).toBeLessThanOrEqual(3 * Math.ceil((100 * 10) / 32) * 4)
    for (let i = 0; i < 1_000; i++) expect(filter.mayContain(`k${i}`)).toBe(true)
    filter.dropBefore(2_000)
    expect(filter.size).toBe(0)
    expect(filter.mayContain("k1")).toBe(false)
  })
})
