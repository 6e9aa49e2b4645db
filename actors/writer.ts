/**
 * The single writer of this node's wallets, and its committer.
 *
 * Every request is validated and applied by the pure engine, synchronously, against the in-memory
 * state: one writer, no lock, no per-tap IO. Its transaction (or its failure, which must be
 * remembered for retries) joins the pending batch; the committer writes the batch to storage in one
 * database transaction every `commitIntervalMs` or as soon as `commitTxMax` requests wait, and only
 * then are the replies sent. While a batch commits, the next one fills (pipelining).
 *
 * A node today owns every wallet, so one writer serves them all; when nodes share wallets in shards
 * (ARCHITECTURE.md section 6), each shard gets one. A per-wallet fiber would cost a mailbox round
 * trip per tap (about 8 µs measured) for no added safety, since the engine's work per tap is a few
 * microseconds of synchronous code.
 *
 * If a commit fails, nothing of it or of what came after it is acknowledged: those requests are
 * answered `unavailable`, the node stops taking requests, and the state is reloaded from storage
 * as soon as storage answers again (fail-stop). A request whose commit did reach the database before
 * the failure is found there by its retry, with its first reply.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, FiberId, Option } from "effect"
import { requestKey, type Command } from "../engine/command.js"
import type { Approval } from "../engine/authority.js"
import { execute, fingerprint, type Executed } from "../engine/execute.js"
import { fail } from "../engine/outcome.js"
import { transactionJson } from "../engine/transaction.js"
import type { NodeLimits } from "../engine/limits.js"
import type { TimeMs, TxId } from "../engine/names.js"
import type { LedgerState, RequestRecord, Transaction } from "../engine/state.js"
import {
  requestWindowMs,
  StorageError,
  storageFailureText,
  type CommitBatch,
  type FoundReply,
  type LedgerStore,
  type StoredReply,
  type StoredTx,
} from "../storage/ledger.js"
import { emptyTouched, stateFromSnapshot, touchedBy, touchedRows, type Touched } from "./snapshot.js"
import { ForgottenRequests } from "./forgotten.js"

/** Bloom segments of forgotten request ids: about 1.25 MB per requestCacheMax ids, 256 at most. */
const forgottenSegmentsMax = 256
/** How often, in running time, the writer notes the newest time it has given (`timeRecordedBy`). */
const checkpointEveryMs = 60_000
import { forgetRequestsBefore } from "../engine/execute.js"
import { requestRetentionMs } from "../engine/limits.js"

/** What the writer answers without the engine. */
export type Refusal = "unavailable" | "overloaded"

/** One request handed to the writer by a transport. */
export interface Submission {
  readonly command: Command
  /** The approvals given with an operator's command (PROTOCOL.md section 9.3). */
  readonly approvals?: readonly Approval[] | undefined
  /** The wire reply for an engine outcome, rendered against the state right after it. */
  readonly render: (executed: Executed, state: LedgerState) => string
  /**
   * Runs right after the engine applied the request's transaction, before it joins its batch: what
   * the node keeps beside the ledger for it (a card's printed number) is committed with it.
   */
  readonly applied?: (tx: Transaction, state: LedgerState) => void
  readonly refuse: (why: Refusal) => void
  readonly reply: (json: string) => void
}

interface Entry {
  readonly json: string
  readonly key: string | undefined
  readonly record: RequestRecord | undefined
  readonly stored: StoredTx | StoredReply | undefined
  /** The request and its retries waiting for this entry: what runs again if the batch must (`runAgain`). */
  readonly submissions: Submission[]
  readonly waiters: Array<(json: string) => void>
  readonly refusers: Array<(why: Refusal) => void>
}

interface Batch {
  readonly entries: Entry[]
  readonly txs: StoredTx[]
  readonly replies: StoredReply[]
  readonly touched: Touched
  readonly firstArrived: Deferred.Deferred<void>
  readonly full: Deferred.Deferred<void>
  /** When the first request joined the batch: a batch that filled during a commit waits no longer. */
  firstArrivedMs: number
}

const newBatch = (): Batch => ({
  entries: [],
  txs: [],
  replies: [],
  touched: emptyTouched(),
  firstArrived: Deferred.unsafeMake<void>(FiberId.none),
  full: Deferred.unsafeMake<void>(FiberId.none),
  firstArrivedMs: 0,
})

export interface WriterEvents {
  readonly committed?: (requests: number, txs: number, durationMs: number) => void
  /** The transactions of each committed batch, in seq order, and when the commit returned. */
  readonly committedTxs?: (txs: readonly StoredTx[], atMs: number) => void
  readonly commitFailed?: (error: unknown) => void
  readonly recovered?: () => void
  readonly refused?: (why: Refusal) => void
}

export type WriterMode = "ready" | "unavailable"

export class LedgerWriter {
  private pending: Batch = newBatch()
  private inflight: Batch | undefined
  private lastTimeMs = 0
  mode: WriterMode = "ready"
  /**
   * Why the writer is unavailable, while it is: the last failure of a commit or of a reload, short
   * and without data from the ledger (`storageFailureText`), for the health endpoint to say.
   */
  unavailableReason: string | undefined = undefined
  /** Commits and reload attempts failed since the last commit that passed: what `recover` backs off by. */
  private failuresInRow = 0

  constructor(
    public state: LedgerState,
    private nextSeq: number,
    private readonly store: LedgerStore,
    private readonly limits: NodeLimits,
    private readonly commitTimeoutMs: number,
    private readonly events: WriterEvents = {},
    /** Its monotonic reading (`unsafeCurrentTimeNanos`) is the node's running time; tests give their own. */
    private readonly clock: Clock.Clock = Clock.make(),
  ) {
    this.forgotten = new ForgottenRequests(Math.max(limits.requestCacheMax, 1024), forgottenSegmentsMax)
    // The requests loaded come from earlier runs: a new one never gets an earlier time than theirs.
    this.lastTimeMs = newestRequestTime(state)
    this.runningMarkMs = this.runningNowMs()
    this.checkpoints.push({ runningMs: this.runningMarkMs, timeMs: this.lastTimeMs })
  }

  get height(): number {
    return this.nextSeq - 1
  }

  get queued(): number {
    return this.pending.entries.length + (this.inflight?.entries.length ?? 0) + (this.held?.length ?? 0)
  }

  /**
   * The node's running time, in milliseconds of its monotonic clock: a wall clock that jumps (a
   * device without a real-time clock setting itself, a virtual machine restored from a snapshot)
   * does not move it. Only differences are used: what each commit adds to the ledger's running time
   * (kept by storage across restarts), and how long ago in running time the writer noted a time.
   */
  private runningNowMs(): number {
    return Number(this.clock.unsafeCurrentTimeNanos() / 1_000_000n)
  }

  /**
   * The running time up to which storage was given the node's running time: each commit hands over
   * what ran since. A commit that fails loses its share, so the ledger's running time may fall
   * short of the node's, never exceed it: a request is then kept longer, never forgotten early.
   */
  private runningMarkMs: number

  /**
   * Times the writer had given by some running time: every request recorded with a time before
   * `timeMs` was recorded at `runningMs` or earlier, since times never go backwards (`run`).
   */
  private readonly checkpoints: Array<{ readonly runningMs: number; readonly timeMs: number }> = []

  /** Requests that arrive while the state is reloaded after a refused batch (`runAgain`), in order. */
  private held: Submission[] | undefined

  /**
   * Request ids forgotten from memory (the cache is bounded by requestCacheMax) within the retention
   * window: an id not in memory that may be among them is looked up in storage before it runs.
   */
  private readonly forgotten: ForgottenRequests

  /** Validates and applies now (synchronously, unless its id must first be looked up), replies once committed. */
  submit(submission: Submission, nowMs: number): void {
    if (this.mode !== "ready") return this.refuse(submission, "unavailable")
    if (this.queued >= this.limits.commitQueueTxMax) return this.refuse(submission, "overloaded")
    if (this.held !== undefined) return void this.held.push(submission)
    const key = submission.command.kind === "check" ? undefined : requestKey(submission.command)
    if (key !== undefined && !this.state.requests.has(key) && this.forgotten.mayContain(key)) {
      return this.lookUpThenRun(submission, key, nowMs)
    }
    this.run(submission, key, nowMs)
  }

  /**
   * A request id that may have been forgotten: its first reply, if storage has one within the
   * window, else it runs. A stored use past the window by the wall clock and by running time is an
   * earlier request under the same id: never answered as the first reply of this one.
   */
  private lookUpThenRun(submission: Submission, key: string, nowMs: number): void {
    this.lookUp(submission, key, (stored) => {
      if (stored === undefined || this.state.requests.has(key) || this.pastWindow(stored, nowMs)) {
        return this.submitRemembered(submission, key, nowMs)
      }
      this.answerStored(submission, key, stored)
    })
  }

  /**
   * Looks a request up in storage, off the writer's path. A failure of storage refuses the request
   * (the reader retries it); a defect is logged and refuses it too, instead of ending the process.
   */
  private lookUp(submission: Submission, key: string, found: (stored: FoundReply | undefined) => void): void {
    const [reader, request] = splitKey(key)
    Effect.runFork(
      this.store.reply(reader, request).pipe(
        Effect.flatMap((stored) => Effect.sync(() => found(stored))),
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Cause.isFailType(cause) ? Effect.void : Effect.logError("request look-up failed", cause),
            Effect.sync(() => this.refuse(submission, "unavailable")),
          ),
        ),
      ),
    )
  }

  /** The stored first reply of the request, or `conflict` when its id was used for a different one. */
  private answerStored(submission: Submission, key: string, stored: FoundReply): void {
    if (stored.fingerprint === fingerprint(submission.command)) return submission.reply(stored.reply)
    const conflict = fail("conflict", `request ${splitKey(key)[1]} was already used for a different request`, "id")
    submission.reply(submission.render({ ...conflict, replayed: false }, this.state))
  }

  /**
   * Whether a stored use of a request id is past the window by both measures, as the commit's check
   * will judge it (storage/statements.ts): the wall clock from the time this request would get, and
   * running time from storage's count plus what ran since the last commit took its share.
   */
  private pastWindow(stored: FoundReply, nowMs: number): boolean {
    const wallAgeMs = Math.max(nowMs, this.lastTimeMs) - stored.time
    // A request stored before running time was kept has none: its time alone says, as it did then.
    const runningAgeMs = stored.runningAgeMs === undefined ? Infinity : stored.runningAgeMs + this.runningNowMs() - this.runningMarkMs
    return wallAgeMs > requestWindowMs && runningAgeMs > requestWindowMs
  }

  private submitRemembered(submission: Submission, key: string, nowMs: number): void {
    if (this.mode !== "ready") return this.refuse(submission, "unavailable")
    if (this.held !== undefined) return void this.held.push(submission)
    this.run(submission, key, nowMs)
  }

  private run(submission: Submission, key: string | undefined, nowMs: number): void {
    // Times never go backwards, whatever the wall clock does (a clock set back, then forward again):
    // records stay in time order, which forgetting relies on, and a transaction is never older than
    // the one before it.
    const time = Math.max(nowMs, this.lastTimeMs)
    this.lastTimeMs = time
    const executed = execute(this.state, submission.command, { now: time as TimeMs, txId: String(this.nextSeq) as TxId, approvals: submission.approvals })
    if (executed.replayed) return this.answerRetry(submission, key)
    // A conflict changes nothing and depends on nothing uncommitted. Everything else, reads
    // included, is answered with its batch: a reply never shows a balance that is not durable.
    if (executed.status === "conflict") return submission.reply(submission.render(executed, this.state))
    if (executed.ok && executed.tx !== null) submission.applied?.(executed.tx, this.state)
    this.enqueue(submission, executed, key, time)
  }

  /** Request ids of the retention window that storage holds but the state was not loaded with. */
  rememberOlderRequests(requests: ReadonlyArray<{ readonly key: string; readonly time: number }>): void {
    for (const { key, time } of requests) this.forgotten.add(key, time)
  }

  /**
   * Forgets requests past the window by the wall clock and by the node's running time both, then
   * the oldest committed ones beyond requestCacheMax (storage still has them: `submit` looks them
   * up). A wall clock that jumps a day forward forgets nothing the node has not run a day past; one
   * that jumps back forgets nothing until it has caught up.
   */
  forgetOldRequests(nowMs: number): number {
    const beforeMs = Math.min(nowMs - requestWindowMs, this.timeRecordedBy(this.runningNowMs() - requestWindowMs))
    let forgotten = forgetRequestsBefore(this.state, beforeMs)
    this.forgotten.dropBefore(beforeMs)
    const requests = this.state.requests
    for (const [key, record] of requests) {
      if (requests.size <= this.limits.requestCacheMax) break
      if (record.reply === undefined) continue
      requests.delete(key)
      this.forgotten.add(key, record.time)
      forgotten++
    }
    return forgotten
  }

  /**
   * A time before which every request was recorded by running time `runningMs`, or -Infinity when
   * the writer has not run that long. Notes the time given so far once a minute of running time at
   * most, so a request may be forgotten a minute late, and the notes stay about 1,441 per window.
   */
  private timeRecordedBy(runningMs: number): number {
    const nowMs = this.runningNowMs()
    const last = this.checkpoints.at(-1)
    if (last === undefined || nowMs - last.runningMs >= checkpointEveryMs) this.checkpoints.push({ runningMs: nowMs, timeMs: this.lastTimeMs })
    while ((this.checkpoints[1]?.runningMs ?? Infinity) <= runningMs) this.checkpoints.shift()
    const oldest = this.checkpoints[0]
    return oldest !== undefined && oldest.runningMs <= runningMs ? oldest.timeMs : -Infinity
  }

  private refuse(submission: Submission, why: Refusal): void {
    this.events.refused?.(why)
    submission.refuse(why)
  }

  /**
   * A retry: the first reply if it is committed; else the retry waits for the first one's batch,
   * pending or being committed (a search, but retries are rare).
   */
  private answerRetry(submission: Submission, key: string | undefined): void {
    const record = key === undefined ? undefined : this.state.requests.get(key)
    if (record?.reply !== undefined) return submission.reply(record.reply)
    const entry =
      this.pending.entries.find((e) => e.record === record) ?? this.inflight?.entries.find((e) => e.record === record)
    if (entry === undefined) return this.refuse(submission, "unavailable")
    entry.submissions.push(submission)
    entry.waiters.push(submission.reply)
    entry.refusers.push(submission.refuse)
  }

  private enqueue(submission: Submission, executed: Executed, key: string | undefined, time: number): void {
    const json = submission.render(executed, this.state)
    const batch = this.pending
    const record = key === undefined ? undefined : this.state.requests.get(key)
    const [reader, request] = key === undefined ? ["-", undefined] : splitKey(key)
    let stored: StoredTx | StoredReply | undefined
    if (executed.ok && executed.tx !== null) {
      stored = this.storedTx(executed.tx, reader, request, record?.fingerprint, json)
      batch.txs.push(stored)
      touchedBy(this.state, executed.tx, batch.touched, stored.seq)
      this.lastTimeMs = time
    } else if (record !== undefined && request !== undefined) {
      stored = { reader, request, fingerprint: record.fingerprint, reply: json, time }
      batch.replies.push(stored)
    }
    batch.entries.push({ json, key, record, stored, submissions: [submission], waiters: [submission.reply], refusers: [submission.refuse] })
    if (batch.entries.length === 1) {
      batch.firstArrivedMs = time
      Deferred.unsafeDone(batch.firstArrived, Exit.void)
    }
    if (batch.entries.length >= this.limits.commitTxMax) Deferred.unsafeDone(batch.full, Exit.void)
  }

  private storedTx(tx: Transaction, reader: string, request: string | undefined, fingerprint: string | undefined, reply: string): StoredTx {
    const seq = this.nextSeq++
    return {
      seq,
      id: tx.id,
      time: tx.time,
      // Canonical (RFC 8785) from the start: a block's Merkle leaves are these bytes as stored.
      body: transactionJson(tx),
      reader: request === undefined ? undefined : reader,
      request,
      fingerprint,
      reply,
      ref: tx.ref,
    }
  }

  /** Seals the pending batch: the stored form of every touched wallet and card, as they are now. */
  private cut(): { batch: Batch; commit: CommitBatch } {
    const batch = this.pending
    this.pending = newBatch()
    const runningNowMs = this.runningNowMs()
    const commit: CommitBatch = {
      txs: batch.txs,
      replies: batch.replies,
      ...touchedRows(this.state, batch.touched),
      runningMs: runningNowMs - this.runningMarkMs,
    }
    this.runningMarkMs = runningNowMs
    return { batch, commit }
  }

  /** The committer: runs forever, one batch at a time. */
  readonly commitLoop: Effect.Effect<never> = Effect.gen(this, function* () {
    for (;;) {
      const batch = this.pending
      yield* Deferred.await(batch.firstArrived)
      // A batch that has been filling during the previous commit has waited long enough already.
      const waitedMs = (yield* Clock.currentTimeMillis) - batch.firstArrivedMs
      const leftMs = Math.min(this.limits.commitIntervalMs, this.limits.commitIntervalMs - waitedMs)
      if (leftMs > 0) yield* Effect.raceFirst(Effect.sleep(Duration.millis(leftMs)), Deferred.await(batch.full))
      yield* this.commitPending
    }
  })

  private readonly commitPending: Effect.Effect<void> = Effect.gen(this, function* () {
    const { batch, commit } = this.cut()
    this.inflight = batch
    const started = yield* Clock.currentTimeMillis
    const result = yield* this.store.commit(commit).pipe(
      Effect.timeoutFail({ duration: Duration.millis(this.commitTimeoutMs), onTimeout: () => new Error("commit timed out") }),
      Effect.exit,
    )
    this.inflight = undefined
    if (Exit.isSuccess(result)) {
      const finished = yield* Clock.currentTimeMillis
      this.acknowledge(batch)
      this.events.committed?.(batch.entries.length, batch.txs.length, finished - started)
      this.events.committedTxs?.(batch.txs, finished)
      this.failuresInRow = 0
      return
    }
    const stored = requestsStoredIn(result.cause)
    if (stored !== undefined) return yield* this.runAgain(batch, stored)
    this.events.commitFailed?.(result.cause)
    this.failuresInRow++
    this.unavailableReason = commitFailureText(result.cause)
    this.failFrom(batch)
    yield* this.recover
  })

  /**
   * A commit refused because storage holds some of its requests within the window already (the
   * backstop of statements.ts): the writer did not know them, in memory or among the ids it forgot,
   * so the batch ran against a state that is not the stored one. That is no failure of storage, and
   * nothing of the batch or after it was acknowledged: the state is reloaded, the refused requests
   * are answered with their stored first reply, and every other one runs again on the reloaded
   * state, in order; requests that arrive meanwhile wait their turn instead of being refused.
   */
  private runAgain(batch: Batch, keys: readonly string[]): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      this.held = []
      const loaded = yield* Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => this.store.load(now - requestRetentionMs, this.limits.requestCacheMax)),
        Effect.either,
      )
      const held = this.held
      this.held = undefined
      if (loaded._tag === "Left") {
        // Storage failed after all: as after any failed commit.
        for (const submission of held) this.refuse(submission, "unavailable")
        this.events.commitFailed?.(loaded.left)
        this.failuresInRow++
        this.unavailableReason = storageFailureText(loaded.left)
        this.failFrom(batch)
        return yield* this.recover
      }
      this.state = stateFromSnapshot(loaded.right)
      this.rememberOlderRequests(loaded.right.olderRequests)
      this.nextSeq = loaded.right.lastSeq + 1
      const later = this.pending
      this.pending = newBatch()
      const refused = new Set(keys)
      // Known from now on: a retry of one of them is looked up, whatever the load brought.
      for (const key of refused) this.forgotten.add(key, this.lastTimeMs)
      const nowMs = yield* Clock.currentTimeMillis
      for (const { key, submissions } of [...batch.entries, ...later.entries]) {
        for (const submission of submissions) {
          if (key === undefined || !refused.has(key)) this.submit(submission, nowMs)
          else this.lookUp(submission, key, (found) => (found === undefined ? this.refuse(submission, "unavailable") : this.answerStored(submission, key, found)))
        }
      }
      for (const submission of held) this.submit(submission, nowMs)
    })
  }

  private acknowledge(batch: Batch): void {
    for (const entry of batch.entries) {
      if (entry.record !== undefined) {
        entry.record.reply = entry.json
        entry.record.tx = null
      }
      for (const reply of entry.waiters) reply(entry.json)
    }
  }

  /** Refuses the failed batch and everything executed after it, and stops taking requests. */
  private failFrom(batch: Batch): void {
    this.mode = "unavailable"
    const later = this.pending
    this.pending = newBatch()
    for (const entry of [...batch.entries, ...later.entries]) {
      for (const refuse of entry.refusers) refuse("unavailable")
    }
  }

  /**
   * Waits until storage answers, then reloads the whole state from it. The attempts back off, and
   * so do the reloads after commits that keep failing once storage answers again (a full disk: the
   * ping and the load pass, the next commit fails): each waits `recoveryDelayMs` of the failures in
   * a row, commits and attempts alike, until a commit passes.
   */
  private readonly recover: Effect.Effect<void> = Effect.gen(this, function* () {
    this.unavailableReason ??= "storage: commit failed"
    for (;;) {
      yield* Effect.sleep(Duration.millis(recoveryDelayMs(this.failuresInRow)))
      const now = yield* Clock.currentTimeMillis
      // The ping has the commit's deadline; the load has storage's own, longer one (a large ledger).
      const loaded = yield* this.store.ping.pipe(
        Effect.timeoutFail({ duration: Duration.millis(this.commitTimeoutMs), onTimeout: () => unreachable }),
        Effect.zipRight(this.store.load(now - requestRetentionMs, this.limits.requestCacheMax)),
        Effect.either,
      )
      if (loaded._tag === "Right") {
        this.state = stateFromSnapshot(loaded.right)
        this.rememberOlderRequests(loaded.right.olderRequests)
        this.nextSeq = loaded.right.lastSeq + 1
        this.mode = "ready"
        this.unavailableReason = undefined
        this.events.recovered?.()
        return
      }
      this.failuresInRow++
      this.unavailableReason = storageFailureText(loaded.left)
    }
  })
}


/** The delay before reloading after the first failure in a row, doubled with each one after it. */
export const recoveryBackoffFirstMs = 250
/** The longest delay between reload attempts: storage back is noticed within this. */
export const recoveryBackoffMaxMs = 30_000

/**
 * How long to wait before reloading, after `failuresInRow` failures: none after the first (a
 * passing blip costs no time), then 250 ms doubling up to recoveryBackoffMaxMs.
 */
export const recoveryDelayMs = (failuresInRow: number): number =>
  failuresInRow <= 1 ? 0 : Math.min(recoveryBackoffFirstMs * 2 ** Math.min(failuresInRow - 2, 30), recoveryBackoffMaxMs)

const unreachable = new StorageError({ operation: "ping", message: "no answer" })

/**
 * Why a commit failed, for `unavailableReason`: storage's own failure, or the writer's deadline (the
 * only other way a commit fails).
 */
const commitFailureText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.failureOption(cause)
  if (Option.isNone(error)) return "storage: commit failed"
  return error.value instanceof StorageError ? storageFailureText(error.value) : "storage: commit timed out"
}

/** The keys a commit was refused for as already stored within the window, if that is why it failed. */
const requestsStoredIn = (cause: Cause.Cause<unknown>): readonly string[] | undefined => {
  const error = Cause.failureOption(cause)
  return Option.isSome(error) && error.value instanceof StorageError ? error.value.requestsStored : undefined
}

/** The newest time among a state's requests (one pass, at start). */
const newestRequestTime = (state: LedgerState): number => {
  let newestMs = 0
  for (const record of state.requests.values()) newestMs = Math.max(newestMs, record.time)
  return newestMs
}

const splitKey = (key: string): [string, string] => {
  const slash = key.indexOf("/")
  return [key.slice(0, slash), key.slice(slash + 1)]
}
