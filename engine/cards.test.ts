/** Card lifecycle rules beyond the status table: voiding a fused card leaves its user's wallet alone. */
import { describe, expect, it } from "vitest"
import { Session, users, cardOf } from "../test/federation.js"

describe("void", () => {
  it("pays an anonymous card back at the place, but never a fused card's user wallet", () => {
    const s = new Session()
    s.must({ kind: "refill", wallet: `card:${cardOf("04a1b2c3")}`, amount: 700, ref: "pi_a" })
    s.must({ kind: "refill", wallet: `card:${cardOf("deadbeef")}`, amount: 300, ref: "pi_b" })
    s.must({ kind: "fusion", card: cardOf("deadbeef"), user: users[0] })
    const anonymous = s.must({ kind: "void", card: cardOf("04a1b2c3"), reason: "lost", place: "raffinerie" })
    expect(anonymous.ok && anonymous.tx?.legs).toEqual([{ asset: "fed", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie", amount: 700 }])
    const fused = s.must({ kind: "void", card: cardOf("deadbeef"), reason: "lost", place: "raffinerie" })
    expect(fused.ok && fused.tx?.legs).toEqual([])
    expect(s.balance(users[0], "fed")).toBe(300)
    expect(s.state.cards.get(cardOf("deadbeef"))?.status).toBe("blocked")
  })
})
