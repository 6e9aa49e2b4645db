import { describe, expect, it } from "vitest"
import { DoubleTapGuard } from "./double-tap.js"
import type { RequestFrame } from "./protocol.js"

const frame: RequestFrame = { type: "sale", id: "first", card: "04a1b2c3", amount: 350 }

describe("double-tap guard", () => {
  it("hands back the same request, same id, for the same card within doubleTapMs of its last tap", () => {
    const guard = new DoubleTapGuard(1500)
    expect(guard.repeatOf("04a1b2c3", 10_000)).toBeUndefined()
    guard.remember("04a1b2c3", frame, 10_000)
    expect(guard.repeatOf("04a1b2c3", 11_499)).toBe(frame)
    // The window slides from the last tap: a card bouncing on the reader stays one sale.
    expect(guard.repeatOf("04a1b2c3", 12_900)).toBe(frame)
    expect(guard.repeatOf("04a1b2c3", 14_401)).toBeUndefined()
  })

  it("keeps cards apart, and forgets cards whose window has passed", () => {
    const guard = new DoubleTapGuard(1500)
    guard.remember("04a1b2c3", frame, 0)
    expect(guard.repeatOf("04ffffff", 100)).toBeUndefined()
    expect(guard.repeatOf("04a1b2c3", 1501)).toBeUndefined()
  })

  it("with doubleTapMs 0, a later tap is always a new request", () => {
    const guard = new DoubleTapGuard(0)
    guard.remember("04a1b2c3", frame, 0)
    expect(guard.repeatOf("04a1b2c3", 1)).toBeUndefined()
  })
})
