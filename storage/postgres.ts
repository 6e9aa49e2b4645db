/**
 * The ledger on PostgreSQL through postgres.js: the `Ledger` layer, its connection pool, its time
 * limits, and the one place where the pool's promises become Effects (each failure a StorageError
 * naming its operation). PGlite is served to this same code (`pglite.ts`).
 *
 * The layer survives the server going away and coming back: a statement in flight when the server
 * stops fails (the server ends its sessions), every operation has a deadline so that nothing waits
 * forever on a silent network, and after a broken connection or a missed deadline the next
 * operation runs on a fresh pool. The hot operations (commit, load) are single statements, never
 * `sql.begin` (see statements.ts for the postgres.js bug that makes this matter).
 */
import postgres from "postgres"
import { Cause, Duration, Effect, Layer, type Scope, SynchronizedRef } from "effect"
import { Ledger, type LedgerStore, StorageError } from "./ledger.js"
import { applyMigrations, migrationsDir, readMigrations } from "./migrations.js"
import {
  assertSafeInteger,
  batchRows,
  type BatchRows,
  decodeBlocks,
  decodeBlockTip,
  decodeFlag,
  decodeFoundReply,
  decodeSnapshot,
  decodeTxs,
  genesisRows,
} from "./rows.js"
import * as statements from "./statements.js"
import type { Sql } from "./statements.js"

/** Every time limit of the adapter. postgres.js counts its own in seconds; they are converted below. */
export const postgresTimeouts = {
  /** Opening a connection (postgres.js `connect_timeout`). */
  connectTimeoutMs: 5_000,
  /** An idle connection is closed after this (postgres.js `idle_timeout`). */
  idleTimeoutMs: 60_000,
  /** Queries in flight when the layer closes get this long to finish (postgres.js `end({ timeout })`). */
  closeTimeoutMs: 5_000,
  /** Server side, real Postgres: the longest statement, and the longest idle open transaction. */
  statementTimeoutMs: 60_000,
  idleInTransactionTimeoutMs: 60_000,
  // Client side: the deadline of each operation, connection included.
  /**
   * Short: the writer probes storage with a ping before it reloads, under its own deadline (5 s by
   * default), and a ping that misses this one is what replaces a pool stuck on a dead socket.
   */
  pingTimeoutMs: 2_000,
  commitTimeoutMs: 30_000,
  readTimeoutMs: 30_000,
  loadTimeoutMs: 120_000,
  initializeTimeoutMs: 120_000,
  migrateTimeoutMs: 120_000,
} as const

export interface PostgresLedgerOptions {
  /** Connections in the pool: the committer, plus reads (retries, the feed) that must not wait for it. */
  readonly poolMax?: number
}

export const poolMaxDefault = 4

const seconds = (ms: number): number => ms / 1000

const openPool = (url: string, poolMax: number): Sql =>
  postgres(url, {
    max: poolMax,
    connect_timeout: seconds(postgresTimeouts.connectTimeoutMs),
    idle_timeout: seconds(postgresTimeouts.idleTimeoutMs),
    // Notices ("relation already exists, skipping") are not ours to print.
    onnotice: () => undefined,
    // Milliseconds, as Postgres reads a bare number for these settings.
    connection: {
      application_name: "gesell",
      statement_timeout: postgresTimeouts.statementTimeoutMs,
      idle_in_transaction_session_timeout: postgresTimeouts.idleInTransactionTimeoutMs,
    },
  })

const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = "code" in cause && typeof cause.code === "string" ? `${cause.code} ` : ""
  return `${code}${cause.message}`
}

const failure = (operation: string) => (cause: unknown) =>
  new StorageError({ operation, message: describe(cause), cause })

/**
 * A failure of the connection rather than of the statement: anything but an error the server
 * reported about the SQL itself, except its classes 08 (connection exception) and 57 (operator
 * intervention: shutdown, crash, cannot connect now).
 */
const connectionBroken = (cause: unknown): boolean =>
  !(cause instanceof postgres.PostgresError) || /^(08|57)/.test(cause.code)

/** Runs one operation's promise on the current pool, within its deadline. */
type Run = <A>(operation: string, timeoutMs: number, statement: (sql: Sql) => Promise<A>) => Effect.Effect<A, StorageError>

/**
 * After a broken connection or a missed deadline the whole pool is replaced, not left to reconnect:
 * postgres.js 3.4.9 can keep a dead connection's last query as in flight (its `end` then waits for
 * its whole timeout) and a buffered write that never flushes (the next small query on that
 * connection never leaves), and a connection may be stuck on a socket that will never answer.
 * A fresh pool costs one connection handshake.
 */
const runner =
  (pools: SynchronizedRef.SynchronizedRef<Sql>, open: () => Sql): Run =>
  (operation, timeoutMs, statement) =>
    Effect.flatMap(SynchronizedRef.get(pools), (sql) =>
      Effect.tryPromise({ try: () => statement(sql), catch: (cause) => cause }).pipe(
        Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new Cause.TimeoutException() }),
        Effect.catchAll((cause) => {
          const timedOut = Cause.isTimeoutException(cause)
          const error = timedOut
            ? new StorageError({ operation, message: `no answer from the database within ${timeoutMs} ms` })
            : failure(operation)(cause)
          const replace = timedOut || connectionBroken(cause) ? replacePool(pools, sql, open) : Effect.void
          return Effect.zipRight(replace, Effect.fail(error))
        }),
      ),
    )

/** Swaps a fresh pool in for `stale` (unless another timeout did already) and drops the stale one. */
const replacePool = (pools: SynchronizedRef.SynchronizedRef<Sql>, stale: Sql, open: () => Sql) =>
  SynchronizedRef.modifyEffect(pools, (current) =>
    current === stale ? Effect.sync(() => [true, open()] as const) : Effect.succeed([false, current] as const),
  ).pipe(
    Effect.flatMap((replaced) =>
      replaced ? Effect.tryPromise(() => stale.end({ timeout: 0 })).pipe(Effect.ignore) : Effect.void,
    ),
  )

const closePool = (pools: SynchronizedRef.SynchronizedRef<Sql>) =>
  SynchronizedRef.get(pools).pipe(
    Effect.flatMap((sql) => Effect.tryPromise(() => sql.end({ timeout: seconds(postgresTimeouts.closeTimeoutMs) }))),
    Effect.ignore,
  )

/** Why a batch's seqs cannot continue any ledger, or undefined: they must be consecutive. */
const seqGap = (seqs: readonly number[]): string | undefined => {
  const first = seqs[0] ?? 0
  const wrong = seqs.findIndex((seq, index) => seq !== first + index)
  return wrong === -1 ? undefined : `seq ${seqs[wrong]} at position ${wrong} of a batch starting at seq ${first}`
}

const isEmpty = (rows: BatchRows): boolean =>
  [rows.txs, rows.replies, rows.wallets, rows.cards, rows.backing, rows.blocks, rows.validators].every((part) => part === undefined)

const commit = (run: Run) => (rows: BatchRows) => {
  const gap = seqGap(rows.seqs)
  if (gap !== undefined) return Effect.fail(new StorageError({ operation: "commit", message: gap }))
  if (isEmpty(rows)) return Effect.void
  return run("commit", postgresTimeouts.commitTimeoutMs, (sql) => statements.writeBatch(sql, rows)).pipe(Effect.asVoid)
}

const noLedger = new StorageError({ operation: "load", message: "no ledger in this database: initialize it first" })

const operations = (run: Run): LedgerStore => ({
  initialize: (genesis, genesisTx) =>
    Effect.sync(() => {
      if (genesisTx.seq !== 0) throw new Error(`the genesis transaction is seq 0, not ${genesisTx.seq}`)
      assertSafeInteger(genesisTx.time, "genesis time")
      return genesisRows(genesis)
    }).pipe(
      Effect.flatMap((rows) =>
        run("initialize", postgresTimeouts.initializeTimeoutMs, (sql) => statements.writeGenesis(sql, genesis, rows, genesisTx)),
      ),
      Effect.map((created) => ({ created })),
    ),
  initialized: run("initialized", postgresTimeouts.readTimeoutMs, statements.readInitialized).pipe(Effect.map(decodeFlag)),
  load: (sinceMs, requestsMax) =>
    Effect.sync(() => assertSafeInteger(sinceMs, "sinceMs")).pipe(
      Effect.zipRight(run("load", postgresTimeouts.loadTimeoutMs, (sql) => statements.readSnapshot(sql, sinceMs, requestsMax ?? null))),
      Effect.map(decodeSnapshot),
      Effect.flatMap((snapshot) => (snapshot === undefined ? Effect.fail(noLedger) : Effect.succeed(snapshot))),
    ),
  commit: (batch) => Effect.sync(() => batchRows(batch)).pipe(Effect.flatMap(commit(run))),
  transactions: (fromSeq, limit) =>
    Effect.sync(() => [assertSafeInteger(fromSeq, "fromSeq"), assertSafeInteger(limit, "limit")]).pipe(
      Effect.zipRight(run("transactions", postgresTimeouts.readTimeoutMs, (sql) => statements.readTransactions(sql, fromSeq, limit))),
      Effect.map(decodeTxs),
    ),
  reply: (reader, request) =>
    run("reply", postgresTimeouts.readTimeoutMs, (sql) => statements.readReply(sql, reader, request)).pipe(Effect.map(decodeFoundReply)),
  blocks: (fromHeight, limit, txMax, finalOnly) =>
    Effect.sync(() => [fromHeight, limit, txMax].forEach((n) => assertSafeInteger(n, "blocks page bound"))).pipe(
      Effect.zipRight(
        run("blocks", postgresTimeouts.readTimeoutMs, (sql) => statements.readBlocks(sql, fromHeight, limit, txMax, finalOnly)),
      ),
      Effect.map(decodeBlocks),
    ),
  blockTip: run("blockTip", postgresTimeouts.readTimeoutMs, statements.readBlockTip).pipe(Effect.map(decodeBlockTip)),
  knownTxIds: (ids) =>
    ids.length === 0
      ? Effect.succeed([])
      : run("knownTxIds", postgresTimeouts.readTimeoutMs, (sql) => statements.readKnownTxIds(sql, ids)).pipe(
          Effect.map((rows) => (rows as unknown as ReadonlyArray<{ id: string }>).map((row) => String(row.id))),
        ),
  ping: run("ping", postgresTimeouts.pingTimeoutMs, statements.ping).pipe(Effect.asVoid),
  putPlace: (place) =>
    run("putPlace", postgresTimeouts.commitTimeoutMs, (sql) => statements.putDocument(sql, "place", place.id, JSON.stringify(place))).pipe(
      Effect.asVoid,
    ),
  putAsset: (asset) =>
    run("putAsset", postgresTimeouts.commitTimeoutMs, (sql) => statements.putDocument(sql, "asset", asset.id, JSON.stringify(asset))).pipe(
      Effect.asVoid,
    ),
  putReader: (reader) => run("putReader", postgresTimeouts.commitTimeoutMs, (sql) => statements.putReader(sql, reader)).pipe(Effect.asVoid),
  addCards: (cards) => run("addCards", postgresTimeouts.commitTimeoutMs, (sql) => statements.addCards(sql, cards)),
})

/** The store on an open pool, with the schema brought up to date; the pool closes with the scope. */
export const makePostgresLedger = (
  url: string,
  options: PostgresLedgerOptions = {},
): Effect.Effect<LedgerStore, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const poolMax = options.poolMax ?? poolMaxDefault
    if (!Number.isSafeInteger(poolMax) || poolMax < 1) return yield* Effect.dieMessage(`poolMax must be a positive integer, got ${poolMax}`)
    const open = () => openPool(url, poolMax)
    const pools = yield* Effect.acquireRelease(Effect.sync(open).pipe(Effect.flatMap(SynchronizedRef.make)), closePool)
    const run = runner(pools, open)
    const migrations = yield* Effect.tryPromise({ try: () => readMigrations(migrationsDir()), catch: failure("migrate") })
    yield* run("migrate", postgresTimeouts.migrateTimeoutMs, (sql) => applyMigrations(sql, migrations))
    return operations(run)
  })

/** The ledger on the Postgres at `url` (a postgres:// connection string). */
export const postgresLedger = (url: string, options: PostgresLedgerOptions = {}): Layer.Layer<Ledger, StorageError> =>
  Layer.scoped(Ledger, makePostgresLedger(url, options))
