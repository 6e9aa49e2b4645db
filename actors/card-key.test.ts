/**
 * The node's card names (PROTOCOL.md section 9.4): the key never shows, a uid becomes the pseudonym
 * the engine computes, and an operator's name of a card resolves number first, then pseudonym, then uid.
 */
import { inspect } from "node:util"
import { describe, expect, it } from "vitest"
import { cardPseudonym } from "../engine/pseudonyms.js"
import type { CardUid } from "../engine/names.js"
import { CardKey, CardNames, pseudonymCacheMax, withPseudonyms } from "./card-key.js"

const hex = "4b".repeat(32)
const key = CardKey.fromHex(hex) as CardKey
const raw = new Uint8Array(32).fill(0x4b)

describe("CardKey", () => {
  it("makes the engine's pseudonym of a uid, the same from its cache", () => {
    const uid = "04a1b2c3d4e5f6" as CardUid
    expect(key.pseudonym(uid)).toBe(cardPseudonym(raw, uid))
    expect(key.pseudonym(uid)).toBe(cardPseudonym(raw, uid))
    expect(key.pseudonym(uid)).toMatch(/^[0-9a-f]{32}$/)
    expect(key.pseudonym("04a1b2c3" as CardUid)).not.toBe(key.pseudonym(uid))
    // Past the cache's bound, pseudonyms are still right.
    for (let i = 0; i <= pseudonymCacheMax; i++) key.pseudonym(i.toString(16).padStart(8, "0") as CardUid)
    expect(key.pseudonym(uid)).toBe(cardPseudonym(raw, uid))
  })

  it("never shows the key: not in inspection, JSON or text", () => {
    for (const shown of [inspect(key), JSON.stringify({ key }), String(key), `${key}`]) expect(shown).not.toContain(hex)
    expect(key.exportHex()).toBe(hex)
  })

  it("reads only 64 lowercase hex, and a new key is random", () => {
    expect(CardKey.fromHex("4B".repeat(32))).toBeUndefined()
    expect(CardKey.fromHex("4b".repeat(31))).toBeUndefined()
    expect(CardKey.generate().exportHex()).not.toBe(CardKey.generate().exportHex())
  })
})

describe("CardNames", () => {
  const pseudonymOf = (uid: string) => key.pseudonym(uid as CardUid)
  // A printed number that is also another card's uid: the number wins.
  const names = new CardNames(key, [{ pseudonym: pseudonymOf("0badcafe"), number: "DEADBEEF" }])

  it("resolves a printed number first, then a pseudonym, then a uid in any case", () => {
    expect(names.resolve("DEADBEEF", "card")).toEqual({ ok: true, value: pseudonymOf("0badcafe") })
    expect(names.resolve("deadbeef", "card")).toEqual({ ok: true, value: pseudonymOf("deadbeef") })
    expect(names.resolve(pseudonymOf("04a1b2c3"), "card")).toEqual({ ok: true, value: pseudonymOf("04a1b2c3") })
    expect(names.resolve("04A1B2C3", "card")).toEqual({ ok: true, value: pseudonymOf("04a1b2c3") })
    expect(names.resolve("04a1b2", "card")).toMatchObject({ ok: false, field: "card" })
    expect(names.resolve(7, "card")).toMatchObject({ ok: false, field: "card" })
  })

  it("turns every card of an operator's command into its pseudonym, and names the one that is none", () => {
    const named = withPseudonyms({ kind: "transfer", from: "card:04a1b2c3", to: "card:DEADBEEF", wallet: "user:x", card: "04A1B2C3", cards: [{ card: "cafebabe", staff: null }, 5] }, names)
    expect(named).toEqual({
      ok: true,
      value: {
        kind: "transfer",
        from: `card:${pseudonymOf("04a1b2c3")}`,
        to: `card:${pseudonymOf("0badcafe")}`,
        wallet: "user:x",
        card: pseudonymOf("04a1b2c3"),
        cards: [{ card: pseudonymOf("cafebabe"), staff: null }, 5],
      },
    })
    expect(withPseudonyms({ kind: "mint", to: "card:xyz" }, names)).toMatchObject({ ok: false, field: "to" })
    expect(withPseudonyms({ kind: "cards", cards: [{ card: "04a1b2c3" }, { card: "no" }] }, names)).toMatchObject({ ok: false, field: "cards[1].card" })
  })
})
