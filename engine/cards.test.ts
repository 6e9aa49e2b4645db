/** Card lifecycle rules beyond the status table: voiding a fused card leaves its user's wallet alone. */
import { describe, expect, it } from "vitest"
import { Session, users } from "../test/federation.js"

describe("void", () => {
  it("pays an anonymous card back at the place, but never a fused card's user wallet", () => {
    const s = new Session()
    s.must({ kind: "refill", wallet: "card:04a1b2c3", amount: 700, ref: "pi_a" })
    s.must({ kind: "refill", wallet: "card:deadbeef", amount: 300, ref: "pi_b" })
    s.must({ kind: "fusion", card: "deadbeef", user: users[0] })
    const anonymous = s.must({ kind: "void", card: "04a1b2c3", reason: "lost", place: "raffinerie" })
    expect(anonymous.ok && anonymous.tx?.legs).toEqual([{ asset: "fed", from: "card:04a1b2c3", to: "place:raffinerie", amount: 700 }])
    const fused = s.must({ kind: "void", card: "deadbeef", reason: "lost", place: "raffinerie" })
    expect(fused.ok && fused.tx?.legs).toEqual([])
    expect(s.balance(users[0], "fed")).toBe(300)
    expect(s.state.cards.get("deadbeef" as never)?.status).toBe("blocked")
  })
})
