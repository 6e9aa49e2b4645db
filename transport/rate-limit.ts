/**
 * Limits on the public endpoints that cost something (a refill makes a Stripe Checkout Session):
 * at most `max` requests per key in each window of `windowMs`, with a bounded number of keys. A
 * fixed window per key is all this needs (a burst of twice `max` across a window's edge is harmless
 * here), which is a few lines; a rate-limiting library would bring a store and options we would not use.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    /** Keys tracked at once: beyond, windows that ended are dropped, and if none has, a new key is refused. */
    private readonly keysMax = 10_000,
  ) {}

  /** Whether one more request of `key` may go now; counts it when it may. */
  allow(key: string, nowMs: number): boolean {
    const window = this.windows.get(key)
    if (window !== undefined && nowMs - window.start < this.windowMs) {
      if (window.count >= this.max) return false
      window.count++
      return true
    }
    if (window === undefined && this.windows.size >= this.keysMax) {
      for (const [other, { start }] of this.windows) if (nowMs - start >= this.windowMs) this.windows.delete(other)
      if (this.windows.size >= this.keysMax) return false
    }
    this.windows.set(key, { start: nowMs, count: 1 })
    return true
  }
}

/**
 * The client's address: the connection's peer, or, when that peer is a trusted proxy, the last
 * address of `X-Forwarded-For` that is not one (each proxy appends the address it got the request
 * from, so earlier entries are whatever the client chose to write).
 */
export const clientAddress = (peer: string | undefined, forwardedFor: string | undefined, trusted: ReadonlySet<string>): string => {
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
  const direct = (peer ?? "unknown").replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "")
  if (forwardedFor === undefined || !trusted.has(direct)) return direct
  const hops = forwardedFor.split(",").map((hop) => hop.trim()).filter((hop) => hop !== "")
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = hops[index] as string
    if (!trusted.has(hop)) return hop
  }
  return hops[0] ?? direct
}
