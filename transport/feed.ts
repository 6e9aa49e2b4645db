/**
 * The federation feed (PROTOCOL.md section 5): WebSocket `/v1/federation?from=H[&validator=ID]`.
 *
 * A follower gets `{"type":"block","block":…}` for every final block from H on, then each new one as
 * it becomes final. A validator first logs in (PROTOCOL.md section 9.7): the challenge carries a
 * nonce of 32 random bytes, new for this connection, and the genesis hash, and the validator signs
 * `gesell/feed-auth/v1:<genesis hash>:<nonce hex>` (engine/feed-login.ts). A key that is not a
 * validator of the set in force is refused (1008) before anything else is sent. Then, for each
 * height in order, it gets the final block if the height is final, else the proposal (header and
 * transactions) as soon as it is sealed, and it answers proposals with `vote` or `reject`. A
 * validator's stream starts no later than the first block that is not final, whatever H it asks
 * for, so that a validator that voted and lost its connection before the vote arrived votes again.
 *
 * Transactions are for the federation's members only (PROTOCOL.md section 9.7): any other follower
 * logs in too, with `member=ID`, the key of a validator in force or of an observer, and gets the
 * final blocks (no proposals, no votes). A connection that names no key is closed (1008) with the
 * reason. Validators have connection slots of their own, apart from the other members', so that no
 * number of followers can lock them out; a validator holds one connection at a time.
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
import { feedLoginValid, feedNonceBytes } from "../engine/feed-login.js"
import { decodeValidatorId, isRecord, type ValidatorId } from "../engine/names.js"
import type { LedgerStore } from "../storage/ledger.js"
import { storedBlockJson } from "./blocks-http.js"
import { oneLine } from "./log-line.js"
import type { Metrics } from "./metrics.js"
import { rejectUpgrade } from "./upgrades.js"

export interface FeedDeps {
  readonly producer: BlockProducer
  readonly store: LedgerStore
  readonly metrics: Metrics
  readonly log: (line: string) => void
  /** Followers logging in with `member` rather than `validator`, at most. */
  readonly memberConnectionsMax: number
  /** Whether a key is one of the observers in force (section 9.7), who read without validating. */
  readonly isObserver: (id: string) => boolean
  /** Validators' connections, logged in or logging in, at most. */
  readonly validatorConnectionsMax: number
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
  private readonly memberFollowers = new Set<Follower>()
  /** In the order they connected: the first one still logging in is the one a new login replaces. */
  private readonly validatorFollowers = new Set<Follower>()

  constructor(private readonly deps: FeedDeps) {}

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const target = request.url ?? "/"
    if (!URL.canParse(target, "http://localhost")) return false
    const url = new URL(target, "http://localhost")
    if (url.pathname !== "/v1/federation") return false
    const fromText = url.searchParams.get("from") ?? "0"
    const validatorText = url.searchParams.get("validator")
    const memberText = url.searchParams.get("member")
    const validator = validatorText === null ? undefined : decodeValidatorId(validatorText, "validator")
    const member = memberText === null ? undefined : decodeValidatorId(memberText, "member")
    if (!/^\d{1,15}$/.test(fromText) || (validator !== undefined && !validator.ok) || (member !== undefined && !member.ok) || (validator !== undefined && member !== undefined)) {
      rejectUpgrade(socket, 400, "Bad Request")
      return true
    }
    const from = Number(fromText)
    if (validator?.ok === true) return this.acceptValidator(request, socket, head, from, validator.value)
    if (member?.ok === true) return this.acceptMember(request, socket, head, from, member.value)
    // Refused over the WebSocket, so that the follower reads why; it takes no slot.
    this.refuse(request, socket, head, "the feed is for the federation's members: log in with member=ID (an observer's or a validator's key)")
    return true
  }

  /**
   * Refuses a follower over the WebSocket (1008 and the reason), so that it reads why; it takes no
   * slot. Whatever it sends meanwhile (a malformed frame is an 'error' of the socket) only ends it.
   */
  private refuse(request: IncomingMessage, socket: Duplex, head: Buffer, reason: string): void {
    this.server.handleUpgrade(request, socket, head, (ws) => {
      ws.on("error", () => ws.terminate())
      ws.close(1008, reason)
    })
  }

  /** A validator in force or an observer: a member, who may read transactions. */
  private isMember(id: ValidatorId): boolean {
    return this.deps.producer.isValidatorInForce(id) || this.deps.isObserver(id)
  }

  private acceptMember(request: IncomingMessage, socket: Duplex, head: Buffer, from: number, member: ValidatorId): boolean {
    if (!this.isMember(member)) {
      this.refuse(request, socket, head, notMember(member))
      return true
    }
    if (this.memberFollowers.size >= this.deps.memberConnectionsMax) {
      rejectUpgrade(socket, 503, "Service Unavailable")
      return true
    }
    this.server.handleUpgrade(request, socket, head, (ws) => {
      const follower = new Follower(ws, this.deps, from, member, "member", {
        loggedIn: () => undefined,
        stillAllowed: () => this.isMember(member),
        ended: () => this.memberFollowers.delete(follower),
      })
      this.memberFollowers.add(follower)
      follower.start()
    })
    return true
  }

  private acceptValidator(request: IncomingMessage, socket: Duplex, head: Buffer, from: number, validator: ValidatorId): boolean {
    if (!this.deps.producer.isValidatorInForce(validator)) {
      // Refused over the WebSocket, so that the follower reads why; it takes no slot.
      this.refuse(request, socket, head, notInForce(validator))
      return true
    }
    if (this.validatorFollowers.size >= this.deps.validatorConnectionsMax && !this.dropOldestLogin()) {
      rejectUpgrade(socket, 503, "Service Unavailable")
      return true
    }
    this.server.handleUpgrade(request, socket, head, (ws) => {
      const follower = new Follower(ws, this.deps, from, validator, "validator", {
        loggedIn: () => this.replaceOlder(follower, validator),
        stillAllowed: () => this.deps.producer.isValidatorInForce(validator),
        ended: () => this.validatorFollowers.delete(follower),
      })
      this.validatorFollowers.add(follower)
      follower.start()
    })
    return true
  }

  /**
   * Makes room for a login when the validators' slots are full: the oldest connection still logging
   * in gives its place (someone naming a validator's id without its key cannot hold slots for the
   * whole login time). Whether there was one.
   */
  private dropOldestLogin(): boolean {
    for (const follower of this.validatorFollowers) {
      if (follower.loggedIn) continue
      this.validatorFollowers.delete(follower)
      follower.close("a newer login took the place of this one")
      return true
    }
    return false
  }

  /** A validator holds one connection: the one that logged in last (an older one may be a dead link). */
  private replaceOlder(current: Follower, validator: ValidatorId): void {
    for (const follower of this.validatorFollowers) {
      if (follower === current || follower.validator !== validator || !follower.loggedIn) continue
      this.validatorFollowers.delete(follower)
      follower.close("replaced by a newer login of this validator")
    }
  }

  close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

const notInForce = (validator: ValidatorId): string => `${validator} is not a validator of the set in force`
const notMember = (id: ValidatorId): string => `${id} is not a member of the federation (a validator in force or an observer)`

/** What a follower tells the feed that keeps its slot. */
interface FollowerEvents {
  readonly loggedIn: () => void
  /** Whether the key may still follow, checked once it has logged in (the sets may change meanwhile). */
  readonly stillAllowed: () => boolean
  readonly ended: () => void
}

class Follower {
  private next: number
  private authenticated: boolean
  private closed = false
  private pumping = false
  private changed: (() => void) | undefined
  private readonly unwatch: () => void
  private readonly nonce = randomBytes(feedNonceBytes).toString("hex")

  /** The validator voting on this connection; undefined for a member that only reads. */
  readonly validator: ValidatorId | undefined

  constructor(
    private readonly socket: WebSocket,
    private readonly deps: FeedDeps,
    from: number,
    private readonly key: ValidatorId,
    role: "validator" | "member",
    private readonly events: FollowerEvents,
  ) {
    this.authenticated = false
    this.validator = role === "validator" ? key : undefined
    this.next = role === "member" ? from : Math.min(from, deps.producer.finalizedHeight + 1)
    this.unwatch = deps.producer.watch(() => this.wakeUp())
  }

  get loggedIn(): boolean {
    return this.authenticated
  }

  start(): void {
    this.deps.metrics.followers.inc()
    this.socket.on("close", () => this.stop())
    this.socket.on("error", () => this.stop())
    this.socket.on("message", (data: RawData, isBinary: boolean) => this.receive(data, isBinary))
    this.socket.send(JSON.stringify({ type: "challenge", nonce: this.nonce, genesis: this.deps.producer.genesisHash }))
    setTimeout(() => {
      if (!this.authenticated) this.close("no auth within the time allowed")
    }, authTimeoutMs).unref()
  }

  /** Closes for a policy reason (1008), which the follower reads. */
  close(reason: string): void {
    this.socket.close(1008, reason)
  }

  private stop(): void {
    if (this.closed) return
    this.closed = true
    this.unwatch()
    this.deps.metrics.followers.dec()
    this.events.ended()
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
      // The height and the reason are the validator's words: one bounded line, no control characters.
      const height = Number.isSafeInteger(message["height"]) ? String(message["height"]) : "?"
      const reason = typeof message["reason"] === "string" ? oneLine(message["reason"]) : "no reason given"
      this.deps.log(`validator ${this.validator} rejected block ${height}: ${reason}`)
    }
  }

  private authenticate(message: Record<string, unknown>): void {
    const key = this.key
    const ok =
      message["type"] === "auth" &&
      message["validator"] === key &&
      feedLoginValid(key, this.deps.producer.genesisHash, this.nonce, message["signature"])
    if (!ok) return this.close("the challenge was not signed by the key named")
    // The sets may have changed while it logged in.
    if (!this.events.stillAllowed()) return this.close(this.validator === undefined ? notMember(key) : notInForce(key))
    this.authenticated = true
    this.events.loggedIn()
    this.startPump()
  }

  /** A failure of the pump (a defect: storage errors are handled inside) ends this follower, not the node. */
  private startPump(): void {
    this.pump().catch((error: unknown) => {
      this.deps.log(`feed: stopping a follower: ${oneLine(error instanceof Error ? error.message : String(error))}`)
      this.socket.terminate()
    })
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
