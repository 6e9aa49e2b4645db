/**
 * The commit throughput of the storage layer, printed, not asserted (benchmarks are not tests):
 * batches of 4096 sales and their 4096 wallets, on a throwaway real PostgreSQL and on PGlite; then
 * the load of what they wrote.
 * Run with `npx vite-node storage/commit-throughput.ts`.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Clock, Console, Effect, type Layer } from "effect"
import { startPostgres } from "../test/postgres-server.js"
import { genesisDocument, genesisTx, salesBatch } from "./fixtures.js"
import { type CommitBatch, Ledger, type StorageError } from "./ledger.js"
import { pgliteLedger } from "./pglite.js"
import { postgresLedger } from "./postgres.js"

const batchTxs = 4096
const warmupBatches = 3
const measuredBatches = 20
/** Cards cycle through this many wallets, so that later batches update rows as well as insert them. */
const walletsDistinct = 16 * batchTxs

/** Built before the clock starts, so that only the commits are measured. */
const batchesFrom = (firstBatch: number, batches: number) =>
  Array.from({ length: batches }, (_, index) => firstBatch + index).map((batch) =>
    salesBatch(1 + batch * batchTxs, batchTxs, (batch * batchTxs) % walletsDistinct),
  )

const commitAll = (store: Ledger["Type"], batches: readonly CommitBatch[]) =>
  Effect.forEach(batches, (batch) => store.commit(batch), { discard: true })

const measure = (label: string, layer: Layer.Layer<Ledger, StorageError>) =>
  Effect.gen(function* () {
    const store = yield* Ledger
    yield* store.initialize(genesisDocument, genesisTx)
    yield* commitAll(store, batchesFrom(0, warmupBatches))
    const measured = batchesFrom(warmupBatches, measuredBatches)
    const started = yield* Clock.currentTimeNanos
    yield* commitAll(store, measured)
    const seconds = Number((yield* Clock.currentTimeNanos) - started) / 1e9
    const rows = measuredBatches * batchTxs * 2
    yield* Console.log(
      `${label}: ${measuredBatches} commits of ${batchTxs} tx rows + ${batchTxs} wallet rows in ${seconds.toFixed(2)} s: ` +
        `${Math.round(rows / seconds)} rows/s (${Math.round(rows / 2 / seconds)} tx/s), ` +
        `${((seconds * 1000) / measuredBatches).toFixed(1)} ms per commit`,
    )
    const loadStarted = yield* Clock.currentTimeNanos
    const snapshot = yield* store.load(0)
    const loadMs = Number((yield* Clock.currentTimeNanos) - loadStarted) / 1e6
    yield* Console.log(
      `${label}: load of ${snapshot.wallets.length} wallets and ${snapshot.requests.length} requests in ${loadMs.toFixed(0)} ms`,
    )
  }).pipe(Effect.provide(layer))

const program = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startPostgres()),
    (started) => Effect.promise(() => started?.destroy() ?? Promise.resolve()),
  )
  if (server === undefined) yield* Console.log("PostgreSQL is not installed: skipping it (apt-get install -y postgresql)")
  else yield* measure("PostgreSQL (fsync on, synchronous_commit on)", postgresLedger(server.url))
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "gesell-bench-pglite-"))),
    (path) => Effect.promise(() => rm(path, { recursive: true, force: true })),
  )
  yield* measure("PGlite (no fsync)", pgliteLedger(dir))
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
