/**
 * The request ids the writer has forgotten from memory, as Bloom filters: "surely never seen" or
 * "maybe". A new request whose id was surely never seen runs at once; only a "maybe" (a retry of a
 * forgotten request, or a false positive, about 1 in 100) is looked up in storage first. Without
 * this, once the bounded request cache overflows every new request would cost a database round trip.
 *
 * Keys fill segments of `keysPerSegment`; a segment is dropped when its newest key is past the
 * retention window. Past `segmentsMax` segments the last one takes every further key: its false
 * positives rise (more lookups, never a missed retry), so memory stays bounded and answers stay right.
 */

const bitsPerKey = 10
const probes = 7

interface Segment {
  readonly bits: Uint32Array
  readonly size: number
  count: number
  newestMs: number
}

/** FNV-1a over the UTF-16 code units, with a seed, as a 32-bit unsigned integer. */
const fnv1a = (text: string, seed: number): number => {
  let hash = (2166136261 ^ seed) >>> 0
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 16777619) >>> 0
  }
  return hash
}

export class ForgottenRequests {
  private readonly segments: Segment[] = []

  constructor(
    private readonly keysPerSegment: number,
    private readonly segmentsMax: number,
  ) {}

  get size(): number {
    return this.segments.reduce((sum, segment) => sum + segment.count, 0)
  }

  get bytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.bits.byteLength, 0)
  }

  add(key: string, timeMs: number): void {
    let segment = this.segments.at(-1)
    if (segment === undefined || (segment.count >= this.keysPerSegment && this.segments.length < this.segmentsMax)) {
      const size = Math.max(64, this.keysPerSegment * bitsPerKey)
      segment = { bits: new Uint32Array(Math.ceil(size / 32)), size, count: 0, newestMs: 0 }
      this.segments.push(segment)
    }
    const [h1, h2] = [fnv1a(key, 0), fnv1a(key, 0x9e3779b9)]
    for (let probe = 0; probe < probes; probe++) {
      const bit = (h1 + probe * h2) % segment.size
      segment.bits[bit >>> 5] = (segment.bits[bit >>> 5] ?? 0) | (1 << (bit & 31))
    }
    segment.count++
    segment.newestMs = Math.max(segment.newestMs, timeMs)
  }

  /** False only when the key was surely never added. */
  mayContain(key: string): boolean {
    if (this.segments.length === 0) return false
    const [h1, h2] = [fnv1a(key, 0), fnv1a(key, 0x9e3779b9)]
    return this.segments.some((segment) => {
      for (let probe = 0; probe < probes; probe++) {
        const bit = (h1 + probe * h2) % segment.size
        if (((segment.bits[bit >>> 5] ?? 0) & (1 << (bit & 31))) === 0) return false
      }
      return true
    })
  }

  /** Drops the segments whose every key is older than `beforeMs`. */
  dropBefore(beforeMs: number): void {
    while (this.segments.length > 0 && (this.segments[0]?.newestMs ?? 0) < beforeMs) this.segments.shift()
  }
}
