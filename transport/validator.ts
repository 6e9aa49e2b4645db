/**
 * `gesell validator --engine URL --key FILE --data-dir DIR`: a validator of the federation. It
 * proves its key to the engine's feed, keeps its own replica (PGlite under the data dir), and for
 * each proposal re-executes the block against the replica: if every check passes it stores the
 * block and then votes (a signature of the block hash); otherwise it answers `reject` with the
 * fault's code and what it found, and its replica stays as it was.
 */
import { join } from "node:path"
import { mkdirSync } from "node:fs"
import { Console, Effect } from "effect"
import type WebSocket from "ws"
import { Replica } from "../actors/replica.js"
import {
  chainFromGenesisBlock,
  checkSignatures,
  decodeBlock,
  faultText,
  headerHash,
  signBlock,
  type Block,
  type BlockFault,
} from "../engine/block.js"
import { sign } from "../engine/ed25519.js"
import type { ValidatorId } from "../engine/names.js"
import { Ledger, type LedgerStore } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { FeedClient } from "./feed-client.js"
import { readKey, type NodeKey } from "./keys.js"
import { lockDataDir } from "./node.js"

export interface ValidatorFlags {
  readonly engine: string
  /** The hex hash of the federation's block 0: a replica refuses to start from any other. */
  readonly genesisHash?: string | undefined
  readonly key: string
  readonly dataDir: string
}

type Answer = { readonly vote: true } | { readonly vote: false; readonly fault: BlockFault } | { readonly vote: "none" }

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
    private readonly genesisHash: string | undefined,
  ) {
    this.replica = replica
  }

  get height(): number {
    return this.replica?.height ?? -1
  }

  get status(): string {
    return `height ${this.height}, ${this.voted} votes, ${this.rejected} rejections`
  }

  query = (): Record<string, string> => ({ from: String(this.height + 1), validator: this.key.validator })

  frame = async (message: Record<string, unknown>, socket: WebSocket): Promise<void> => {
    if (message["type"] === "challenge" && typeof message["nonce"] === "string") {
      const nonce = Buffer.from(message["nonce"], "hex")
      socket.send(JSON.stringify({ type: "auth", validator: this.key.validator, signature: sign(this.key.key, nonce) }))
      return
    }
    if (message["type"] !== "proposal" && message["type"] !== "block") return
    const final = message["type"] === "block"
    const height = heightOf(message["block"])
    const decoded = decodeBlock(message["block"])
    const answer = "code" in decoded ? { vote: false as const, fault: decoded } : await this.judge(decoded.block, decoded.rawTxs, final)
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

  /** Checks a block against the replica; stores it when it may follow; says whether to vote. */
  private async judge(block: Block, rawTxs: readonly unknown[], final: boolean): Promise<Answer> {
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
    const fault =
      (await Effect.runPromise(replica.check(block, rawTxs))) ?? (final ? checkSignatures(hash, block.signatures, replica.chain.setInForce) : undefined)
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
    const log = (line: string) => console.error(`validator ${key.validator.slice(0, 8)}: ${line}`)
    const stopped: { client?: FeedClient; failed?: boolean } = {}
    const program = new ValidatorProgram(store, key, replica, log, (error) => {
      log(`storage failed, stopping: ${String(error)}`)
      stopped.failed = true
      stopped.client?.stop()
    }, flags.genesisHash)
    yield* Console.log(`Validator ${key.validator} following ${flags.engine}; replica at height ${program.height} in ${flags.dataDir}`)
    const client = new FeedClient({ engine: flags.engine, query: program.query, frame: program.frame, log })
    stopped.client = client
    const status = setInterval(() => log(program.status), 10_000)
    yield* Effect.addFinalizer(() => Effect.sync(() => (clearInterval(status), client.stop())))
    yield* Effect.promise(() => client.run())
    return stopped.failed === true ? 1 : 0
  }).pipe(Effect.scoped, Effect.provide(pgliteLedger(join(flags.dataDir, "pglite"))))
