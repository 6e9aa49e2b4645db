import { randomBytes } from "node:crypto"
import { describe, expect, it } from "vitest"
import { RequestIds, requestIdPattern } from "./request-ids.js"

describe("request ids", () => {
  it("have the protocol's form, never repeat, and differ across restarts even at the same instant", () => {
    const now = () => 1_732_400_000_000
    const first = new RequestIds(randomBytes(12).toString("base64url"), now)
    const second = new RequestIds(randomBytes(12).toString("base64url"), now)
    const ids = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? first : second).next())
    for (const id of ids) expect(id).toMatch(requestIdPattern)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("sort by time", () => {
    let time = 1_732_400_000_000
    const ids = new RequestIds("abcdefghijklmnop", () => time)
    const earlier = ids.next()
    time += 1
    expect(ids.next() > earlier).toBe(true)
  })
})
