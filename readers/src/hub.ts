/**
 * The hub: what a tap becomes. In `bar` mode a tap is a sale of the current price; in `cashdesk`
 * mode it is the action the cashier armed (a top-up or a refund, used once) or else a check; in
 * `check` mode it is a check. A tap goes through the double-tap guard, is journaled and flushed
 * with the other taps of the same moment, and only then handed to the link. Each final reply is
 * recorded in the journal and shown as one line.
 */
import { DoubleTapGuard } from "./double-tap.js"
import { formatMinor, type HubEvent } from "./display.js"
import type { Journal, JournalEntry } from "./journal.js"
import type { Hello, Mode, RequestFrame, Result } from "./protocol.js"
import type { RequestIds } from "./request-ids.js"

/** The next action of a cash desk, armed by the cashier for the next tap. */
export type Armed = { readonly type: "topup"; readonly amount: number; readonly asset: string } | { readonly type: "refund" } | { readonly type: "check" }

export interface HubOptions {
  readonly mode: Mode
  readonly doubleTapMs: number
  readonly requestAgeMsMax: number
  readonly waitingNoticeMs: number
  /** With a sale: pay in this asset only (else the place's accepted euro assets, in order). */
  readonly saleAsset: string | undefined
}

/** What the hub needs of the link: send a request journaled at `journaledAtMs` (its age bounds its resends). */
export interface Sender {
  send(frame: RequestFrame, journaledAtMs: number): void
}

/** A card uid as the protocol wants it: 4, 7 or 10 bytes, lowercase hex. */
export const normalizeUid = (text: string): string | undefined => {
  const uid = text.trim().toLowerCase()
  return /^(?:[0-9a-f]{8}|[0-9a-f]{14}|[0-9a-f]{20})$/.test(uid) ? uid : undefined
}

export class Hub {
  private price: number | undefined
  private armed: Armed | undefined
  private readonly guard: DoubleTapGuard
  /** Taps waiting for the reply of each request id (a double tap joins the first tap's), each shown on its own line. */
  private readonly taps = new Map<string, { doubleTaps: boolean[]; timer: NodeJS.Timeout }>()
  /** Requests made in this moment, journaled and flushed together before any is sent. */
  private unflushed: JournalEntry[] = []
  private hello: Hello | undefined
  private sender: Sender | undefined

  constructor(
    private readonly options: HubOptions,
    private readonly journal: Journal,
    private readonly ids: RequestIds,
    private readonly nowMs: () => number,
    private readonly show: (event: HubEvent) => void,
  ) {
    this.guard = new DoubleTapGuard(options.doubleTapMs)
  }

  /** Connects the link; then sends again every request of the journal that has no reply. */
  resume(sender: Sender): void {
    this.sender = sender
    for (const entry of this.journal.pending()) {
      if (entry.atMs + this.options.requestAgeMsMax < this.nowMs()) this.onExpired(entry.frame)
      else sender.send(entry.frame, entry.atMs)
    }
  }

  get currentPrice(): number | undefined {
    return this.price
  }

  get currentArmed(): Armed | undefined {
    return this.armed
  }

  get mode(): Mode {
    return this.options.mode
  }

  get greeting(): Hello | undefined {
    return this.hello
  }

  setPrice(amount: number): void {
    this.price = amount
    this.show({ event: "notice", text: `price ${formatMinor(amount)} for each tap` })
  }

  arm(action: Armed): void {
    this.armed = action
    this.show({ event: "notice", text: `next tap: ${action.type}${action.type === "topup" ? ` ${formatMinor(action.amount)} ${action.asset}` : ""}` })
  }

  /**
   * A new connection's hello. The journal belongs to one reader: its requests sent under another
   * reader's token would be new requests there, and charge again. Refused then (false).
   */
  onHello(hello: Hello): boolean {
    const owner = this.journal.reader
    if (owner !== undefined && owner !== hello.reader && this.journal.pendingCount > 0) {
      this.show({ event: "notice", text: `the journal holds requests of reader ${owner}, but the token is ${hello.reader}'s: use that reader's token, or another --journal` })
      return false
    }
    if (owner !== hello.reader) this.journal.recordReader(hello.reader)
    if (this.options.mode === "cashdesk" && hello.role !== "cashdesk") this.show({ event: "notice", text: `this reader's role is ${hello.role}: top-ups and refunds will be refused` })
    this.hello = hello
    return true
  }

  tap(rawUid: string): void {
    const card = normalizeUid(rawUid)
    if (card === undefined) return this.show({ event: "refused", card: rawUid, why: "not a card uid (4, 7 or 10 bytes in hex): tap again" })
    const nowMs = this.nowMs()
    const repeat = this.guard.repeatOf(card, nowMs)
    if (repeat !== undefined) return this.request(repeat, true)
    const frame = this.frameFor(card)
    if (typeof frame === "string") return this.show({ event: "refused", card, why: frame })
    const full = this.journal.refusal(this.unflushed.length + 1)
    if (full !== undefined) return this.show({ event: "refused", card, why: `${full}: wait for the link to come back` })
    this.guard.remember(card, frame, nowMs)
    this.armed = undefined
    this.request(frame, false)
  }

  /** The request a first tap makes in the current mode, or why there is none. */
  private frameFor(card: string): RequestFrame | string {
    const id = this.ids.next()
    switch (this.options.mode) {
      case "check":
        return { type: "check", id, card }
      case "cashdesk": {
        const armed = this.armed ?? { type: "check" }
        return armed.type === "topup" ? { type: "topup", id, card, amount: armed.amount, asset: armed.asset } : { type: armed.type, id, card }
      }
      case "bar": {
        if (this.price === undefined) return "no price set: type `price 3.50` (or PUT /v1/price from the till)"
        const asset = this.options.saleAsset
        return asset === undefined ? { type: "sale", id, card, amount: this.price } : { type: "sale", id, card, amount: this.price, asset }
      }
    }
  }

  private request(frame: RequestFrame, doubleTap: boolean): void {
    const waiting = this.taps.get(frame.id)
    if (waiting !== undefined) {
      // Still waiting for the first tap's reply: this tap shares it, nothing more is sent.
      waiting.doubleTaps.push(doubleTap)
      return
    }
    const timer = setTimeout(() => this.show({ event: "waiting", frame }), this.options.waitingNoticeMs)
    timer.unref()
    this.taps.set(frame.id, { doubleTaps: [doubleTap], timer })
    // A double tap after the first reply sends the same request again: the node answers it with its
    // first reply and charges nothing, which is the proof shown to the bartender.
    if (this.journal.isPending(frame.id) || this.unflushed.some((entry) => entry.frame.id === frame.id)) return
    if (this.unflushed.length === 0) setImmediate(() => this.flush())
    this.unflushed.push({ frame, atMs: this.nowMs() })
  }

  /** Journals and flushes the taps of this moment in one write, then sends them. */
  private flush(): void {
    const entries = this.unflushed
    this.unflushed = []
    try {
      this.journal.recordRequests(entries)
    } catch (error) {
      for (const { frame } of entries) {
        this.forgetTap(frame.id)
        this.show({ event: "refused", card: frame.card, why: `not recorded, not sent: ${(error as Error).message}` })
      }
      return
    }
    for (const { frame, atMs } of entries) this.sender?.send(frame, atMs)
  }

  onResult(frame: RequestFrame, result: Result): void {
    this.journal.recordReply(frame.id, result.ok ? "ok" : result.error.code)
    const tap = this.taps.get(frame.id)
    this.forgetTap(frame.id)
    if (tap === undefined) return this.show({ event: "result", frame, result, doubleTap: false, resent: true })
    for (const doubleTap of tap.doubleTaps) this.show({ event: "result", frame, result, doubleTap, resent: false })
  }

  /**
   * A request older than the node remembers, never sent again: recorded as ended so that it leaves
   * the journal, and shown for the organisers to check whether it was charged.
   */
  onExpired(frame: RequestFrame): void {
    this.journal.recordReply(frame.id, "expired")
    this.forgetTap(frame.id)
    this.show({ event: "expired", frame })
  }

  onRetry(frame: RequestFrame, code: string, delayMs: number): void {
    this.show({ event: "retry", frame, code, delayMs })
  }

  private forgetTap(id: string): void {
    const tap = this.taps.get(id)
    if (tap !== undefined) clearTimeout(tap.timer)
    this.taps.delete(id)
  }

  /** Requests not yet answered, journaled or about to be. */
  get outstanding(): number {
    return this.journal.pendingCount + this.unflushed.length
  }
}
