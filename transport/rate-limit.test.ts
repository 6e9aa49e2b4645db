import { describe, expect, it } from "vitest"
import { clientAddress, RateLimiter } from "./rate-limit.js"

describe("RateLimiter", () => {
  it("lets max requests of a key through in a window, then none until the window ends; keys are apart", () => {
    const limiter = new RateLimiter(3, 1_000)
    expect([1, 2, 3, 4].map(() => limiter.allow("a", 0))).toEqual([true, true, true, false])
    expect(limiter.allow("b", 500)).toBe(true)
    expect(limiter.allow("a", 999)).toBe(false)
    expect(limiter.allow("a", 1_000)).toBe(true)
  })

  it("tracks a bounded number of keys: a new key is refused while every window is running, welcome once one ended", () => {
    const limiter = new RateLimiter(1, 1_000, 2)
    expect(limiter.allow("a", 0)).toBe(true)
    expect(limiter.allow("b", 100)).toBe(true)
    expect(limiter.allow("c", 200)).toBe(false)
    expect(limiter.allow("c", 1_000)).toBe(true)
    // "a"'s window ended and was dropped to make room; it waits now for "b"'s to end.
    expect(limiter.allow("a", 1_050)).toBe(false)
    expect(limiter.allow("a", 1_100)).toBe(true)
  })
})

describe("clientAddress", () => {
  const trusted = new Set(["10.0.0.1", "10.0.0.2"])
  it("is the connection's peer unless that peer is a trusted proxy", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.7", trusted)).toBe("203.0.113.9")
    expect(clientAddress("::ffff:203.0.113.9", undefined, trusted)).toBe("203.0.113.9")
  })
  it("behind trusted proxies, is the last forwarded address that is not one: what a client writes first is ignored", () => {
    expect(clientAddress("10.0.0.1", "198.51.100.7", trusted)).toBe("198.51.100.7")
    expect(clientAddress("10.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.2", trusted)).toBe("198.51.100.7")
    expect(clientAddress("::ffff:10.0.0.1", "1.2.3.4,198.51.100.7", trusted)).toBe("198.51.100.7")
  })
})
