/**
 * `gesell validator --engine URL --key FILE --data-dir DIR --genesis-hash HEX`: a validator of the
 * federation. It proves its key to the engine's feed, keeps its own replica (PGlite under the data
 * dir), and for each proposal re-executes the block against the replica: if every check passes it
 * stores the block and then votes (a signature of the block hash); otherwise it answers `reject`
 * with the fault's code and what it found, and its replica stays as it was.
 *
 * Its key signs two things only: the hash of a block it re-executed and stored, and the feed's
 * login text for its federation and a 32-byte nonce (engine/feed-login.ts), once per connection.
 * Whoever plays the engine can thus never have it sign a block hash by offering one as a nonce.
 *
 * The federation is pinned by the hash of its block 0 (`--genesis-hash`, PROTOCOL.md section 9.7):
 * the login is signed for it, a challenge naming another is not answered, a replica stored from
 * another block 0 is refused at start, and any other block 0 is rejected. Nothing about which
 * federation to follow is learnt from the engine.
 *
 * Final blocks it catches up on (it was away, or it just joined) are checked and followed in one
 * re-execution each and stored a page at a time, as a peer does; everything followed is stored
 * before it answers a proposal or looks up a block it holds.
 *
 * A proposal whose header time is more than proposalAheadMsMax ahead of the validator's clock is
 * rejected (`time`): once final it would hold every later block's time there. Final blocks caught up
 * on are not judged by the clock: they are the federation's history, signed by its threshold.
 */
import { join } from "node:path"
import { mkdirSync, readFileSync } from "node:fs"
import { Console, Effect } from "effect"
import type WebSocket from "ws"
import { Replica, ReplayInStorage } from "../actors/replica.js"
import {
  chainFromGenesisBlock,
  checkSignatures,
  decodeBlock,
  decodeReceivedBlock,
  faultText,
  headerHash,
  signBlock,
  type Block,
  type BlockFault,
  type ReceivedBlock,
} from "../engine/block.js"
import { proposalAheadMsMax } from "../engine/limits.js"
import { isRecord, type ValidatorId } from "../engine/names.js"
import { Ledger, type LedgerStore } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { FeedClient, loginAnswer } from "./feed-client.js"
import { paymentsFile, type PaymentChecker, type PaymentQuestion } from "./payments.js"
import { stripeChecker, stripeClient } from "./stripe.js"
import type { Validators } from "../engine/state.js"
import { needsPaymentChecker } from "../engine/validators.js"
import { readKey, type NodeKey } from "./keys.js"
import { lockDataDir } from "./node.js"

export interface ValidatorFlags {
  readonly engine: string
  /** The hex hash of the federation's block 0: the login is signed for it, and any other block 0 refused. */
  readonly genesisHash: string
  readonly key: string
  readonly dataDir: string
  /** Where a payment checker asks about refills (PROTOCOL.md section 9.5): a stand-in's file… */
  readonly payments?: string | undefined
  /** …or Stripe, with a restricted, read-only key read from this file. */
  readonly stripeKeyFile?: string | undefined
  /** Another address for Stripe's API (STRIPE_API_URL: a local fake). */
  readonly stripeApiUrl?: string | undefined
}

/** Between two attempts to reach Stripe: 1 s, doubling, at most 30 s. */
const stripeRetryMs = (attempt: number): number => Math.min(30_000, 1_000 * 2 ** Math.min(attempt - 1, 5))

/** The processor a payment checker asks, if any, and the line that says so at start. */
const paymentProcessor = (flags: ValidatorFlags, log: (line: string) => void): { checker: PaymentChecker | undefined; says: string } => {
  if (flags.payments !== undefined && flags.stripeKeyFile !== undefined) throw new Error("give --payments or --stripe-key-file, not both")
  if (flags.stripeKeyFile !== undefined) {
    const key = readFileSync(flags.stripeKeyFile, "utf8").trim()
    if (!/^(rk|sk)_(test|live)_\w+$/.test(key)) throw new Error(`${flags.stripeKeyFile} does not hold a Stripe key (rk_… for a restricted one)`)
    const stripe = stripeClient(key, flags.stripeApiUrl, { maxNetworkRetries: 0 })
    const wait = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, stripeRetryMs(attempt)))
    return { checker: stripeChecker(stripe, wait, log), says: `Payments: refills and refunds are checked with Stripe${key.startsWith("sk_") ? " (a secret key: a restricted, read-only one is enough)" : ""}.` }
  }
  if (flags.payments !== undefined) return { checker: paymentsFile(flags.payments), says: `Payments: refills and refunds are checked against ${flags.payments}.` }
  return { checker: undefined, says: "Payments: no processor to ask (--stripe-key-file): refills and refunds are checked by form only." }
}

type Answer = { readonly vote: true } | { readonly vote: false; readonly fault: BlockFault } | { readonly vote: "none" }

/** Final blocks caught up on are stored a page at a time (Replica.pageFull), or once none came for this long. */
const flushDelayMs = 50

class ValidatorProgram {
  private replica: Replica | undefined
  private voted = 0
  private rejected = 0

  constructor(
    private readonly store: LedgerStore,
    private readonly key: NodeKey,
    replica: Replica | undefined,
    private readonly log: (line: string) => void,
    private readonly fatal: (error: unknown) => void,
    /** The genesis hash logins are signed for, and block 0 must have. */
    private readonly genesisHash: string,
    private readonly nowMs: () => number,
    private readonly payments: PaymentChecker | undefined,
  ) {
    this.replica = replica
  }

  /**
   * A payment checker's question about a proposal (PROTOCOL.md section 9.5): each refill's payment
   * and each online refund's refund (`payback`), as the processor knows them. Final blocks caught up on are not asked about: their signers did.
   */
  private async paymentFault(block: Block, set: Validators): Promise<BlockFault | undefined> {
    if (!(set.paymentCheckers ?? []).includes(this.key.validator as ValidatorId)) return undefined
    for (const tx of block.txs) {
      if (tx.kind !== "refill" && tx.kind !== "payback") continue
      const leg = tx.legs[0]
      if (this.payments === undefined) return { code: "payment", message: "this validator checks payments and was given no processor to ask (--stripe-key-file)" }
      if (tx.ref === undefined || leg === undefined) return { code: "payment", message: `${tx.kind} ${tx.id} names no ${tx.kind === "refill" ? "payment" : "refund"}` }
      const payment = isRecord(tx.memo) ? tx.memo["payment"] : undefined
      const question: PaymentQuestion =
        tx.kind === "refill"
          ? { kind: "payment", ref: tx.ref, amount: leg.amount, wallet: leg.to }
          : { kind: "refund", ref: tx.ref, amount: leg.amount, payment: typeof payment === "string" ? payment : "" }
      const wrong = await this.payments(question)
      if (wrong !== undefined) return { code: "payment", message: `${tx.kind} ${tx.id}: ${wrong}` }
    }
    return undefined
  }

  get height(): number {
    return this.replica?.height ?? -1
  }

  get status(): string {
    return `height ${this.height}, ${this.voted} votes, ${this.rejected} rejections`
  }

  query = (): Record<string, string> => ({ from: String(this.height + 1), validator: this.key.validator })

  /** The `auth` answer to a challenge, or why none is given (the feed client then drops the connection). */
  login = (challenge: Record<string, unknown>): Record<string, unknown> | string => loginAnswer(this.key, this.genesisHash, challenge)

  frame = async (message: Record<string, unknown>, socket: WebSocket, text?: string): Promise<void> => {
    if (message["type"] !== "proposal" && message["type"] !== "block") return
    const final = message["type"] === "block"
    const height = heightOf(message["block"])
    const next = final ? this.nextFinal(message["block"], text) : undefined
    if (next !== undefined) return this.answer(socket, height, final, await this.catchUp(next))
    // Whatever is voted on, or looked up, is in storage first.
    if (!(await this.flushNow())) return
    const decoded = decodeBlock(message["block"])
    const answer = "code" in decoded ? { vote: false as const, fault: decoded } : await this.judge(decoded.block, decoded.rawTxs, final)
    return this.answer(socket, height, final, answer, decoded)
  }

  private answer(socket: WebSocket, height: number | null, final: boolean, answer: Answer, decoded?: { readonly block: Block } | BlockFault): void {
    if (answer.vote === "none") return
    if (answer.vote) {
      const hash = headerHash((decoded as { block: Block }).block.header)
      const signature = signBlock(this.key.key, this.key.validator as ValidatorId, hash).signature
      socket.send(JSON.stringify({ type: "vote", height, hash, validator: this.key.validator, signature }))
      this.voted++
      return
    }
    this.rejected++
    this.log(`rejected block ${height}: ${faultText(answer.fault)}`)
    socket.send(JSON.stringify({ type: "reject", height, reason: faultText(answer.fault) }))
    // A final block this replica cannot follow leaves nothing to do but to say so and wait.
    if (final) throw new Error(`the engine's final block ${height} does not follow this replica`)
  }

  /** A final block at the height after the replica's: it is caught up on in one re-execution. */
  private nextFinal(raw: unknown, text: string | undefined): ReceivedBlock | undefined {
    if (this.replica === undefined) return undefined
    const received = decodeReceivedBlock(raw, text)
    return "code" in received || received.header.height !== this.replica.height + 1 ? undefined : received
  }

  /**
   * Follows a final block caught up on, checked and re-executed once, and stores it with the next
   * page (Replica.pageFull) or before anything else is answered: a validator votes only for blocks
   * it holds in storage after every block before them.
   */
  private async catchUp(received: ReceivedBlock): Promise<Answer> {
    const replica = this.replica
    if (replica === undefined) return { vote: "none" }
    const fault = await Effect.runPromise(replica.followFinal(received))
    if (fault !== undefined) return { vote: false, fault }
    // The next page is checked while this one is stored (Replica.savePage).
    if (replica.pageFull) await this.savedBy(replica.savePage)
    else this.flushSoon(replica)
    return { vote: "none" }
  }

  private flushTimer: NodeJS.Timeout | undefined
  private saving: Promise<boolean> = Promise.resolve(true)

  private flushSoon(replica: Replica): void {
    if (this.flushTimer !== undefined) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.saving = this.saved(replica)
    }, flushDelayMs)
  }

  /** Stores every block followed and not stored yet; false when storage failed (the validator then stops). */
  async flushNow(): Promise<boolean> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (!(await this.saving)) return false
    return this.replica === undefined ? true : this.saved(this.replica)
  }

  private saved(replica: Replica): Promise<boolean> {
    return this.savedBy(replica.save)
  }

  private savedBy(save: Effect.Effect<void>): Promise<boolean> {
    return Effect.runPromise(save).then(
      () => true,
      () => {
        // Memory is ahead of storage: never vote, stop; a restart resumes from what storage holds.
        // A final block holding a transaction stored already (ReplayInStorage) is said as such.
        this.fatal(this.replica?.failed)
        return false
      },
    )
  }

  /** A proposal dated too far ahead of this validator's clock; see the module's comment. */
  private aheadOfClock(block: Block): BlockFault | undefined {
    const nowMs = this.nowMs()
    const aheadMs = block.header.time - nowMs
    if (aheadMs <= proposalAheadMsMax) return undefined
    return { code: "time", message: `time ${block.header.time} is ${aheadMs} ms ahead of this validator's clock (${nowMs}), more than ${proposalAheadMsMax} ms` }
  }

  /** Checks a block against the replica; stores it when it may follow; says whether to vote. */
  private async judge(block: Block, rawTxs: readonly unknown[], final: boolean): Promise<Answer> {
    const ahead = final ? undefined : this.aheadOfClock(block)
    if (ahead !== undefined) return { vote: false, fault: ahead }
    const height = block.header.height
    const hash = headerHash(block.header)
    if (this.replica === undefined) {
      if (height !== 0) return { vote: "none" }
      const chain = chainFromGenesisBlock(block, rawTxs, this.genesisHash)
      if ("code" in chain) return { vote: false, fault: chain }
      const signed = final ? checkSignatures(hash, block.signatures, chain.setInForce) : undefined
      if (signed !== undefined) return { vote: false, fault: signed }
      const created = await Effect.runPromise(Replica.create(this.store, block, rawTxs, final ? block.signatures : undefined, this.genesisHash))
      if ("code" in created) return { vote: false, fault: created }
      this.replica = created
      return final ? { vote: "none" } : { vote: true }
    }
    const replica = this.replica
    if (height <= replica.height) {
      // Already stored: a proposal again after a reconnect is voted again, if it is the same block.
      const held = await Effect.runPromise(replica.hashAt(height))
      if (held === hash) return final ? { vote: "none" } : { vote: true }
      return { vote: false, fault: { code: "fork", message: `this validator holds block ${height} as ${held ?? "unknown"}, not ${hash}` } }
    }
    if (height > replica.height + 1) {
      return { vote: false, fault: { code: "height", message: `expected height ${replica.height + 1}, got ${height}` } }
    }
    const set = replica.chain.setInForce
    const fault =
      (await Effect.runPromise(replica.check(block, rawTxs))) ??
      (final ? checkSignatures(hash, block.signatures, set, needsPaymentChecker(set, block.txs.map((tx) => tx.kind))) : await this.paymentFault(block, set))
    if (fault !== undefined) return { vote: false, fault }
    try {
      await Effect.runPromise(replica.append(block, rawTxs, final ? block.signatures : undefined))
    } catch (error) {
      // Memory is ahead of storage: never vote, stop; a restart resumes from what storage holds.
      this.fatal(error)
      return { vote: "none" }
    }
    return final ? { vote: "none" } : { vote: true }
  }
}

const heightOf = (block: unknown): number | null => {
  const header = typeof block === "object" && block !== null ? (block as { header?: { height?: unknown } }).header : undefined
  return typeof header?.height === "number" ? header.height : null
}

export const runValidator = (flags: ValidatorFlags) =>
  Effect.gen(function* () {
    mkdirSync(flags.dataDir, { recursive: true })
    yield* lockDataDir(flags.dataDir)
    const key = yield* Effect.try(() => readKey(flags.key))
    const store = yield* Ledger
    const replica = yield* Replica.open(store)
    const held = replica === undefined ? undefined : yield* replica.hashAt(0)
    if (held !== undefined && held !== flags.genesisHash) {
      return yield* Effect.fail(new Error(`the replica in ${flags.dataDir} starts from block 0 ${held}, not the pinned ${flags.genesisHash}`))
    }
    const log = (line: string) => console.error(`validator ${key.validator.slice(0, 8)}: ${line}`)
    const processor = yield* Effect.try(() => paymentProcessor(flags, log))
    const clock = yield* Effect.clock
    const stopped: { client?: FeedClient; failed?: boolean } = {}
    const program = new ValidatorProgram(store, key, replica, log, (error) => {
      // A final block replaying a stored transaction is the engine's fault, not storage's.
      log(error instanceof ReplayInStorage ? `the engine's final ${error.message}; stopping` : `storage failed, stopping: ${String(error)}`)
      stopped.failed = true
      stopped.client?.stop()
    }, flags.genesisHash, () => clock.unsafeCurrentTimeMillis(), processor.checker)
    yield* Console.log(processor.says)
    yield* Console.log(`Validator ${key.validator} following ${flags.engine}; replica at height ${program.height} in ${flags.dataDir}`)
    const client = new FeedClient({ engine: flags.engine, query: program.query, frame: program.frame, login: program.login, log })
    stopped.client = client
    const status = setInterval(() => log(program.status), 10_000)
    yield* Effect.addFinalizer(() => Effect.sync(() => (clearInterval(status), client.stop())))
    yield* Effect.promise(() => client.run())
    yield* Effect.promise(() => program.flushNow())
    return stopped.failed === true ? 1 : 0
  }).pipe(Effect.scoped, Effect.provide(pgliteLedger(join(flags.dataDir, "pglite"))))
