// A wallet's Holdings behave as a Map of asset -> amount under any sequence of sets and deletes.
import { describe, it, expect } from "vitest"
import fc from "fast-check"
import type { AssetId, CardId, WalletId } from "./names.js"
import { Holdings, newCard, Wallets, type CardRecord, type Wallet } from "./state.js"

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

describe("Wallets", () => {
  const uids = ["1".padStart(32, "0"), "2".padStart(32, "0"), "3".padStart(32, "0")] as CardId[]
  const ids = [...uids.map((uid) => `card:${uid}`), "place:bar", "user:u1", "issuance:fed"] as WalletId[]

  it("is a map of wallets created on first use, whichever cards are registered before or after", () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant("register" as const), uid: fc.constantFrom(...uids) }),
      fc.record({ op: fc.constant("open" as const), id: fc.constantFrom(...ids), amount: fc.integer({ min: 1, max: 9 }) }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const cards = new Map<CardId, CardRecord>()
        const wallets = new Wallets(cards)
        // The model: wallet id -> the amount of fed it holds, for the wallets opened so far.
        const model = new Map<WalletId, number>()
        for (const step of steps) {
          if (step.op === "register") {
            if (!cards.has(step.uid)) cards.set(step.uid, newCard(step.uid, undefined))
            continue
          }
          const wallet = wallets.open(step.id)
          expect(wallet.id).toBe(step.id)
          wallet.balances.set("fed" as AssetId, (wallet.balances.get("fed" as AssetId) ?? 0) + step.amount)
          model.set(step.id, (model.get(step.id) ?? 0) + step.amount)
        }
        for (const id of ids) {
          expect(wallets.has(id)).toBe(model.has(id))
          expect(wallets.get(id)?.balances.get("fed" as AssetId)).toBe(model.get(id))
        }
        expect(wallets.size).toBe(model.size)
        const listed = [...wallets].map(([id, wallet]: [WalletId, Wallet]) => [id, wallet.balances.get("fed" as AssetId)] as const)
        expect(new Map(listed)).toEqual(model)
        expect(listed).toHaveLength(model.size)
      }),
    )
  })

  it("keeps a card's own wallet in its CardRecord, and the card pays from the wallet it is fused into", () => {
    const cards = new Map<CardId, CardRecord>()
    const uid = uids[0] as CardId
    const card = newCard(uid, "A1")
    cards.set(uid, card)
    const wallets = new Wallets(cards)
    expect(wallets.get(`card:${uid}` as WalletId)).toBeUndefined()
    expect(wallets.open(`card:${uid}` as WalletId)).toBe(card)
    expect(card.wallet).toBe(`card:${uid}`)
    card.wallet = "user:u1" as WalletId
    expect(card.wallet).toBe("user:u1")
    card.wallet = `card:${uid}` as WalletId
    expect(card.wallet).toBe(`card:${uid}`)
    expect(newCard(uid, undefined, "blocked", "user:u2" as WalletId)).toMatchObject({ pseudonym: uid, status: "blocked", wallet: "user:u2", number: undefined })
  })
})
