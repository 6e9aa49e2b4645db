/**
 * The storage ceiling: the rows taps write, written in bulk with nothing else running, in rows/s.
 * A tap writes its transaction row (which also carries its reader, request id, fingerprint and reply:
 * the idempotency record) and its card's balance row; the place's balance row is written once per
 * batch. They go through the node's own storage port (`commit`, one JSON-recordset statement per
 * batch, fsync'd), in batches of the node's largest size, one after the other as the node's
 * committer does, into a database of their own on the same server (or a PGlite of their own).
 * Only the commits are timed: building the rows' objects is not storage work.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Clock, Effect, type Layer } from "effect"
import { defaults } from "../engine/limits.js"
import { Ledger, type CommitBatch, type StorageError, type StoredWallet } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { postgresLedger } from "../storage/postgres.js"
import { benchAsset, benchGenesis, cardUid, hotPlace } from "./federation.js"
import { perThousand } from "./measure.js"
import { serverTicks } from "./proc.js"

export const batchTaps = defaults.commitTxMax

export interface StorageFigures {
  readonly rowsPerSecond: number
  readonly rows: number
  readonly batches: number
  readonly batchTaps: number
  /** Rows per tap: its tx row and its card's wallet row, and a share of the place's wallet row. */
  readonly rowsPerTap: number
  readonly commitMsMean: number
  readonly appCpuMsPer1000: number | undefined
  readonly postgresCpuMsPer1000: number | undefined
}

export type CeilingTarget = { readonly kind: "postgres"; readonly url: string; readonly postmaster: number | undefined } | { readonly kind: "pglite" }

const timeMs = 1_732_400_000_000
const wallet = (id: string, amount: number): StoredWallet => ({ id, balances: { [benchAsset]: amount }, memberships: {}, melted: {}, lastActivityMs: timeMs })

/** `taps` sales from seq `firstSeq`, by distinct cards from `firstCard` on, shaped as the node stores them. */
const salesBatch = (firstSeq: number, taps: number, firstCard: number, cards: number): CommitBatch => {
  const txs = Array.from({ length: taps }, (_, index) => {
    const seq = firstSeq + index
    const card = cardUid((firstCard + index) % cards)
    const request = `s${seq}`
    const legs = [{ asset: benchAsset, from: `card:${card}`, to: `place:${hotPlace}`, amount: 1 }]
    const body = { id: String(seq), kind: "sale", time: timeMs, place: hotPlace, reader: "spread-0", card, request, legs }
    const paid = `"paid":[{"asset":"${benchAsset}","amount":1}],"balances":[{"asset":"${benchAsset}","amount":${1_000_000 - (seq % 1000)}}]`
    return {
      seq,
      id: String(seq),
      time: timeMs,
      body: JSON.stringify(body),
      reader: "spread-0",
      request,
      fingerprint: JSON.stringify({ kind: "sale", place: hotPlace, card, amount: 1, request, reader: "spread-0" }),
      reply: `{"type":"result","id":"${request}","ok":true,"tx":"${seq}",${paid}}`,
    }
  })
  const wallets = txs.map((_, index) => wallet(`card:${cardUid((firstCard + index) % cards)}`, 1_000_000 - index))
  return { txs, replies: [], wallets: [...wallets, wallet(`place:${hotPlace}`, firstSeq)], cards: [] }
}

const genesisTx = (genesis: object) => ({
  seq: 0,
  id: "genesis",
  time: timeMs,
  body: JSON.stringify({ id: "genesis", kind: "validators", time: timeMs, legs: [], memo: genesis }),
})

interface Spec {
  readonly cards: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly postmaster: number | undefined
  readonly clockTicksPerSecond: number
}

const measure = (spec: Spec) =>
  Effect.gen(function* () {
    const store = yield* Ledger
    const genesis = benchGenesis(1, spec.cards)
    yield* store.initialize(genesis, genesisTx(genesis))
    const taps = Math.min(batchTaps, spec.cards)
    let seq = 1
    const commitNext = Effect.gen(function* () {
      const batch = salesBatch(seq, taps, seq - 1, spec.cards)
      seq += taps
      const started = yield* Clock.currentTimeNanos
      yield* store.commit(batch)
      return { rows: batch.txs.length + batch.wallets.length, nanos: (yield* Clock.currentTimeNanos) - started }
    })
    const runFor = (ms: number) =>
      Effect.gen(function* () {
        const until = (yield* Clock.currentTimeMillis) + ms
        let rows = 0
        let nanos = 0n
        let batches = 0
        // Bounded in time, and in count: a commit takes far more than the 0.1 ms this allows for.
        while ((yield* Clock.currentTimeMillis) < until && batches < ms * 10) {
          const done = yield* commitNext
          rows += done.rows
          nanos += done.nanos
          batches++
        }
        return { rows, seconds: Number(nanos) / 1e9, batches }
      })
    yield* runFor(spec.warmupMs)
    const cpuBefore = process.cpuUsage()
    const ticksBefore = spec.postmaster === undefined ? undefined : serverTicks(spec.postmaster)
    const measured = yield* runFor(spec.durationMs)
    const ticksAfter = spec.postmaster === undefined ? undefined : serverTicks(spec.postmaster)
    const cpu = process.cpuUsage(cpuBefore)
    return {
      rowsPerSecond: measured.rows / measured.seconds,
      rows: measured.rows,
      batches: measured.batches,
      batchTaps: taps,
      rowsPerTap: (2 * taps + 1) / taps,
      commitMsMean: (measured.seconds * 1000) / Math.max(1, measured.batches),
      appCpuMsPer1000: ((cpu.user + cpu.system) / 1000 / Math.max(1, measured.rows)) * 1000,
      postgresCpuMsPer1000: perThousand(ticksBefore, ticksAfter, spec.clockTicksPerSecond, measured.rows),
    } satisfies StorageFigures
  })

/** Measures the storage ceiling on a real server's database `url`, or on a PGlite of its own. */
export const storageCeiling = async (target: CeilingTarget, spec: Omit<Spec, "postmaster">): Promise<StorageFigures> => {
  const dir = target.kind === "pglite" ? await mkdtemp(join(tmpdir(), "gesell-bench-ceiling-")) : undefined
  const layer: Layer.Layer<Ledger, StorageError> = target.kind === "postgres" ? postgresLedger(target.url) : pgliteLedger(dir ?? "")
  try {
    return await Effect.runPromise(measure({ ...spec, postmaster: target.kind === "postgres" ? target.postmaster : undefined }).pipe(Effect.provide(layer)))
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}
