/**
 * The hub's link to the node (PROTOCOL.md section 3): one WebSocket with the reader's bearer token,
 * `hello` awaited before anything is sent, up to inflightMax requests pipelined, reconnects with
 * exponential backoff, and a dead link noticed by its silence (festival Wi-Fi drops without closing
 * anything). Every request handed to the link has already been journaled. On each new connection,
 * the requests that were in flight without a reply are sent again first, with the same ids; a
 * request answered `overloaded` or `unavailable` is sent again later, also with its id. A request
 * journaled longer than requestAgeMsMax ago is never sent again, however long the link was down:
 * the node may have forgotten its id, and would charge it a second time.
 */
import { randomInt } from "node:crypto"
import { WebSocket } from "ws"
import { decodeIncoming, isRetryable, type Hello, type RequestFrame, type Result } from "./protocol.js"

export interface LinkLimits {
  readonly inflightMax: number
  readonly frameBytesMax: number
  /** The longest frame accepted from the node (a reply listing a card's assets is longer than a request). */
  readonly replyBytesMax: number
  /** A request journaled longer ago than this is not sent again (the node remembers ids 24 hours). */
  readonly requestAgeMsMax: number
  readonly reconnectDelayMsMin: number
  readonly reconnectDelayMsMax: number
  readonly retryDelayMsMin: number
  readonly retryDelayMsMax: number
  readonly handshakeTimeoutMs: number
  readonly pingIntervalMs: number
  readonly pongTimeoutMs: number
}

export interface LinkEvents {
  /** A new connection greeted us; requests are sent once this returns true. */
  readonly onHello: (hello: Hello) => boolean
  /** A final reply to a request (retryable codes never get here). */
  readonly onResult: (frame: RequestFrame, result: Result) => void
  /** A request answered overloaded or unavailable, to be sent again after `delayMs`. */
  readonly onRetry: (frame: RequestFrame, code: string, delayMs: number) => void
  /** A request that waited too long to be sent again: dropped, unanswered. */
  readonly onExpired: (frame: RequestFrame) => void
  /** The link went down (with why) or came up. */
  readonly onLinkChange: (up: boolean, why: string) => void
  /** Something the operator should know that is not tied to a request. */
  readonly onProblem: (text: string) => void
}

interface Outgoing {
  readonly frame: RequestFrame
  readonly text: string
  /** When the request was journaled: its age decides whether it may still be sent. */
  readonly journaledAtMs: number
  /** Times it was answered overloaded or unavailable, for the backoff. */
  refusals: number
  notBeforeMs: number
}

/** Doubles from `minMs` per attempt up to `maxMs`, then takes a random point in its upper half, so that hubs that lost the same node do not all come back at the same instant. */
const backoffMs = (attempt: number, minMs: number, maxMs: number): number => {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20))
  return Math.floor(ceiling / 2) + randomInt(Math.floor(ceiling / 2) + 1)
}

export class Link {
  private socket: WebSocket | undefined
  private greeted = false
  private stopped = false
  private connectAttempts = 0
  /** Waiting to be sent, in order; `inflight` holds what was sent on this connection. */
  private readonly queue = new Map<string, Outgoing>()
  private readonly inflight = new Map<string, Outgoing>()
  private lastHeardMs = 0
  private lastPingMs = 0
  private timer: NodeJS.Timeout | undefined
  private reconnectTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly limits: LinkLimits,
    private readonly events: LinkEvents,
    private readonly nowMs: () => number,
  ) {}

  start(): void {
    this.connect()
    // One timer for the pings, the liveness check and the retries that come due.
    this.timer = setInterval(() => this.tick(), Math.min(this.limits.pingIntervalMs, this.limits.retryDelayMsMin))
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.reconnectTimer)
    this.socket?.terminate()
  }

  get up(): boolean {
    return this.greeted
  }

  /** Requests waiting to be sent or waiting for their reply. */
  get outstanding(): number {
    return this.queue.size + this.inflight.size
  }

  /** Queues a request journaled at `journaledAtMs`. A request already queued or in flight is not queued twice. */
  send(frame: RequestFrame, journaledAtMs: number): void {
    if (this.queue.has(frame.id) || this.inflight.has(frame.id)) return
    const text = JSON.stringify(frame)
    if (Buffer.byteLength(text) > this.limits.frameBytesMax) throw new Error(`request ${frame.id} is longer than a frame (${this.limits.frameBytesMax} bytes)`)
    this.queue.set(frame.id, { frame, text, journaledAtMs, refusals: 0, notBeforeMs: 0 })
    this.pump()
  }

  private connect(): void {
    if (this.stopped) return
    const socket = new WebSocket(this.url, {
      headers: { authorization: `Bearer ${this.token}` },
      handshakeTimeout: this.limits.handshakeTimeoutMs,
      maxPayload: this.limits.replyBytesMax,
    })
    this.socket = socket
    this.lastHeardMs = this.nowMs()
    socket.on("unexpected-response", (_request, response) => {
      const why = response.statusCode === 401 ? "the node refused the reader token (HTTP 401): check --token" : `the node answered the upgrade with HTTP ${response.statusCode}`
      this.events.onProblem(why)
      socket.terminate()
    })
    socket.on("message", (data, isBinary) => {
      this.lastHeardMs = this.nowMs()
      if (isBinary) return this.events.onProblem("the node sent a binary frame; ignored")
      this.onFrame(data.toString())
    })
    socket.on("pong", () => (this.lastHeardMs = this.nowMs()))
    // ws emits "error" before "close"; the close is where the link goes down and comes back.
    socket.on("error", () => undefined)
    socket.on("close", (code, reason) => this.onClose(socket, code, reason.toString()))
  }

  private onFrame(text: string): void {
    const frame = decodeIncoming(text)
    if (typeof frame === "string") return this.events.onProblem(`a frame from the node was ignored: ${frame}`)
    if (frame.type === "hello") return this.onHello(frame)
    if (frame.type === "pong") return
    if (frame.id === null) return this.events.onProblem(`the node could not read a frame: ${frame.ok ? "" : frame.error.message}`)
    const outgoing = this.inflight.get(frame.id)
    // A reply to nothing in flight: a duplicate, or a reply from before a reconnect; the journal has the outcome.
    if (outgoing === undefined) return
    this.inflight.delete(frame.id)
    if (!frame.ok && isRetryable(frame.error.code)) {
      outgoing.refusals++
      const delayMs = backoffMs(outgoing.refusals - 1, this.limits.retryDelayMsMin, this.limits.retryDelayMsMax)
      outgoing.notBeforeMs = this.nowMs() + delayMs
      this.queue.set(frame.id, outgoing)
      this.events.onRetry(outgoing.frame, frame.error.code, delayMs)
    } else {
      this.events.onResult(outgoing.frame, frame)
    }
    this.pump()
  }

  private onHello(hello: Hello): void {
    if (!this.events.onHello(hello)) {
      this.stop()
      return
    }
    this.greeted = true
    this.connectAttempts = 0
    this.events.onLinkChange(true, `connected to ${this.url} as ${hello.reader} (${hello.role} of ${hello.place})`)
    this.pump()
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return
    const wasUp = this.greeted
    this.greeted = false
    this.socket = undefined
    // Whatever was in flight may or may not have reached the node: it is sent again, first, with its id.
    const resend = [...this.inflight.values(), ...this.queue.values()]
    this.inflight.clear()
    this.queue.clear()
    for (const outgoing of resend) this.queue.set(outgoing.frame.id, outgoing)
    if (this.stopped) return
    if (code === 1008) this.events.onProblem(`the node closed the link: ${reason || "policy violation"} (a revoked token?)`)
    const delayMs = backoffMs(this.connectAttempts++, this.limits.reconnectDelayMsMin, this.limits.reconnectDelayMsMax)
    if (wasUp) this.events.onLinkChange(false, `link lost (code ${code}${reason === "" ? "" : `, ${reason}`}); reconnecting`)
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs)
  }

  /** Sends queued requests that are due, while fewer than inflightMax are in flight. */
  private pump(): void {
    const socket = this.socket
    if (!this.greeted || socket === undefined || socket.readyState !== WebSocket.OPEN) return
    const nowMs = this.nowMs()
    for (const [id, outgoing] of this.queue) {
      if (this.inflight.size >= this.limits.inflightMax) return
      if (this.expired(outgoing, nowMs)) continue
      if (outgoing.notBeforeMs > nowMs) continue
      this.queue.delete(id)
      this.inflight.set(id, outgoing)
      socket.send(outgoing.text)
    }
  }

  /** Drops a queued request too old to be sent again, and says so; true when it did. */
  private expired(outgoing: Outgoing, nowMs: number): boolean {
    if (nowMs - outgoing.journaledAtMs <= this.limits.requestAgeMsMax) return false
    this.queue.delete(outgoing.frame.id)
    this.events.onExpired(outgoing.frame)
    return true
  }

  private tick(): void {
    // While the link is down too: the requests that expire leave the journal and free its places.
    const nowMs = this.nowMs()
    for (const outgoing of this.queue.values()) this.expired(outgoing, nowMs)
    const socket = this.socket
    if (socket !== undefined && socket.readyState === WebSocket.OPEN) {
      if (this.nowMs() - this.lastHeardMs > this.limits.pongTimeoutMs) {
        this.events.onProblem(`the node has been silent for ${this.limits.pongTimeoutMs} ms; reconnecting`)
        socket.terminate()
        return
      }
      const quietMs = Math.min(this.nowMs() - this.lastHeardMs, this.nowMs() - this.lastPingMs)
      if (quietMs >= this.limits.pingIntervalMs) {
        socket.ping()
        this.lastPingMs = this.nowMs()
      }
    }
    this.pump()
  }
}
