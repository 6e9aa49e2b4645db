/**
 * The double-tap guard: a card that lands on the reader again less than doubleTapMs after its last
 * tap is the same sale (so doubleTapMs 0 turns the guard off). The guard hands back the earlier request itself, same id and same content, so that
 * even if both taps reach the node, the node's idempotency on (reader, request id) makes them one
 * sale. The window slides: a card held near the reader, bouncing in and out of the field, stays one
 * sale however long it bounces. Time is passed in, so that tests drive it.
 */
import type { RequestFrame } from "./protocol.js"

export class DoubleTapGuard {
  private readonly last = new Map<string, { frame: RequestFrame; atMs: number }>()

  constructor(private readonly doubleTapMs: number) {
    if (!Number.isSafeInteger(doubleTapMs) || doubleTapMs < 0) throw new Error(`doubleTapMs must be a non-negative integer, not ${doubleTapMs}`)
  }

  /** The earlier request of this card if this tap is a double tap; the tap is remembered either way. */
  repeatOf(card: string, nowMs: number): RequestFrame | undefined {
    this.forgetUntil(nowMs - this.doubleTapMs)
    const last = this.last.get(card)
    if (last === undefined) return undefined
    last.atMs = nowMs
    return last.frame
  }

  /** Records the request a (first) tap of this card made. */
  remember(card: string, frame: RequestFrame, nowMs: number): void {
    this.last.set(card, { frame, atMs: nowMs })
  }

  /** Bounded by the cards tapped within the window: older ones are dropped on each tap. */
  private forgetUntil(untilMs: number): void {
    for (const [card, tap] of this.last) if (tap.atMs <= untilMs) this.last.delete(card)
  }
}
