/**
 * A replica of the federation's ledger, kept by a validator or a peer in its own storage: the
 * engine's state after its last block, rebuilt from storage at start, and extended one checked block
 * at a time. Each block is stored (its transactions, the wallets and cards they touched, the block
 * row) in one commit before anything is said about it, so that a validator never votes for a block
 * it could forget, and a replica that restarts resumes from the last block it stored.
 */
import { Clock, Effect } from "effect"
import {
  chainFromGenesisBlock,
  checkBlock,
  followBlock,
  followReceivedBlock,
  receivedBlockFault,
  receivedFault,
  type Block,
  type BlockFault,
  type BlockSignature,
  type Chain,
  type BlockHeader,
  type Executed,
  type ReceivedBlock,
} from "../engine/block.js"
import { canonicalJson } from "../engine/canonical.js"
import { isRecord } from "../engine/names.js"
import type { JsonValue } from "../engine/state.js"
import type { LedgerStore, StoredBlock, StoredTx } from "../storage/ledger.js"
import { emptyTouched, stateFromSnapshot, touchedBy, touchedRows, type Touched } from "./snapshot.js"
import { validatorSetOf } from "../engine/validators.js"

const canonicalText = (value: unknown): string => {
  const text = canonicalJson(value)
  // decodeBlock has checked every transaction's canonical form already.
  if (!text.ok) throw new Error(`a checked transaction has no canonical form: ${text.reason} at ${text.path}`)
  return text.value
}

/**
 * Blocks followed in a row (a peer, a validator catching up) are stored a page at a time: one commit
 * per page rather than per block, and the wallets a page touches written once. A page ends at this
 * many blocks or characters of transactions. The bound in characters keeps a commit's statement a
 * few MiB: PGlite's socket server copies the part of a statement received so far on each chunk that
 * arrives, so that a statement's cost there grows with the square of its size.
 */
const pageBlocksMax = 500
const pageTxCharsMax = 2 * 1024 * 1024

export class Replica {
  private constructor(
    private readonly store: LedgerStore,
    readonly chain: Chain,
    private nextSeq: number,
  ) {}

  get height(): number {
    return this.chain.last.header.height
  }

  get lastSeq(): number {
    return this.nextSeq - 1
  }

  /** The last block, and transaction, in storage (followed blocks may wait to be saved). */
  saved: { readonly height: number; readonly lastSeq: number } = { height: -1, lastSeq: -1 }

  /** The replica in this storage, or undefined when it holds none yet. */
  static open(store: LedgerStore): Effect.Effect<Replica | undefined, unknown> {
    return Effect.gen(function* () {
      if (!(yield* store.initialized)) return undefined
      const now = yield* Clock.currentTimeMillis
      const snapshot = yield* store.load(now, 0)
      const tip = yield* store.blockTip
      if (tip.sealed === undefined) {
        // Block 0 is stored in a commit after the ledger's initialization (Replica.create): a
        // replica stopped between the two holds the genesis alone, and creates itself again from
        // block 0, which the feed sends first.
        if (snapshot.lastSeq === 0) return undefined
        return yield* Effect.fail(new Error("this storage holds a ledger but no block: it is not a replica"))
      }
      const state = stateFromSnapshot(snapshot)
      const setInForce = validatorSetOf(JSON.parse(tip.sealed.validatorsNext))
      if (setInForce === undefined) return yield* Effect.fail(new Error("the last stored block names no valid validator set"))
      const header = JSON.parse(tip.sealed.header) as BlockHeader
      // The next transaction's time is never before the last one's: a replica that restarts must
      // hold the same bound as one that did not.
      const [lastTx] = yield* store.transactions(snapshot.lastSeq, 1)
      const chain: Chain = { state, last: { header, hash: tip.sealed.hash }, setInForce, lastTxTimeMs: lastTx?.time ?? 0 }
      const replica = new Replica(store, chain, snapshot.lastSeq + 1)
      replica.saved = { height: header.height, lastSeq: snapshot.lastSeq }
      return replica
    })
  }

  /**
   * A new replica from block 0, checked (`chainFromGenesisBlock`), signatures included when given:
   * the ledger is initialized from the genesis document and block 0 stored.
   */
  static create(
    store: LedgerStore,
    block: Block,
    rawTxs: readonly unknown[],
    signatures: readonly BlockSignature[] | undefined,
    pinnedHash?: string,
  ): Effect.Effect<Replica | BlockFault, unknown> {
    return Effect.gen(function* () {
      const chain = chainFromGenesisBlock(block, rawTxs, pinnedHash)
      if ("code" in chain) return chain
      const tx = block.txs[0]
      const genesisTx = rawTxs[0]
      if (tx === undefined || genesisTx === undefined) return yield* Effect.dieMessage("a checked block 0 has its transaction")
      const set = chain.setInForce
      const stored: StoredTx = { seq: 0, id: tx.id, time: tx.time, body: canonicalText(genesisTx) }
      const { created } = yield* store.initialize(tx.memo as JsonValue, stored)
      if (!created) {
        // A creation stopped before block 0 was stored (see open): the genesis held must be this one.
        const [held] = yield* store.transactions(0, 1)
        if (held?.body !== stored.body) return yield* Effect.fail(new Error("this storage holds another genesis than the block 0 received"))
      }
      yield* store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: [blockRow(block.header, block.txs.length, chain.last.hash, 0, JSON.stringify(set), signatures)] })
      const replica = new Replica(store, chain, 1)
      replica.saved = { height: 0, lastSeq: 0 }
      return replica
    })
  }

  /**
   * Whether a block may follow this replica (signatures aside); changes nothing. Besides the pure
   * checks, no transaction may be one the ledger holds already (a replayed transaction would apply
   * its legs twice): its id is looked up in storage, and among the blocks followed but not saved.
   */
  check(block: Block, rawTxs: readonly unknown[]): Effect.Effect<BlockFault | undefined, unknown> {
    const fault = checkBlock(this.chain, block, rawTxs)
    if (fault !== undefined) return Effect.succeed(fault)
    return this.replayFault(block.txs.map((tx) => tx.id))
  }

  /** A transaction of these ids the ledger holds already: in storage, or followed and not saved yet. */
  private replayFault(ids: readonly string[]): Effect.Effect<BlockFault | undefined, unknown> {
    const held = ids.find((id) => this.unsavedIds.has(id) || this.isSaving(id))
    if (held !== undefined) return Effect.succeed(replayed(held))
    return this.store.knownTxIds(ids).pipe(Effect.map(([known]) => (known === undefined ? undefined : replayed(known))))
  }

  private isSaving(id: string): boolean {
    for (const saving of this.savingIds) if (saving.has(id)) return true
    return false
  }

  /**
   * Checks and follows a final block in one re-execution, in memory (`save` stores it): its header
   * and signatures first, then that none of its transactions is in the ledger already, then every
   * command re-executed. On a fault the replica is left as it was. A peer, and a validator catching
   * up, follow final blocks this way: a block they only follow needs no separate check.
   */
  followFinal(received: ReceivedBlock): Effect.Effect<BlockFault | undefined, unknown> {
    return Effect.suspend(() => {
      const early = receivedBlockFault(this.chain, received)
      if (early !== undefined) return Effect.succeed(receivedFault(received, early))
      const ids = received.rawTxs.flatMap((raw) => (isRecord(raw) && typeof raw["id"] === "string" ? [raw["id"]] : []))
      return this.replayFault(ids).pipe(
        Effect.map((replay) => {
          if (replay !== undefined) return receivedFault(received, replay)
          const executed = followReceivedBlock(this.chain, received)
          if ("code" in executed) return receivedFault(received, executed)
          this.record(received.header, executed, received.signatures)
          return undefined
        }),
      )
    })
  }

  /** Ids of the transactions followed but not saved yet, and of those in a commit under way. */
  private unsavedIds = new Set<string>()
  private readonly savingIds = new Set<Set<string>>()

  /** The stored hash of the block at a height this replica holds. */
  hashAt(height: number): Effect.Effect<string | undefined, unknown> {
    if (height === this.height) return Effect.succeed(this.chain.last.hash)
    return this.store.blocks(height, 1, 1, false).pipe(Effect.map((blocks) => (blocks[0]?.height === height ? blocks[0].hash : undefined)))
  }

  /**
   * Applies and stores a block that `check` accepted. A failed commit leaves memory ahead of
   * storage, so it is a defect: the process stops and its restart reloads from storage.
   */
  append(block: Block, rawTxs: readonly unknown[], signatures: readonly BlockSignature[] | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.follow(block, rawTxs, signatures)
      return this.save
    })
  }

  /**
   * Applies a block that `check` accepted, in memory only; `save` stores every block followed since
   * the last save in one commit. A peer catching up saves a page of blocks at a time.
   */
  follow(block: Block, rawTxs: readonly unknown[], signatures: readonly BlockSignature[] | undefined): void {
    const executed = followBlock(this.chain, block, rawTxs)
    if ("code" in executed) throw new Error(`a checked block failed to follow: ${executed.code}: ${executed.message}`)
    this.record(block.header, executed, signatures)
  }

  /** Keeps what a block followed changed, for the next `save`. */
  private record(header: BlockHeader, executed: Executed, signatures: readonly BlockSignature[] | undefined): void {
    const state = this.chain.state
    const unsaved = this.unsaved
    executed.txs.forEach((tx, index) => {
      touchedBy(state, tx, unsaved.touched)
      this.unsavedIds.add(tx.id)
      // The engine's text of the transaction, which re-execution found equal to the one received.
      const body = executed.texts[index] as string
      unsaved.txs.push({ seq: this.nextSeq + index, id: tx.id, time: tx.time, body, ref: tx.ref })
      unsaved.chars += body.length
    })
    unsaved.blocks.push(blockRow(header, executed.txs.length, this.chain.last.hash, this.nextSeq, JSON.stringify(this.chain.setInForce), signatures))
    this.nextSeq += executed.txs.length
  }

  /** Blocks followed but not saved yet. */
  get unsavedBlocks(): number {
    return this.unsaved.blocks.length
  }

  /** Whether the blocks followed but not saved make a page to save now (see pageBlocksMax). */
  get pageFull(): boolean {
    return this.unsaved.blocks.length >= pageBlocksMax || this.unsaved.chars >= pageTxCharsMax
  }

  private unsaved = emptyUnsaved()
  private saving: Promise<void> = Promise.resolve()

  /** Stores what was followed since the last save; saves run one after the other, in order. */
  readonly save: Effect.Effect<void> = Effect.suspend(() => {
    const unsaved = this.unsaved
    if (unsaved.blocks.length === 0) return Effect.promise(() => this.saving)
    this.unsaved = emptyUnsaved()
    const ids = this.unsavedIds
    this.unsavedIds = new Set()
    this.savingIds.add(ids)
    const state = this.chain.state
    const commit = this.store.commit({ txs: unsaved.txs, replies: [], ...touchedRows(state, unsaved.touched), blocks: unsaved.blocks })
    const previous = this.saving
    const last = unsaved.blocks[unsaved.blocks.length - 1]
    this.saving = previous.then(() => Effect.runPromise(Effect.orDie(commit))).then(() => {
      if (last !== undefined) this.saved = { height: last.height, lastSeq: last.firstSeq + last.txCount - 1 }
      this.savingIds.delete(ids)
    })
    return Effect.promise(() => this.saving)
  })

  /** Records the signatures that made a stored block final. */
  markFinal(height: number, signatures: readonly BlockSignature[]): Effect.Effect<void, unknown> {
    return Effect.gen(this, function* () {
      const [stored] = yield* this.store.blocks(height, 1, Number.MAX_SAFE_INTEGER, false)
      if (stored === undefined || stored.height !== height) return
      const { txs: _txs, ...row } = stored
      yield* this.store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: [{ ...row, signatures: JSON.stringify(signatures) }] })
    })
  }
}

const replayed = (id: string): BlockFault => ({ code: "reexecution", message: `transaction ${id} is already in the ledger` })

interface Unsaved {
  readonly txs: StoredTx[]
  readonly touched: Touched
  readonly blocks: StoredBlock[]
  /** Characters of the transactions' texts. */
  chars: number
}

const emptyUnsaved = (): Unsaved => ({ txs: [], touched: emptyTouched(), blocks: [], chars: 0 })

const blockRow = (
  header: BlockHeader,
  txCount: number,
  hash: string,
  firstSeq: number,
  validatorsNext: string,
  signatures: readonly BlockSignature[] | undefined,
): StoredBlock => ({
  height: header.height,
  hash,
  header: JSON.stringify(header),
  firstSeq,
  txCount,
  validatorsNext,
  signatures: signatures === undefined ? undefined : JSON.stringify(signatures),
})
