/**
 * One reader connection of a worker and its pace: flat out (each reply sends the next request, at
 * most `inflightMax` in flight) or at a fixed rate (open loop: the k-th request is due at
 * start + k × interval whatever the replies do; when the connection already has `inflightMax` in
 * flight it waits, and its latency is measured from when it was due, so that queueing in the node
 * shows in the figures instead of slowing the load down: no coordinated omission).
 *
 * Only requests due (or, flat out, sent) inside the measured window count, wherever their reply
 * lands. Replies are matched by the sequence number at the end of their request id, read from the
 * reply text without parsing it all: the load generator shares the cores with the node.
 */
import type { Histogram } from "hdr-histogram-js"
import type { ConnectionOrder, PhaseOrder } from "./messages.js"

/** Send times are kept in a ring indexed by sequence number; it must exceed what can be in flight. */
const ringSize = 256

/** Times on this process's performance clock, in milliseconds. */
export interface Window {
  /** When the first request is due; the warm-up runs from here to `startMs`. */
  readonly firstMs: number
  readonly startMs: number
  readonly endMs: number
}

export interface Socket {
  send(text: string): void
}

const codeOf = (text: string): string => /"code":"([a-z_]+)"/.exec(text)?.[1] ?? "unreadable"

export class Lane {
  private sent = 0
  private inflight = 0
  private readonly sentAt = new Float64Array(ringSize)
  private readonly prefix: string
  private readonly intervalMs: number
  /** At a fixed rate, how many requests are due before the window ends. */
  private readonly dueInRun: number
  private readonly connectionSalt: number
  private windowOutstanding = 0
  completed = 0
  readonly errors = new Map<string, number>()

  constructor(
    private readonly socket: Socket,
    private readonly order: PhaseOrder,
    connection: ConnectionOrder,
    private readonly cards: readonly string[],
    private readonly histogram: Histogram,
    private readonly window: Window,
  ) {
    if (order.pace.inflightMax >= ringSize) throw new Error(`inflightMax must stay below ${ringSize}`)
    this.prefix = `{"type":"sale","id":"${order.tag}${connection.index}-`
    this.intervalMs = order.pace.kind === "rate" ? 1000 / order.pace.tapsPerSecondPerConnection : 0
    this.dueInRun = order.pace.kind === "rate" ? Math.ceil((window.endMs - window.firstMs) / this.intervalMs) : 0
    this.connectionSalt = Math.imul(connection.index + 1, 0x85ebca6b)
  }

  /** Sends what is due at `nowMs`: flat out, up to the in-flight bound; at a rate, the schedule so far. */
  pump(nowMs: number): void {
    const max = this.order.pace.inflightMax
    if (this.order.pace.kind === "pipelined") {
      while (this.inflight < max && nowMs < this.window.endMs) this.send(nowMs)
      return
    }
    const due = Math.min(this.dueInRun, Math.floor((nowMs - this.window.firstMs) / this.intervalMs) + 1)
    while (this.sent < due && this.inflight < max) this.send(this.window.firstMs + this.sent * this.intervalMs)
  }

  private send(dueMs: number): void {
    const seq = this.sent++
    this.sentAt[seq % ringSize] = dueMs
    this.inflight++
    if (dueMs >= this.window.startMs && dueMs < this.window.endMs) this.windowOutstanding++
    this.socket.send(`${this.prefix}${seq}","card":"${this.cardOf(seq)}","amount":${this.order.amount}}`)
  }

  private cardOf(seq: number): string {
    const cards = this.cards
    if (this.order.hotCard !== undefined) return cards[this.order.hotCard] ?? ""
    // A multiplicative hash spreads consecutive requests over the cards, differently per connection.
    return cards[((Math.imul(seq + 1, 0x9e3779b1) ^ this.connectionSalt) >>> 0) % cards.length] ?? ""
  }

  onReply(text: string, nowMs: number): void {
    const idStart = text.indexOf('"id":"')
    if (idStart === -1) return
    const idEnd = text.indexOf('"', idStart + 6)
    const seq = Number(text.slice(text.lastIndexOf("-", idEnd) + 1, idEnd))
    if (!Number.isSafeInteger(seq) || seq >= this.sent || seq < this.sent - ringSize) return
    const dueMs = this.sentAt[seq % ringSize] ?? 0
    this.inflight--
    if (dueMs >= this.window.startMs && dueMs < this.window.endMs) {
      this.windowOutstanding--
      if (text.includes('"ok":true')) {
        this.completed++
        this.histogram.recordValue(Math.min(119_000_000, Math.max(1, Math.round((nowMs - dueMs) * 1000))))
      } else {
        const code = codeOf(text)
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1)
      }
    }
    this.pump(nowMs)
  }

  /** Whether everything of the window was answered (or, past the window, nothing more will be sent). */
  settled(nowMs: number): boolean {
    return nowMs >= this.window.endMs && this.windowOutstanding === 0 && this.unsent() === 0
  }

  get unanswered(): number {
    return this.windowOutstanding
  }

  /** At a fixed rate: requests due in the window that were never sent. */
  unsent(): number {
    if (this.order.pace.kind === "pipelined") return 0
    const firstInWindow = Math.ceil((this.window.startMs - this.window.firstMs) / this.intervalMs)
    return Math.max(0, this.dueInRun - Math.max(this.sent, firstInWindow))
  }
}
