/** Idempotency records: kept for the retention window, forgotten after it, oldest first. */
import { describe, expect, it } from "vitest"
import { forgetRequestsBefore } from "./execute.js"
import { day, Session, t0, cardOf } from "../test/federation.js"

describe("forgetRequestsBefore", () => {
  it("forgets the requests recorded before the cut-off and keeps the later ones, which still replay", () => {
    const s = new Session(undefined, t0)
    s.run({ kind: "badge", reader: "bar-1", request: "old", place: "raffinerie", card: cardOf("04a1b2c3") })
    s.now = t0 + day
    const recent = s.run({ kind: "badge", reader: "bar-1", request: "recent", place: "raffinerie", card: cardOf("04a1b2c3") })
    expect(forgetRequestsBefore(s.state, t0 + 1)).toBe(1)
    expect([...s.state.requests.keys()]).toEqual(["bar-1/recent"])
    const again = s.run({ kind: "badge", reader: "bar-1", request: "recent", place: "raffinerie", card: cardOf("04a1b2c3") })
    expect(again.replayed).toBe(true)
    expect(again.ok && recent.ok && again.tx?.id).toBe(recent.ok ? recent.tx?.id : undefined)
    expect(forgetRequestsBefore(s.state, t0 + 1)).toBe(0)
  })
})
