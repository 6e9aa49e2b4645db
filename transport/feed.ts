/**
 * The federation feed (PROTOCOL.md section 5): WebSocket `/v1/federation?from=H[&validator=ID]`.
 *
 * A follower gets `{"type":"block","block":…}` for every final block from H on, then each new one as
 * it becomes final. A validator first proves its key by signing a challenge; then, for each height in
 * order, it gets the final block if the height is final, else the proposal (header and transactions)
 * as soon as it is sealed, and it answers proposals with `vote` or `reject`. A validator's stream
 * starts no later than the first block that is not final, whatever H it asks for, so that a
 * validator that voted and lost its connection before the vote arrived votes again.
 *
 * Each connection is pumped at its own pace: a page of blocks is read from storage only when the
 * socket has written the previous one (bounded memory per follower, however far behind it is).
 */
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { randomBytes } from "node:crypto"
import { Effect, Either } from "effect"
import { WebSocketServer, type RawData, type WebSocket } from "ws"
import type { BlockProducer } from "../actors/producer.js"
import { verify } from "../engine/ed25519.js"
import { decodeValidatorId, isRecord, type ValidatorId } from "../engine/names.js"
import type { LedgerStore } from "../storage/ledger.js"
import { storedBlockJson } from "./blocks-http.js"
import type { Metrics } from "./metrics.js"
import { rejectUpgrade } from "./readers.js"

export interface FeedDeps {
  readonly producer: BlockProducer
  readonly store: LedgerStore
  readonly metrics: Metrics
  readonly log: (line: string) => void
  readonly connectionsMax: number
}

/** Frames from followers are small: a vote, a reject with its reason, an auth. */
const frameBytesMax = 16 * 1024
/** A follower's socket may hold this much unsent before the pump waits for it to drain. */
const bufferedBytesMax = 4 * 1024 * 1024
const pageBlocksMax = 100
const pageTxMax = 20_000
const authTimeoutMs = 10_000

export class FederationFeed {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: frameBytesMax })

  constructor(private readonly deps: FeedDeps) {}

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(request.url ?? "/", "http://localhost")
    if (url.pathname !== "/v1/federation") return false
    const fromText = url.searchParams.get("from") ?? "0"
    const validatorText = url.searchParams.get("validator")
    const validator = validatorText === null ? undefined : decodeValidatorId(validatorText, "validator")
    if (!/^\d{1,15}$/.test(fromText) || (validator !== undefined && !validator.ok)) {
      rejectUpgrade(socket, 400, "Bad Request")
      return true
    }
    if (this.server.clients.size >= this.deps.connectionsMax) {
      rejectUpgrade(socket, 503, "Service Unavailable")
      return true
    }
    this.server.handleUpgrade(request, socket, head, (ws) => {
      const follower = new Follower(ws, this.deps, Number(fromText), validator?.ok === true ? validator.value : undefined)
      follower.start()
    })
    return true
  }

  close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

class Follower {
  private next: number
  private authenticated: boolean
  private closed = false
  private pumping = false
  private changed: (() => void) | undefined
  private readonly unwatch: () => void
  private readonly nonce = randomBytes(32)

  constructor(
    private readonly socket: WebSocket,
    private readonly deps: FeedDeps,
    from: number,
    private readonly validator: ValidatorId | undefined,
  ) {
    this.authenticated = validator === undefined
    this.next = validator === undefined ? from : Math.min(from, deps.producer.finalizedHeight + 1)
    this.unwatch = deps.producer.watch(() => this.wakeUp())
  }

  start(): void {
    this.deps.metrics.followers.inc()
    this.socket.on("close", () => this.stop())
    this.socket.on("error", () => this.stop())
    this.socket.on("message", (data: RawData, isBinary: boolean) => this.receive(data, isBinary))
    if (this.validator === undefined) return void this.pump()
    this.socket.send(JSON.stringify({ type: "challenge", nonce: this.nonce.toString("hex") }))
    setTimeout(() => {
      if (!this.authenticated) this.socket.close(1008, "no auth within the time allowed")
    }, authTimeoutMs).unref()
  }

  private stop(): void {
    if (this.closed) return
    this.closed = true
    this.unwatch()
    this.deps.metrics.followers.dec()
    this.wakeUp()
  }

  private wakeUp(): void {
    const changed = this.changed
    this.changed = undefined
    changed?.()
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.socket.close(1003, "text frames only")
    let message: unknown
    try {
      message = JSON.parse(String(data))
    } catch {
      return this.socket.close(1007, "frames are JSON")
    }
    if (!isRecord(message)) return this.socket.close(1007, "frames are JSON objects")
    if (!this.authenticated) return this.authenticate(message)
    if (this.validator === undefined) return
    if (message["type"] === "vote") return this.vote(message, this.validator)
    if (message["type"] === "reject") {
      this.deps.metrics.rejections.inc()
      const reason = typeof message["reason"] === "string" ? message["reason"].slice(0, 500) : "no reason given"
      this.deps.log(`validator ${this.validator} rejected block ${String(message["height"])}: ${reason}`)
    }
  }

  private authenticate(message: Record<string, unknown>): void {
    const ok =
      message["type"] === "auth" &&
      message["validator"] === this.validator &&
      typeof message["signature"] === "string" &&
      verify(this.validator ?? "", this.nonce, message["signature"])
    if (!ok) return this.socket.close(1008, "the challenge was not signed by the validator named")
    this.authenticated = true
    void this.pump()
  }

  private vote(message: Record<string, unknown>, validator: ValidatorId): void {
    const { height, hash, signature } = message
    if (message["validator"] !== validator || typeof height !== "number" || typeof hash !== "string" || typeof signature !== "string") {
      this.deps.metrics.votes.inc({ outcome: "invalid" })
      return
    }
    this.deps.metrics.votes.inc({ outcome: this.deps.producer.vote(height, hash, validator, signature) })
  }

  /** Sends, in height order, what this follower may see, then waits for more. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    const { producer } = this.deps
    while (!this.closed) {
      await this.drained()
      if (this.closed) break
      if (this.next <= producer.finalizedHeight) {
        const sent = await this.sendFinal()
        if (!sent) await this.pause(1_000)
      } else if (this.validator !== undefined && this.next <= producer.sealedHeight) {
        // Not final when checked above; if it became final since, the next turn sends it as a block.
        const block = producer.pendingBlock(this.next)
        if (block === undefined) {
          // Final meanwhile (the next turn sends it as a block): never spin without yielding.
          await this.pause(1)
        } else {
          this.socket.send(`{"type":"proposal","block":${block.proposal}}`)
          this.next++
        }
      } else {
        await new Promise<void>((resolve) => (this.changed = resolve))
      }
    }
  }

  private async sendFinal(): Promise<boolean> {
    const page = await Effect.runPromise(Effect.either(this.deps.store.blocks(this.next, pageBlocksMax, pageTxMax, true)))
    if (Either.isLeft(page) || page.right.length === 0) return false
    for (const block of page.right) {
      if (this.closed || block.height !== this.next) break
      this.socket.send(`{"type":"block","block":${storedBlockJson(block)}}`)
      this.next++
    }
    return true
  }

  private drained(): Promise<void> {
    if (this.closed || this.socket.bufferedAmount <= bufferedBytesMax) return Promise.resolve()
    return this.pause(10).then(() => this.drained())
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref())
  }
}
