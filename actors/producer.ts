/**
 * The block producer: seals committed transactions into blocks, proposes them to validators,
 * collects their votes and marks blocks final (PROTOCOL.md section 5, ARCHITECTURE.md section 5).
 *
 * Taps never wait for any of this. The writer hands over each committed batch's transactions; the
 * producer seals a block every `blockIntervalMs`, or as soon as `blockTxMax` transactions wait,
 * stores its header (a sealed block is never changed: after a restart the same block is proposed
 * again), signs it with the node's key when that key is in the set in force, and sends it to the
 * validators connected to the feed. Votes are checked as they come; a block is final, in height
 * order, once it carries `threshold` distinct valid signatures of the set in force at its height,
 * and only then is it stored as final and sent to the feed's followers.
 *
 * Bounded: at most `pendingBlocksMax` sealed blocks, and `blocksPendingTxMax` transactions in them, wait
 * for finality (beyond that, sealing pauses and transactions stay in the ledger, to be sealed
 * later), and at most `bufferTxMax` committed
 * transactions wait in memory (beyond that the buffer is dropped and the producer reads them back
 * from storage when it catches up).
 */
import { Deferred, Duration, Effect, Exit, FiberId } from "effect"
import {
  genesisHeader,
  headerHash,
  signBlock,
  signatureValid,
  txRootOfTexts,
  type BlockHeader,
  type BlockSignature,
} from "../engine/block.js"
import { genesisTransaction, type Genesis } from "../engine/genesis.js"
import type { NodeLimits } from "../engine/limits.js"
import { MerkleAccumulator } from "../engine/hash.js"
import type { TimeMs, ValidatorId } from "../engine/names.js"
import type { Transaction, Validators } from "../engine/state.js"
import { evidenceKinds, needsPaymentChecker, validatorSetOf } from "../engine/validators.js"
import type { SigningKey } from "../engine/ed25519.js"
import type { LedgerStore, StoredBlock, StoredTx } from "../storage/ledger.js"

/** A sealed block waiting for votes. */
export interface PendingBlock {
  readonly header: BlockHeader
  readonly hash: string
  readonly firstSeq: number
  readonly txCount: number
  /** The block as a proposal: header and transactions, no signatures. */
  readonly proposal: string
  /** The set whose signatures make it final. */
  readonly set: Validators
  readonly validatorsNext: Validators
  readonly signatures: Map<ValidatorId, string>
  /** Whether it is final only with a payment checker's signature (it holds a refill, and the set names checkers). */
  readonly needsChecker: boolean
  /** When its oldest transaction was committed, for the finality lag. */
  readonly committedAtMs: number
}

export interface ProducerEvents {
  readonly sealed?: (block: PendingBlock) => void
  readonly final?: (height: number, lagMs: number) => void
  readonly vote?: (outcome: "counted" | "ignored" | "invalid") => void
  /** Storage failed under the producer; it retries from storage. */
  readonly failed?: (error: unknown) => void
}

export interface NodeSigner {
  readonly validator: ValidatorId
  readonly key: SigningKey
}

/** Sealed blocks waiting for finality, at most. */
export const pendingBlocksMax = 1024


interface Buffered {
  readonly seq: number
  readonly body: string
  /** The transaction's own time: its block's header time is at least this. */
  readonly time: number
  readonly committedAtMs: number
}

/**
 * Committed transactions waiting for their block: consecutive, at most blockTxMax, with the Merkle
 * root of their texts built as they arrive (hashing spread over the commits, not paid at sealing).
 */
interface Chunk {
  readonly txs: Buffered[]
  readonly tree: MerkleAccumulator
}

type Tip = { readonly header: BlockHeader; readonly hash: string; readonly nextSeq: number; readonly validatorsNext: Validators }

export class BlockProducer {
  private tip: Tip | undefined
  private finalHeight = -1
  private readonly pending = new Map<number, PendingBlock>()
  private chunks: Chunk[] = []
  private buffered = 0
  private wake = Deferred.unsafeMake<void>(FiberId.none)
  /** Listeners of sealed and final blocks (the feed's connections). */
  private readonly watchers = new Set<() => void>()
  private readonly bufferTxMax: number

  constructor(
    private readonly store: LedgerStore,
    private readonly limits: NodeLimits,
    private readonly genesis: Genesis,
    private readonly signer: NodeSigner,
    private readonly nowMs: () => number,
    private readonly events: ProducerEvents = {},
  ) {
    this.bufferTxMax = Math.max(4 * limits.blockTxMax, 1024)
  }

  /** The last block sealed, stored and open for votes (a block being stored is not counted yet). */
  get sealedHeight(): number {
    return this.openedHeight
  }

  private openedHeight = -1

  get finalizedHeight(): number {
    return this.finalHeight
  }

  private finalThroughSeq = -1

  /** The seq of the last transaction in a final block; -1 while none is final. */
  get finalSeq(): number {
    return this.finalThroughSeq
  }

  get proposer(): ValidatorId {
    return this.signer.validator
  }

  private genesisBlockHash: string | undefined

  /** The hash of block 0's header, which names the federation (known once `start` has run). */
  get genesisHash(): string {
    if (this.genesisBlockHash === undefined) throw new Error("the block producer has not started: no block 0 yet")
    return this.genesisBlockHash
  }

  /**
   * Whether a key is a validator of the set in force: at some height that is not final yet (the
   * set of each block waiting for votes, and the one the next block will be judged by). A key
   * removed by a block that is not final still votes for the blocks before it; a key added votes
   * for the blocks after it.
   */
  isValidatorInForce(validator: ValidatorId): boolean {
    let set = this.tip?.validatorsNext ?? this.genesis.validators
    if (set.keys.includes(validator)) return true
    for (const block of this.pending.values()) {
      // Consecutive blocks share one set object until a change: each set is looked at once.
      if (block.set === set) continue
      set = block.set
      if (set.keys.includes(validator)) return true
    }
    return false
  }

  /** A sealed, not yet final block. */
  pendingBlock(height: number): PendingBlock | undefined {
    return this.pending.get(height)
  }

  /** Called with each committed batch's transactions, in seq order. */
  committed(txs: readonly StoredTx[], atMs: number): void {
    if (txs.length === 0) return
    this.committedThrough = (txs[txs.length - 1] as StoredTx).seq
    if (this.buffered + txs.length > this.bufferTxMax) {
      // Dropped, not lost: they are in storage, and sealing reads them back from there.
      this.dropBuffer()
      return
    }
    for (const tx of txs) {
      let chunk = this.chunks[this.chunks.length - 1]
      if (chunk === undefined || chunk.txs.length >= this.limits.blockTxMax) {
        chunk = { txs: [], tree: new MerkleAccumulator() }
        this.chunks.push(chunk)
      }
      chunk.txs.push({ seq: tx.seq, body: tx.body, time: tx.time, committedAtMs: atMs })
      chunk.tree.addText(tx.body)
    }
    this.buffered += txs.length
    if ((this.chunks[0]?.txs.length ?? 0) >= this.limits.blockTxMax) this.signal()
  }

  /**
   * The last committed seq the producer was told of; undefined until the first commit after its
   * start (what was committed before, it reads from storage).
   */
  private committedThrough: number | undefined = undefined

  private dropBuffer(): void {
    this.chunks = []
    this.buffered = 0
  }

  /** Subscribes to "something was sealed or became final"; returns the unsubscribe. */
  watch(listener: () => void): () => void {
    this.watchers.add(listener)
    return () => this.watchers.delete(listener)
  }

  private signal(): void {
    Deferred.unsafeDone(this.wake, Exit.void)
  }

  private notify(): void {
    for (const listener of this.watchers) listener()
  }

  /**
   * A validator's vote. Counted when it is for the block sealed at that height, by a member of the
   * set in force there, and verifies; anything else is ignored (a late vote for a final block) or
   * invalid (a bad signature).
   */
  vote(height: number, hash: string, validator: ValidatorId, signature: string): "counted" | "ignored" | "invalid" {
    const block = this.pending.get(height)
    let outcome: "counted" | "ignored" | "invalid" = "ignored"
    if (block !== undefined && block.hash === hash && block.set.keys.includes(validator)) {
      if (signatureValid(hash, { validator, signature })) {
        block.signatures.set(validator, signature)
        outcome = "counted"
        if (height === this.finalHeight + 1 && signedEnough(block)) this.signal()
      } else outcome = "invalid"
    } else if (block !== undefined && block.hash !== hash) outcome = "invalid"
    this.events.vote?.(outcome)
    return outcome
  }

  /** Reads the chain's tip from storage, seals block 0 if there is none, and re-opens pending blocks. */
  readonly start: Effect.Effect<void, unknown> = Effect.gen(this, function* () {
    const tip = yield* this.store.blockTip
    this.finalHeight = tip.finalHeight
    if (tip.finalHeight >= 0) {
      const [final] = yield* this.store.blocks(tip.finalHeight, 1, 1, true)
      if (final !== undefined) this.finalThroughSeq = final.firstSeq + final.txCount - 1
    }
    if (tip.sealed === undefined) {
      yield* this.sealGenesis
    } else {
      const [genesisBlock] = yield* this.store.blocks(0, 1, 1, false)
      if (genesisBlock?.height !== 0) return yield* Effect.dieMessage("the ledger has blocks but no block 0")
      this.genesisBlockHash = genesisBlock.hash
      this.tip = tipOf(tip.sealed)
      this.openedHeight = tip.sealed.height
      yield* this.reopenPending(tip.finalHeight + 1)
    }
  })

  /** Block 0 from the stored genesis transaction (seq 0). */
  private readonly sealGenesis = Effect.gen(this, function* () {
    const [stored] = yield* this.store.transactions(0, 1)
    if (stored === undefined || stored.seq !== 0) return yield* Effect.dieMessage("the ledger has no genesis transaction")
    const memo = (JSON.parse(stored.body) as Transaction).memo
    const tx = genesisTransaction(memo ?? null, stored.time as TimeMs)
    const header = genesisHeader(this.genesis, tx, this.signer.validator)
    const set = this.genesis.validators
    this.genesisBlockHash = headerHash(header)
    yield* this.seal(header, 0, 1, set, set, stored.body, stored.time)
  })

  /** Sealed blocks above the last final one, read back to be proposed again. */
  private reopenPending(fromHeight: number) {
    return Effect.gen(this, function* () {
      let height = fromHeight
      let set = yield* this.setInForceAt(fromHeight)
      for (;;) {
        const blocks = yield* this.store.blocks(height, 100, this.limits.blockTxMax * 4, false)
        if (blocks.length === 0) return
        for (const block of blocks) {
          const header = JSON.parse(block.header) as BlockHeader
          const next = validatorSetOf(JSON.parse(block.validatorsNext)) ?? set
          this.open(this.pendingOf(header, block.hash, block.firstSeq, block.txCount, set, next, block.txs, this.nowMs()))
          set = next
          height = block.height + 1
        }
      }
    })
  }

  /** The set in force at a height: the one the block before it left. */
  private setInForceAt(height: number) {
    return Effect.gen(this, function* () {
      if (height === 0) return this.genesis.validators
      const [before] = yield* this.store.blocks(height - 1, 1, 1, false)
      const set = before === undefined ? undefined : validatorSetOf(JSON.parse(before.validatorsNext))
      return set ?? this.genesis.validators
    })
  }

  /** Stores a sealed block, then opens it for votes. */
  private seal(header: BlockHeader, firstSeq: number, txCount: number, set: Validators, next: Validators, txTexts: string, committedAtMs: number) {
    return Effect.gen(this, function* () {
      const block = this.pendingOf(header, headerHash(header), firstSeq, txCount, set, next, txTexts, committedAtMs)
      yield* this.store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: [rowOf(block)] })
      this.open(block)
    })
  }

  private pendingOf(
    header: BlockHeader,
    hash: string,
    firstSeq: number,
    txCount: number,
    set: Validators,
    next: Validators,
    txTexts: string,
    committedAtMs: number,
  ): PendingBlock {
    return {
      header,
      hash,
      firstSeq,
      txCount,
      proposal: `{"header":${JSON.stringify(header)},"txs":[${txTexts}]}`,
      set,
      validatorsNext: next,
      signatures: new Map(),
      // Canonical texts: a refill's holds "kind":"refill"; a text that only mentions the words asks
      // for a checker's signature too, which is never less safe.
      needsChecker: needsPaymentChecker(set, evidenceKinds.filter((kind) => txTexts.includes(`"kind":"${kind}"`))),
      committedAtMs,
    }
  }

  /** A stored sealed block, open for votes: the node signs it first when its key is in the set. */
  private open(block: PendingBlock): void {
    if (block.set.keys.includes(this.signer.validator)) {
      block.signatures.set(this.signer.validator, signBlock(this.signer.key, this.signer.validator, block.hash).signature)
    }
    this.pending.set(block.header.height, block)
    this.openedHeight = block.header.height
    this.tip = { header: block.header, hash: block.hash, nextSeq: block.firstSeq + block.txCount, validatorsNext: block.validatorsNext }
    this.events.sealed?.(block)
    this.notify()
    this.signal()
  }

  /**
   * The producer's loop: finalize what has the votes, seal what is due, sleep until woken or due.
   * When storage fails, the producer waits, then reloads the chain from storage, keeping the votes
   * already counted for the blocks it finds again.
   */
  readonly loop: Effect.Effect<never> = Effect.gen(this, function* () {
    yield* this.finalizeReady
    yield* this.sealDue
    const wake = this.wake
    yield* Effect.raceFirst(Deferred.await(wake), Effect.sleep(Duration.millis(this.limits.blockIntervalMs)))
    if (wake === this.wake) this.wake = Deferred.unsafeMake<void>(FiberId.none)
  }).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => this.events.failed?.(error)).pipe(
        Effect.zipRight(Effect.sleep(Duration.seconds(1))),
        Effect.zipRight(this.reload),
        Effect.ignore,
      ),
    ),
    Effect.forever,
  )

  private readonly reload = Effect.gen(this, function* () {
    const before = new Map(this.pending)
    this.pending.clear()
    this.dropBuffer()
    yield* this.start
    for (const [height, block] of this.pending) {
      const old = before.get(height)
      if (old?.hash === block.hash) for (const [validator, signature] of old.signatures) block.signatures.set(validator, signature)
    }
    this.signal()
  })

  /** Marks final, in height order, every block that has its threshold: one commit for all of them. */
  private readonly finalizeReady = Effect.gen(this, function* () {
    const ready: PendingBlock[] = []
    for (let height = this.finalHeight + 1; ; height++) {
      const block = this.pending.get(height)
      if (block === undefined || !signedEnough(block)) break
      ready.push(block)
    }
    if (ready.length === 0) return
    const rows = ready.map((block): StoredBlock => {
      const signatures: BlockSignature[] = [...block.signatures]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([validator, signature]) => ({ validator, signature }))
      return { ...rowOf(block), signatures: JSON.stringify(signatures) }
    })
    yield* this.store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: rows })
    const now = this.nowMs()
    for (const block of ready) {
      this.pending.delete(block.header.height)
      this.finalHeight = block.header.height
      this.finalThroughSeq = block.firstSeq + block.txCount - 1
      this.events.final?.(block.header.height, Math.max(0, now - block.committedAtMs))
    }
    this.notify()
  })

  private pendingTxs(): number {
    let count = 0
    for (const block of this.pending.values()) count += block.txCount
    return count
  }

  /**
   * Seals every block that is due: `blockTxMax` transactions wait, or the oldest waited
   * `blockIntervalMs`. All the blocks sealed in one turn are stored in one commit, then opened.
   */
  private readonly sealDue = Effect.gen(this, function* () {
    const sealed: PendingBlock[] = []
    for (;;) {
      const tip = this.tip
      if (tip === undefined || this.pending.size + sealed.length >= pendingBlocksMax) break
      const waiting = this.pendingTxs() + sealed.reduce((sum, block) => sum + block.txCount, 0)
      // At the bound, stop before reading: with the buffer dropped, each reading is a page of
      // blockTxMax transactions from storage, which every turn would pay while sealing is paused.
      if (waiting > 0 && this.committedThrough !== undefined) {
        const next = Math.min(this.limits.blockTxMax, this.committedThrough - tip.nextSeq + 1)
        if (next <= 0 || waiting + next > this.limits.blocksPendingTxMax) break
      }
      const next = yield* this.nextTransactions(tip.nextSeq)
      const first = next.txs[0]
      if (first === undefined) break
      if (waiting > 0 && waiting + next.txs.length > this.limits.blocksPendingTxMax) break
      const waitedMs = this.nowMs() - first.committedAtMs
      if (next.txs.length < this.limits.blockTxMax && waitedMs < this.limits.blockIntervalMs) break
      if (next.chunk !== undefined) this.takeChunk()
      const block = this.sealNext(tip, next.txs, next.root)
      sealed.push(block)
      this.tip = { header: block.header, hash: block.hash, nextSeq: block.firstSeq + block.txCount, validatorsNext: block.validatorsNext }
    }
    if (sealed.length === 0) return
    yield* this.store.commit({ txs: [], replies: [], wallets: [], cards: [], blocks: sealed.map(rowOf) })
    for (const block of sealed) this.open(block)
  })

  /**
   * The next block's header time is the producer's clock, but never before the previous block's nor
   * any of its own transactions' (PROTOCOL.md section 9.1): the writer dates a transaction at the
   * latest of its clock and the last transaction's time, which stays ahead of the wall clock after
   * that clock stepped back, or ahead of this one if the two differ.
   */
  private sealNext(tip: Tip, txs: readonly Buffered[], txRoot: string): PendingBlock {
    const texts = txs.map((tx) => tx.body)
    let timeMs = Math.max(this.nowMs(), tip.header.time)
    for (const tx of txs) timeMs = Math.max(timeMs, tx.time)
    const header: BlockHeader = {
      federation: this.genesis.federation.id,
      height: tip.header.height + 1,
      prev: tip.hash,
      time: timeMs as TimeMs,
      txRoot,
      txCount: txs.length,
      proposer: this.signer.validator,
    }
    const next = nextSet(tip.validatorsNext, texts)
    const committedAtMs = txs[0]?.committedAtMs ?? this.nowMs()
    return this.pendingOf(header, headerHash(header), tip.nextSeq, txs.length, tip.validatorsNext, next, texts.join(","), committedAtMs)
  }

  /**
   * The committed transactions of the next block, from `seq` (at most blockTxMax) and their root:
   * the first chunk in memory when it starts there, else read back from storage.
   */
  private nextTransactions(seq: number) {
    return Effect.gen(this, function* () {
      // Chunks wholly below `seq` were sealed from storage meanwhile; one that straddles it cannot be used.
      while ((this.chunks[0]?.txs[this.chunks[0].txs.length - 1]?.seq ?? Infinity) < seq) this.takeChunk()
      const chunk = this.chunks[0]
      if (chunk !== undefined && chunk.txs[0]?.seq === seq) return { txs: chunk.txs, root: chunk.tree.root(), chunk }
      if (chunk !== undefined && (chunk.txs[0]?.seq ?? seq) < seq) this.dropBuffer()
      // The buffer starts later (or was dropped): read the gap back from storage.
      const stored = yield* this.store.transactions(seq, this.limits.blockTxMax)
      const atMs = this.nowMs() - this.limits.blockIntervalMs
      const txs = stored.map((tx) => ({ seq: tx.seq, body: tx.body, time: tx.time, committedAtMs: Math.min(atMs, tx.time) }))
      return { txs, root: txRootOfTexts(txs.map((tx) => tx.body)), chunk: undefined }
    })
  }

  /** Removes the first chunk (sealed now, or below the chain's tip). */
  private takeChunk(): void {
    const chunk = this.chunks.shift()
    if (chunk !== undefined) this.buffered -= chunk.txs.length
  }
}

/**
 * Whether a block has the signatures that make it final: `threshold` distinct members of its set,
 * one of them a payment checker when it holds a refill (PROTOCOL.md section 9.5).
 */
const signedEnough = (block: PendingBlock): boolean =>
  block.signatures.size >= block.set.threshold &&
  (!block.needsChecker || (block.set.paymentCheckers ?? []).some((key) => block.signatures.has(key)))

const rowOf = (block: PendingBlock): StoredBlock => ({
  height: block.header.height,
  hash: block.hash,
  header: JSON.stringify(block.header),
  firstSeq: block.firstSeq,
  txCount: block.txCount,
  validatorsNext: JSON.stringify(block.validatorsNext),
})

const tipOf = (block: StoredBlock): Tip => {
  const header = JSON.parse(block.header) as BlockHeader
  const validatorsNext = validatorSetOf(JSON.parse(block.validatorsNext))
  if (validatorsNext === undefined) throw new Error(`block ${block.height} stores no valid validator set`)
  return { header, hash: block.hash, nextSeq: block.firstSeq + block.txCount, validatorsNext }
}

/**
 * The set in force after these transactions: the last `validators` transaction's. The texts are
 * canonical, so a validators transaction contains `"kind":"validators"` exactly; a memo that only
 * mentions those words is parsed and found not to be one.
 */
const nextSet = (current: Validators, texts: readonly string[]): Validators => {
  let set = current
  for (const text of texts) {
    if (!text.includes(`"kind":"validators"`)) continue
    const tx = JSON.parse(text) as Transaction
    if (tx.kind !== "validators") continue
    set = validatorSetOf(tx.memo) ?? set
  }
  return set
}

