/**
 * The ledger on PostgreSQL through postgres.js: the `Ledger` layer, its connection pools, its time
 * limits, and the one place where the pools' promises become Effects (each failure a StorageError
 * naming its operation). PGlite is served to this same code (`pglite.ts`).
 *
 * Commits have a connection that reads never take: on a real server a pool of one connection for
 * commits and what is ordered with them (operator changes, the load that follows a failed commit,
 * the ping that precedes it), and a bounded pool for reads (block pages, feed followers, request
 * look-ups); on PGlite, one session, commits go first in its queue (`session-queue.ts`). A flood of
 * reads then waits for reads, never a commit. On a real server the node also refuses to start
 * unless its commits are durable (`checkDurability`).
 *
 * The layer survives the server going away and coming back: a statement in flight when the server
 * stops fails (the server ends its sessions), every operation has a deadline so that nothing waits
 * forever on a silent network, and after a broken connection or a missed deadline the next
 * operation runs on a fresh pool. The hot operations (commit, load) are single statements, never
 * `sql.begin` (see statements.ts for the postgres.js bug that makes this matter).
 */
import postgres from "postgres"
import { Cause, Duration, Effect, Layer, Schema, type Scope, SynchronizedRef } from "effect"
import { Ledger, type LedgerStore, requestWindowMs, StorageError } from "./ledger.js"
import { applyMigrations, migrationsDir, readMigrations } from "./migrations.js"
import { type Lane, SessionQueue } from "./session-queue.js"
import {
  assertSafeInteger,
  batchRows,
  type BatchRows,
  decodeBlocks,
  decodeBlockTip,
  decodeFlag,
  decodeFormat,
  decodeFoundReply,
  decodeSnapshot,
  decodeTxs,
  formatRefusal,
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

/** Where the server is: a postgres:// URL, and when it listens on a Unix socket, the socket's path. */
export interface PostgresTarget {
  readonly url: string
  /** The socket file itself (`<directory>/.s.PGSQL.<port>`); the URL's host and port are then not used. */
  readonly socketPath?: string | undefined
  /**
   * A connection of the caller's making, used instead of the socket: a duplex that postgres.js
   * writes protocol bytes to and reads answers from (PGlite's thread, `pglite.ts`).
   */
  readonly connect?: (() => unknown) | undefined
}

export interface PostgresLedgerOptions {
  /** Connections for reads (block pages, feed followers, request look-ups); commits have one of their own. */
  readonly readPoolMax?: number
}

export const readPoolMaxDefault = 3

const seconds = (ms: number): number => ms / 1000

const openPool = (target: PostgresTarget, poolMax: number): Sql =>
  postgres(target.url, {
    ...(target.socketPath === undefined ? {} : { path: target.socketPath }),
    // postgres.js takes a socket of the caller's making (`socket`), which its types do not name.
    ...(target.connect === undefined ? {} : ({ socket: target.connect } as object)),
    max: poolMax,
    connect_timeout: seconds(postgresTimeouts.connectTimeoutMs),
    idle_timeout: seconds(postgresTimeouts.idleTimeoutMs),
    // Notices ("relation already exists, skipping") are not ours to print.
    onnotice: () => undefined,
    // Milliseconds, as Postgres reads a bare number for these settings.
    connection: {
      application_name: "gesell",
      // A commit is acknowledged to a reader only once its WAL is on disk, whatever the server's or
      // the database's default (a URL parameter can still override it: the check at start refuses that).
      synchronous_commit: "on",
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
  new StorageError({ operation, message: describe(cause), code: cause instanceof postgres.PostgresError ? cause.code : undefined, cause })

/**
 * A failure of the connection rather than of the statement: anything but an error the server
 * reported about the SQL itself, except its classes 08 (connection exception) and 57 (operator
 * intervention: shutdown, crash, cannot connect now).
 */
const connectionBroken = (cause: unknown): boolean =>
  !(cause instanceof postgres.PostgresError) || /^(08|57)/.test(cause.code)

/** Runs one operation's promise on the current pool, within its deadline. */
type Run = <A>(operation: string, timeoutMs: number, statement: (sql: Sql) => Promise<A>) => Effect.Effect<A, StorageError>

/** Lets a statement reach the pool: at once on a real server, in its turn on a single session. */
type Admit = <A>(statement: Effect.Effect<A, unknown>) => Effect.Effect<A, unknown>

const admitAtOnce: Admit = (statement) => statement

/**
 * After a broken connection or a missed deadline the whole pool is replaced, not left to reconnect:
 * postgres.js 3.4.9 can keep a dead connection's last query as in flight (its `end` then waits for
 * its whole timeout) and a buffered write that never flushes (the next small query on that
 * connection never leaves), and a connection may be stuck on a socket that will never answer.
 * A fresh pool costs one connection handshake. The deadline counts the wait to be admitted, and the
 * pool is taken once admitted (a pool replaced meanwhile is not used).
 *
 * The commit lane's pool is also replaced when its caller gives up on a statement in flight (the
 * writer's commit deadline, shorter than the adapter's): its one connection would otherwise hold
 * every later commit, ping and reload behind a statement that may never end.
 */
const runner =
  (pools: SynchronizedRef.SynchronizedRef<Sql>, open: () => Sql, lane: Lane, admit: Admit = admitAtOnce): Run =>
  (operation, timeoutMs, statement) =>
    Effect.suspend(() => {
      let used: Sql | undefined
      const attempt = Effect.flatMap(SynchronizedRef.get(pools), (sql) => {
        used = sql
        return Effect.tryPromise({ try: () => statement(sql), catch: (cause) => cause })
      })
      return admit(attempt).pipe(
        Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new Cause.TimeoutException() }),
        Effect.catchAll((cause) => {
          const timedOut = Cause.isTimeoutException(cause)
          const error = timedOut
            ? new StorageError({ operation, message: `no answer from the database within ${timeoutMs} ms` })
            : failure(operation)(cause)
          const stale = used
          const replace = stale !== undefined && (timedOut || connectionBroken(cause)) ? replacePool(pools, stale, open) : Effect.void
          return Effect.zipRight(replace, Effect.fail(error))
        }),
        Effect.onInterrupt(() => (lane === "commit" && used !== undefined ? replacePool(pools, used, open) : Effect.void)),
      )
    })

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
  [
    rows.txs, rows.replies, rows.wallets, rows.cards, rows.places, rows.assets, rows.readers, rows.meta, rows.backing, rows.blocks,
    rows.validators, rows.runningMs,
  ].every((part) => part === undefined)

/**
 * The keys of a commit refused by the request window check (`ledger_refuse_stored_requests`, which
 * lists them in its detail), or undefined for any other failure.
 */
const requestsStored = (cause: unknown): string[] | undefined => {
  if (!(cause instanceof postgres.PostgresError) || cause.constraint_name !== "request_window") return undefined
  const keys: unknown = JSON.parse(cause.detail ?? "[]")
  return Array.isArray(keys) ? keys.map(String) : undefined
}

const commit = (run: Run) => (rows: BatchRows) => {
  const gap = seqGap(rows.seqs)
  if (gap !== undefined) return Effect.fail(new StorageError({ operation: "commit", message: gap }))
  if (isEmpty(rows)) return Effect.void
  return run("commit", postgresTimeouts.commitTimeoutMs, (sql) => statements.writeBatch(sql, rows)).pipe(
    Effect.mapError((error) => {
      const keys = requestsStored(error.cause)
      return keys === undefined
        ? error
        : new StorageError({ operation: error.operation, message: error.message, code: error.code, cause: error.cause, requestsStored: keys })
    }),
    Effect.asVoid,
  )
}

const noLedger = new StorageError({ operation: "load", message: "no ledger in this database: initialize it first" })

/**
 * The operations on their lanes: `run` is the commit's (and what must be ordered with it, or may
 * not wait behind reads: start, ping, reload, operator changes), `read` the bounded one.
 */
const operations = (run: Run, read: Run): LedgerStore => ({
  initialize: (genesis, genesisTx, start) =>
    Effect.sync(() => {
      if (genesisTx.seq !== 0) throw new Error(`the genesis transaction is seq 0, not ${genesisTx.seq}`)
      assertSafeInteger(genesisTx.time, "genesis time")
      if (start !== undefined && !/^[0-9a-f]{64}$/.test(start.cardKey)) throw new Error("a card key is 64 lowercase hex digits")
      const first = start?.first === undefined ? undefined : batchRows(start.first)
      const gap = first === undefined ? undefined : seqGap(first.seqs)
      if (gap !== undefined || (first !== undefined && first.seqs.length > 0 && first.seqs[0] !== 1)) throw new Error(`the first batch continues the genesis from seq 1: ${gap ?? "it does not"}`)
      return { rows: genesisRows(genesis), first }
    }).pipe(
      Effect.flatMap(({ rows, first }) =>
        run("initialize", postgresTimeouts.initializeTimeoutMs, (sql) => statements.writeGenesis(sql, genesis, rows, genesisTx, start?.cardKey, first)),
      ),
      Effect.map((created) => ({ created })),
    ),
  initialized: run("initialized", postgresTimeouts.readTimeoutMs, statements.readInitialized).pipe(Effect.map(decodeFlag)),
  load: (sinceMs, requestsMax) =>
    Effect.sync(() => assertSafeInteger(sinceMs, "sinceMs")).pipe(
      Effect.zipRight(
        run("load", postgresTimeouts.loadTimeoutMs, (sql) => statements.readSnapshot(sql, sinceMs, requestsMax ?? null, requestWindowMs)),
      ),
      Effect.map(decodeSnapshot),
      Effect.flatMap((snapshot) => (snapshot === undefined ? Effect.fail(noLedger) : Effect.succeed(snapshot))),
    ),
  commit: (batch) => Effect.sync(() => batchRows(batch)).pipe(Effect.flatMap(commit(run))),
  transactions: (fromSeq, limit) =>
    Effect.sync(() => [assertSafeInteger(fromSeq, "fromSeq"), assertSafeInteger(limit, "limit")]).pipe(
      Effect.zipRight(read("transactions", postgresTimeouts.readTimeoutMs, (sql) => statements.readTransactions(sql, fromSeq, limit))),
      Effect.map(decodeTxs),
    ),
  reply: (reader, request) =>
    read("reply", postgresTimeouts.readTimeoutMs, (sql) => statements.readReply(sql, reader, request)).pipe(Effect.map(decodeFoundReply)),
  blocks: (fromHeight, limit, txMax, finalOnly) =>
    Effect.sync(() => [fromHeight, limit, txMax].forEach((n) => assertSafeInteger(n, "blocks page bound"))).pipe(
      Effect.zipRight(
        read("blocks", postgresTimeouts.readTimeoutMs, (sql) => statements.readBlocks(sql, fromHeight, limit, txMax, finalOnly)),
      ),
      Effect.map(decodeBlocks),
    ),
  blockTip: read("blockTip", postgresTimeouts.readTimeoutMs, statements.readBlockTip).pipe(Effect.map(decodeBlockTip)),
  knownTxIds: (ids) =>
    ids.length === 0
      ? Effect.succeed([])
      : read("knownTxIds", postgresTimeouts.readTimeoutMs, (sql) => statements.readKnownTxIds(sql, ids)).pipe(
          Effect.map((rows) => (rows as unknown as ReadonlyArray<{ id: string }>).map((row) => String(row.id))),
        ),
  ping: run("ping", postgresTimeouts.pingTimeoutMs, statements.ping).pipe(Effect.asVoid),
})

const acquirePools = (open: () => Sql) =>
  Effect.acquireRelease(Effect.sync(open).pipe(Effect.flatMap(SynchronizedRef.make)), closePool)

/** On a real server: one connection for commits, and a bounded pool for reads. */
const serverLanes = (target: PostgresTarget, readPoolMax: number) =>
  Effect.gen(function* () {
    const openCommit = () => openPool(target, 1)
    const openRead = () => openPool(target, readPoolMax)
    const commit = runner(yield* acquirePools(openCommit), openCommit, "commit")
    const read = runner(yield* acquirePools(openRead), openRead, "read")
    return { commit, read }
  })

/** On a single session (PGlite): one connection, one statement at a time, commits first. */
const sessionLanes = (target: PostgresTarget) =>
  Effect.gen(function* () {
    const open = () => openPool(target, 1)
    const pools = yield* acquirePools(open)
    const queue = new SessionQueue()
    const lane = (name: Lane) => runner(pools, open, name, (statement) => queue.run(name, statement))
    return { commit: lane("commit"), read: lane("read") }
  })

/** What makes a commit durable, as the node's own session sees it, and what each must be. */
const durableSettings: ReadonlyArray<{ readonly name: string; readonly durable: (value: string) => boolean }> = [
  { name: "fsync", durable: (value) => value === "on" },
  { name: "full_page_writes", durable: (value) => value === "on" },
  // Every value but off flushes the commit's WAL locally before it returns.
  { name: "synchronous_commit", durable: (value) => value !== "off" },
]

const SettingRows = Schema.Array(Schema.Struct({ name: Schema.String, setting: Schema.String }))

/**
 * Why commits on this server would not be durable, or undefined. With fsync off a power cut or an
 * operating system crash can lose acknowledged commits or corrupt the database; with
 * full_page_writes off a page torn by a crash can corrupt it.
 */
export const durabilityProblem = (settings: ReadonlyMap<string, string>): string | undefined => {
  const weak = durableSettings.filter((setting) => !setting.durable(settings.get(setting.name) ?? "unknown"))
  if (weak.length === 0) return undefined
  const found = weak.map((setting) => `${setting.name} = ${settings.get(setting.name) ?? "unknown"}`).join(", ")
  const server = weak.filter((setting) => setting.name !== "synchronous_commit").map((setting) => setting.name)
  const advice = [
    ...(server.length === 0 ? [] : [`set ${server.join(" and ")} to on in postgresql.conf (or ALTER SYSTEM) and reload the server`]),
    ...(server.length === weak.length ? [] : ["do not turn synchronous_commit off in DATABASE_URL"]),
  ]
  return `PostgreSQL runs with ${found}: a commit acknowledged to a reader could be lost or the database corrupted by a crash or a power cut; ${advice.join("; ")}`
}

/** Refuses a server on which an acknowledged commit could be lost (`durabilityProblem`). */
const checkDurability = (run: Run) =>
  run("check durability", postgresTimeouts.readTimeoutMs, statements.readDurabilitySettings).pipe(
    Effect.flatMap((rows) =>
      Schema.decodeUnknown(SettingRows)(rows).pipe(
        Effect.mapError((error) => new StorageError({ operation: "check durability", message: error.message })),
      ),
    ),
    Effect.flatMap((rows) => {
      const problem = durabilityProblem(new Map(rows.map((row) => [row.name, row.setting])))
      return problem === undefined ? Effect.void : Effect.fail(new StorageError({ operation: "check durability", message: problem }))
    }),
  )

/**
 * Refuses a database that holds a ledger of another format (PROTOCOL.md section 9: format 2 is not
 * format 1 with more fields, and a node never converts one into the other). Checked before the
 * migrations, so that a refused database is left as it was found, for the version that wrote it.
 */
const checkFormat = (run: Run) =>
  run("format", postgresTimeouts.readTimeoutMs, statements.readFormat).pipe(
    Effect.map(decodeFormat),
    Effect.flatMap((format) => {
      const refusal = format === undefined ? undefined : formatRefusal(format)
      return refusal === undefined ? Effect.void : Effect.fail(new StorageError({ operation: "format", message: refusal }))
    }),
  )

const migrate = (run: Run) =>
  Effect.tryPromise({ try: () => readMigrations(migrationsDir()), catch: failure("migrate") }).pipe(
    Effect.flatMap((migrations) => run("migrate", postgresTimeouts.migrateTimeoutMs, (sql) => applyMigrations(sql, migrations))),
  )

const asTarget = (target: string | PostgresTarget): PostgresTarget => (typeof target === "string" ? { url: target } : target)

/**
 * The store on a real server, once it has checked that its commits are durable and that the ledger it
 * holds, if any, is of this code's format, and brought the schema up to date; the pools close with
 * the scope.
 */
export const makePostgresLedger = (
  target: string | PostgresTarget,
  options: PostgresLedgerOptions = {},
): Effect.Effect<LedgerStore, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const readPoolMax = options.readPoolMax ?? readPoolMaxDefault
    if (!Number.isSafeInteger(readPoolMax) || readPoolMax < 1) {
      return yield* Effect.dieMessage(`readPoolMax must be a positive integer, got ${readPoolMax}`)
    }
    const lanes = yield* serverLanes(asTarget(target), readPoolMax)
    yield* checkDurability(lanes.commit)
    yield* checkFormat(lanes.commit)
    yield* migrate(lanes.commit)
    return operations(lanes.commit, lanes.read)
  })

/**
 * The store on a database that is a single session (PGlite, served by `pglite.ts`), with the ledger's
 * format checked and the schema brought up to date. It is not checked for durability: PGlite never
 * calls fsync, and says so at start.
 */
export const makeSessionLedger = (target: PostgresTarget): Effect.Effect<LedgerStore, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const lanes = yield* sessionLanes(target)
    yield* checkFormat(lanes.commit)
    yield* migrate(lanes.commit)
    return operations(lanes.commit, lanes.read)
  })

/** The ledger on the Postgres at `url` (a postgres:// connection string). */
export const postgresLedger = (url: string, options: PostgresLedgerOptions = {}): Layer.Layer<Ledger, StorageError> =>
  Layer.scoped(Ledger, makePostgresLedger(url, options))
