// A wallet's Holdings behave as a Map of asset -> amount under any sequence of sets and deletes.
import { describe, it, expect } from "vitest"
import fc from "fast-check"
import type { AssetId } from "./names.js"
import { Holdings } from "./state.js"

const assets = ["fed", "raf-eur", "raf-gift", "time"] as AssetId[]
const operation = fc.oneof(
  fc.record({ op: fc.constant("set" as const), asset: fc.constantFrom(...assets), amount: fc.integer({ min: -5, max: 5 }) }),
  fc.record({ op: fc.constant("delete" as const), asset: fc.constantFrom(...assets) }),
)

const sorted = (entries: Iterable<[AssetId, number]>) => [...entries].sort(([a], [b]) => (a < b ? -1 : 1))

describe("Holdings", () => {
  it("answers get, has, size, delete and its entries as a Map does, after any sequence of changes", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 40 }), (operations) => {
        const model = new Map<AssetId, number>()
        const holdings = new Holdings()
        for (const step of operations) {
          if (step.op === "set") {
            model.set(step.asset, step.amount)
            expect(holdings.set(step.asset, step.amount)).toBe(holdings)
          } else expect(holdings.delete(step.asset)).toBe(model.delete(step.asset))
          expect(holdings.size).toBe(model.size)
          for (const asset of assets) {
            expect(holdings.get(asset)).toBe(model.get(asset))
            expect(holdings.has(asset)).toBe(model.has(asset))
          }
          expect(sorted(holdings)).toEqual(sorted(model))
          expect(Object.fromEntries(holdings)).toEqual(Object.fromEntries(model))
        }
      }),
    )
  })

  it("keeps insertion order while nothing is deleted, and is built from entries", () => {
    const holdings = new Holdings([["time" as AssetId, 3], ["fed" as AssetId, 1], ["raf-gift" as AssetId, 2]])
    expect([...holdings]).toEqual([["time", 3], ["fed", 1], ["raf-gift", 2]])
    expect(new Map(holdings)).toEqual(new Map([["time", 3], ["fed", 1], ["raf-gift", 2]]))
  })
})
