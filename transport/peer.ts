/**
 * `gesell peer --engine URL --data-dir DIR --genesis-hash HEX [--port N]`: a federation peer. It
 * follows the engine's feed of final blocks and checks each one before keeping it: the link to the
 * block before, the height, the time, the Merkle root, the signatures against the validator set in
 * force at its height, and re-execution against its own replica (PGlite under the data dir). It
 * serves its own `/v1/blocks`, `/v1/blocks/H`, `/v1/supply` and `/v1/health`, so it can be queried
 * like the node.
 *
 * The federation is pinned by the hash of its block 0 (`--genesis-hash`, PROTOCOL.md section 9.7):
 * a replica stored from another block 0 is refused at start, and any other block 0 received is a
 * violation (`genesis`), never stored nor served.
 *
 * On any violation it stops (exit code 3) and prints the evidence: the heights, hashes and
 * signatures involved, as one JSON line after a sentence saying what is wrong.
 */
import type { Server } from "node:http"
import { HttpApiBuilder, OpenApi, type HttpApiGroup } from "@effect/platform"
import { join } from "node:path"
import { mkdirSync } from "node:fs"
import { Console, Effect, Layer } from "effect"
import { Replica, ReplayInStorage } from "../actors/replica.js"
import {
  chainFromGenesisBlock,
  checkSignatures,
  decodeBlock,
  decodeReceivedBlock,
  faultText,
  headerHash,
  receivedFault,
  type Block,
  type BlockFault,
} from "../engine/block.js"
import { needsPaymentChecker, validatorSetOf } from "../engine/validators.js"
import { Ledger, type LedgerStore } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { PeerApi } from "./api.js"
import { storedBlockJson } from "./blocks-http.js"
import { defectSink, listen, makeHttpServer, serveApi } from "./http-server.js"
import { makeDefectCounter } from "./metrics.js"
import { publicGroup } from "./public-http.js"
import { FeedClient, loginAnswer } from "./feed-client.js"
import type { ValidatorId } from "../engine/names.js"
import { readKey, type NodeKey } from "./keys.js"
import { supplyOf } from "./http.js"
import { lockDataDir } from "./node.js"

export interface PeerFlags {
  readonly engine: string
  /** The key the peer logs in to the feed with: an observer's or a validator's (PROTOCOL.md section 9.7). */
  readonly key: string
  /** The hex hash of the federation's block 0: a replica refuses to start from any other. */
  readonly genesisHash: string
  readonly dataDir: string
  readonly port?: number | undefined
  readonly host?: string | undefined
}

export const violationExitCode = 3
/** A peer stores what it checked a page at a time (Replica.pageFull), or once no block came for this long. */
const flushDelayMs = 50

/** A violation: what is wrong, and the evidence to print. */
export class Violation extends Error {
  constructor(
    readonly fault: BlockFault,
    readonly evidence: Record<string, unknown>,
  ) {
    super(faultText(fault))
  }
}

const summary = (block: Pick<Block, "header" | "signatures">, hash: string) => ({ height: block.header.height, hash, header: block.header, signatures: block.signatures })

class PeerProgram {
  private replica: Replica | undefined
  violation: Violation | undefined

  constructor(
    private readonly store: LedgerStore,
    replica: Replica | undefined,
    private readonly onViolation: (violation: Violation) => void,
    private readonly onSaveFailed: (error: unknown) => void,
    private readonly genesisHash: string,
    private readonly key: NodeKey,
  ) {
    this.replica = replica
  }

  get height(): number {
    return this.replica?.height ?? -1
  }

  get state() {
    return this.replica
  }

  query = (): Record<string, string> => ({ from: String(this.height + 1), member: this.key.validator })

  /** The `auth` answer to the feed's challenge: a member logs in to read transactions. */
  login = (challenge: Record<string, unknown>): Record<string, unknown> | string => loginAnswer(this.key, this.genesisHash, challenge)

  frame = async (message: Record<string, unknown>, _socket: unknown, text?: string): Promise<void> => {
    if (this.violation !== undefined || message["type"] !== "block") return
    const received = decodeReceivedBlock(message["block"], text)
    if ("code" in received) return this.refuse(message["block"])
    const replica = this.replica
    const height = received.header.height
    if (replica === undefined || height <= replica.height) return this.decoded(message["block"])
    const hash = headerHash(received.header)
    const last = replica.chain.last
    const fault =
      height > replica.height + 1
        ? receivedFault(received, { code: "height", message: `expected height ${replica.height + 1}, got ${height}` })
        : await Effect.runPromise(replica.followFinal(received))
    if (fault !== undefined) {
      return this.stop(fault, { received: summary(received, hash), previous: { height: last.header.height, hash: last.hash, header: last.header } })
    }
    // Saved a page at a time while catching up, the next page checked while one is stored; the last
    // blocks of a burst are saved by `flushSoon`. A save that fails stops the peer, whichever path saves.
    if (replica.pageFull) await Effect.runPromise(replica.savePage).catch(this.saveFailed)
    else this.flushSoon(replica)
  }

  /**
   * A save failed: a block holding a transaction the replica had stored already is a violation (the
   * check against storage runs once per page, see Replica.followFinal); anything else is storage's.
   */
  private saveFailed = (error: unknown): void => {
    const failure = this.replica?.failed
    if (failure instanceof ReplayInStorage) {
      if (this.violation === undefined) this.stop(failure.fault, { received: failure.received, previous: failure.previous })
      return
    }
    this.onSaveFailed(error)
  }

  /** Stops on a block `decodeBlock` refuses. */
  private refuse(raw: unknown): void {
    const decoded = decodeBlock(raw)
    this.stop("code" in decoded ? decoded : { code: "malformed", message: "the block is not one" }, { received: raw })
  }

  /** Block 0, or a block at a height held already: decoded whole, transactions included. */
  private async decoded(raw: unknown): Promise<void> {
    const decoded = decodeBlock(raw)
    if ("code" in decoded) return this.stop(decoded, { received: raw })
    const { block, rawTxs } = decoded
    const hash = headerHash(block.header)
    const height = block.header.height
    if (this.replica !== undefined) return this.again(block, rawTxs, hash)
    if (height !== 0) return this.stop({ code: "height", message: `the feed began at height ${height}, not 0` }, { received: summary(block, hash) })
    const chain = chainFromGenesisBlock(block, rawTxs, this.genesisHash)
    const fault = "code" in chain ? chain : checkSignatures(hash, block.signatures, chain.setInForce)
    if (fault !== undefined) return this.stop(fault, { received: summary(block, hash) })
    const created = await Effect.runPromise(Replica.create(this.store, block, rawTxs, block.signatures, this.genesisHash))
    if ("code" in created) return this.stop(created, { received: summary(block, hash) })
    this.replica = created
  }

  private flushTimer: NodeJS.Timeout | undefined

  private flushSoon(replica: Replica): void {
    if (this.flushTimer !== undefined) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.saving = Effect.runPromise(replica.save).catch(this.saveFailed)
    }, flushDelayMs)
  }

  private saving: Promise<void> = Promise.resolve()

  /** Saves what was checked and not saved yet, now; the peer does so before it stops. */
  async flushNow(): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    await this.saving
    if (this.replica !== undefined) await Effect.runPromise(this.replica.save).catch(this.saveFailed)
  }

  /**
   * A block at a height already held: the same block is a harmless repeat; another one with valid
   * signatures of the set in force there is a fork, proof that validators signed two blocks.
   */
  private async again(block: Block, rawTxs: readonly unknown[], hash: string): Promise<void> {
    const height = block.header.height
    // The block held at this height may be checked but not saved yet: save it, to read it back.
    await this.flushNow()
    const [held] = await Effect.runPromise(this.store.blocks(height, 1, Number.MAX_SAFE_INTEGER, false))
    if (held !== undefined && held.hash === hash) return
    // The set that judges a block at this height: the one the block before left, or for a second
    // block 0 the one its own genesis document names.
    const genesis = height === 0 ? chainFromGenesisBlock(block, rawTxs) : undefined
    if (genesis !== undefined && "code" in genesis) return this.stop(genesis, { received: summary(block, hash) })
    const set =
      genesis !== undefined
        ? genesis.setInForce
        : await Effect.runPromise(this.store.blocks(height - 1, 1, 1, false)).then(([before]) =>
            before === undefined ? undefined : validatorSetOf(JSON.parse(before.validatorsNext)),
          )
    const signed = set === undefined ? undefined : checkSignatures(hash, block.signatures, set, needsPaymentChecker(set, block.txs.map((tx) => tx.kind)))
    const heldBlock = held === undefined ? undefined : (JSON.parse(storedBlockJson(held)) as Record<string, unknown>)
    const evidence = {
      received: summary(block, hash),
      held: heldBlock === undefined ? undefined : { height, hash: held?.hash, header: heldBlock["header"], signatures: heldBlock["signatures"] },
    }
    if (set === undefined) return this.stop({ code: "height", message: `no block ${height - 1} held to judge block ${height}` }, evidence)
    if (signed !== undefined) return this.stop(signed, evidence)
    return this.stop({ code: "fork", message: `two different final blocks at height ${height}: ${held?.hash ?? "?"} and ${hash}` }, evidence)
  }

  private stop(fault: BlockFault, evidence: Record<string, unknown>): void {
    this.violation = new Violation(fault, { violation: fault.code, reason: faultText(fault), ...evidence })
    this.onViolation(this.violation)
  }
}

/** The peer's public API: its replica's health, supply and blocks, as the node serves them. */
const servePeerApi = (server: Server, program: PeerProgram, store: LedgerStore) => {
  const source = {
    readiness: () => {
      const replica = program.state
      const reason = program.violation === undefined ? undefined : `stopped on a violation: ${program.violation.message}`
      return { ready: reason === undefined, height: replica?.saved.height ?? -1, transactions: replica?.saved.lastSeq ?? -1, reason }
    },
    supply: () => {
      const replica = program.state
      return replica === undefined ? undefined : supplyOf(replica.chain.state, replica.lastSeq)
    },
    store,
    openApi: OpenApi.fromApi(PeerApi),
    // Members as the replica knows them: the validators in force after its last block, the observers.
    isMember: (id: string) => {
      const replica = program.state
      return replica !== undefined && (replica.chain.setInForce.keys.includes(id as ValidatorId) || replica.chain.state.observers.includes(id as ValidatorId))
    },
    genesisHash: () => program.state?.chain.state.genesisHash,
    nowMs: () => Date.now(),
  }
  // The public group is one definition shared by both APIs; its layer is typed with the node's.
  const group = publicGroup(source) as unknown as Layer.Layer<HttpApiGroup.ApiGroup<"gesell-peer", "public">, never, HttpApiBuilder.Router>
  return serveApi(server, HttpApiBuilder.api(PeerApi).pipe(Layer.provide(group)), defectSink(makeDefectCounter()))
}

export const runPeer = (flags: PeerFlags) =>
  Effect.gen(function* () {
    const key = yield* Effect.try({ try: () => readKey(flags.key), catch: (error) => new Error(`cannot use the key ${flags.key}: ${String(error)}`) })
    mkdirSync(flags.dataDir, { recursive: true })
    yield* lockDataDir(flags.dataDir)
    const store = yield* Ledger
    const replica = yield* Replica.open(store)
    const held = replica === undefined ? undefined : yield* replica.hashAt(0)
    if (held !== undefined && held !== flags.genesisHash) {
      return yield* Effect.fail(new Error(`the replica in ${flags.dataDir} starts from block 0 ${held}, not the pinned ${flags.genesisHash}`))
    }
    const stopped: { client?: FeedClient } = {}
    let saveFailed = false
    const program = new PeerProgram(store, replica, (violation) => {
      console.error(`PEER STOPPED: ${violation.message}`)
      console.error(JSON.stringify(violation.evidence))
      stopped.client?.stop()
    }, (error) => {
      // Memory is ahead of storage: stop, and let a restart resume from what storage holds.
      console.error(`peer: storage failed, stopping: ${String(error)}`)
      saveFailed = true
      stopped.client?.stop()
    }, flags.genesisHash, key)
    const server = makeHttpServer()
    yield* servePeerApi(server, program, store)
    const host = flags.host ?? "127.0.0.1"
    yield* listen(server, flags.port ?? 0, host, defectSink(makeDefectCounter()))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : flags.port
    yield* Console.log(`Peer following ${flags.engine}; replica at height ${program.height}; serving http://${host}:${port}/v1/blocks`)
    const log = (line: string) => console.error(`peer: ${line}`)
    const client = new FeedClient({ engine: flags.engine, query: program.query, frame: program.frame, login: program.login, log })
    stopped.client = client
    const status = setInterval(() => log(`height ${program.height}`), 10_000)
    yield* Effect.addFinalizer(() => Effect.sync(() => (clearInterval(status), client.stop())))
    yield* Effect.promise(() => client.run())
    yield* Effect.promise(() => program.flushNow())
    return program.violation !== undefined ? violationExitCode : saveFailed ? 1 : 0
  }).pipe(Effect.scoped, Effect.provide(pgliteLedger(join(flags.dataDir, "pglite"))))
