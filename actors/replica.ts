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
 * few MiB, and so the memory of the pages in flight (`savePage`).
 */
const pageBlocksMax = 500
const pageTxCharsMax = 2 * 1024 * 1024

/**
 * A block the feed gave as final that holds a transaction storage holds already, found by its page's
 * commit (followed final blocks are checked against storage a page at a time, see `followFinal`):
 * nothing of the page is stored, and the replica saves nothing more.
 */
export class ReplayInStorage extends Error {
  constructor(
    readonly fault: BlockFault,
    /** The block holding the transaction, and the block before it, as the replica holds them. */
    readonly received: BlockSummary,
    readonly previous: BlockSummary | undefined,
  ) {
    super(`block ${received.height}: ${fault.code}: ${fault.message}`)
  }
}

export interface BlockSummary {
  readonly height: number
  readonly hash: string
  readonly header: unknown
  readonly signatures: unknown
}

const summaryOf = (row: StoredBlock): BlockSummary => ({
  height: row.height,
  hash: row.hash,
  header: JSON.parse(row.header),
  signatures: row.signatures === undefined ? undefined : JSON.parse(row.signatures),
})

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
      replica.lastSavedBlock = tip.sealed
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
      const row = blockRow(block.header, block.txs.length, chain.last.hash, 0, JSON.stringify(set), signatures)
      yield* store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: [row] })
      const replica = new Replica(store, chain, 1)
      replica.saved = { height: 0, lastSeq: 0 }
      replica.lastSavedBlock = row
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
    const ids = block.txs.map((tx) => tx.id)
    const held = this.unsavedReplay(ids)
    return held !== undefined ? Effect.succeed(held) : this.storedReplay(ids)
  }

  /** A transaction of these ids that storage holds. */
  private storedReplay(ids: readonly string[]): Effect.Effect<BlockFault | undefined, unknown> {
    return this.store.knownTxIds(ids).pipe(Effect.map(([known]) => (known === undefined ? undefined : replayed(known))))
  }

  /** A transaction of these ids followed and not saved yet, or in a save under way. */
  private unsavedReplay(ids: readonly string[]): BlockFault | undefined {
    const held = ids.find((id) => this.unsavedIds.has(id) || this.isSaving(id))
    return held === undefined ? undefined : replayed(held)
  }

  private isSaving(id: string): boolean {
    for (const saving of this.savingIds) if (saving.has(id)) return true
    return false
  }

  /**
   * Checks and follows a final block in one re-execution, in memory (`save` stores it): its header
   * and signatures first, then that none of its transactions was followed already, then every
   * command re-executed. On a fault the replica is left as it was. A peer, and a validator catching
   * up, follow final blocks this way: a block they only follow needs no separate check.
   *
   * That no transaction is one storage holds already is checked once per page, by the page's save
   * (the ledger's unique index on ids refuses the commit whole): a lookup per block would wait for
   * the save under way and keep the follower from checking while storage writes. A replay found
   * there is a ReplayInStorage: the page is not
   * stored, nor anything after it. Final blocks are signed history: nothing is voted on them, so a
   * violation found a page later costs nothing but a stop. A block refused by re-execution is looked
   * up in storage at once, so that a replay is named as such whichever check finds it first.
   */
  followFinal(received: ReceivedBlock): Effect.Effect<BlockFault | undefined, unknown> {
    return Effect.suspend(() => {
      const early = receivedBlockFault(this.chain, received)
      if (early !== undefined) return Effect.succeed(receivedFault(received, early))
      const ids = received.rawTxs.flatMap((raw) => (isRecord(raw) && typeof raw["id"] === "string" ? [raw["id"]] : []))
      const replay = this.unsavedReplay(ids)
      if (replay !== undefined) return Effect.succeed(receivedFault(received, replay))
      const executed = followReceivedBlock(this.chain, received)
      if ("code" in executed) {
        return this.storedReplay(ids).pipe(Effect.map((replay) => receivedFault(received, replay ?? executed)))
      }
      this.record(received.header, executed, received.signatures)
      return Effect.succeed(undefined)
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
      touchedBy(state, tx, unsaved.touched, this.nextSeq + index)
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
  /** The chain of saves, one after the other in order; it never rejects (a failure is kept in `failure`). */
  private saving: Promise<void> = Promise.resolve()
  /** Why a save failed: nothing is saved after it, and every later save fails with it. */
  private failure: unknown = undefined
  /** The last block in storage, that a page's first block follows. */
  private lastSavedBlock: StoredBlock | undefined = undefined

  /** Whether a save failed, finding a replay (a ReplayInStorage) or for storage: the replica saves nothing more. */
  get failed(): unknown {
    return this.failure
  }

  /** Stores what was followed since the last save, and resolves once it and every save before it are stored. */
  readonly save: Effect.Effect<void> = Effect.suspend(() => {
    this.startSave()
    return this.afterSaves(this.saving)
  })

  /**
   * For a follower: once the blocks followed make a page (`pageFull`), starts saving it and goes on
   * as soon as the page before is stored, so that the next page is checked while this one is
   * written. At most two pages wait in memory: the one being stored and the one being followed.
   */
  readonly savePage: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.pageFull) return this.afterSaves(Promise.resolve())
    const before = this.saving
    this.startSave()
    return this.afterSaves(before)
  })

  private afterSaves(saves: Promise<void>): Effect.Effect<void> {
    return Effect.promise(() =>
      saves.then(() => {
        if (this.failure !== undefined) throw this.failure
      }),
    )
  }

  /** Takes what was followed since the last save and chains its commit after the saves under way. */
  private startSave(): void {
    const unsaved = this.unsaved
    if (unsaved.blocks.length === 0) return
    this.unsaved = emptyUnsaved()
    const ids = this.unsavedIds
    this.unsavedIds = new Set()
    this.savingIds.add(ids)
    // The rows are the state's values now, after the last block of the page: taken before any
    // further block is followed.
    const state = this.chain.state
    const rows = { txs: unsaved.txs, replies: [], ...touchedRows(state, unsaved.touched), blocks: unsaved.blocks }
    // The ledger's unique index on transaction ids refuses a page replaying a stored one, whole: only
    // then are the ids looked up, to name it. One statement per page, not two.
    const stored = this.store.commit(rows).pipe(
      Effect.catchAll((error) =>
        this.store.knownTxIds([...ids]).pipe(
          Effect.flatMap(([known]) => Effect.fail(known === undefined ? error : this.replayIn(unsaved, known))),
        ),
      ),
    )
    const last = unsaved.blocks[unsaved.blocks.length - 1]
    this.saving = this.saving.then(async () => {
      if (this.failure !== undefined) return
      try {
        const result = await Effect.runPromise(Effect.either(stored))
        if (result._tag === "Left") throw result.left
        if (last !== undefined) {
          this.saved = { height: last.height, lastSeq: last.firstSeq + last.txCount - 1 }
          this.lastSavedBlock = last
        }
      } catch (error) {
        this.failure = error
      } finally {
        this.savingIds.delete(ids)
      }
    })
  }

  /** The replay of transaction `id` found in storage, with the page's block that holds it and the block before. */
  private replayIn(unsaved: Unsaved, id: string): ReplayInStorage {
    const seq = unsaved.txs.find((tx) => tx.id === id)?.seq ?? -1
    const index = unsaved.blocks.findIndex((block) => seq >= block.firstSeq && seq < block.firstSeq + block.txCount)
    const block = unsaved.blocks[index] as StoredBlock
    const previous = index > 0 ? unsaved.blocks[index - 1] : this.lastSavedBlock
    return new ReplayInStorage(replayed(id), summaryOf(block), previous === undefined ? undefined : summaryOf(previous))
  }

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
