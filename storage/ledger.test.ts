/**
 * The ledger contract on both implementations: PGlite on temp data dirs, and a throwaway real
 * PostgreSQL started by the harness (skipped, visibly, when PostgreSQL is not installed, unless
 * GESELL_REQUIRE_SERVERS=1 makes that a failure). Also what only a server shows: migrations
 * applied once when two nodes start together, the settings a durable commit needs, and a commit
 * connection freed from a statement its caller gave up on.
 */
import { cpSync, mkdtempSync } from "node:fs"
import { rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { Context, Duration, Effect, Exit, Fiber, Layer, Schedule } from "effect"
import postgres from "postgres"
import { postgresInstalled, startPostgres, type PostgresServer } from "../test/postgres-server.js"
import { genesisDocument, genesisTx, salesBatch } from "./fixtures.js"
import { ledgerContract } from "./ledger.contract.js"
import { Ledger, type StorageError } from "./ledger.js"
import { migrationsDir, readMigrations } from "./migrations.js"
import { pgliteLedger } from "./pglite.js"
import { postgresLedger } from "./postgres.js"

/** Runs one SQL statement on the database behind a layer, while the layer is closed; returns its rows. */
type Execute = (statement: string) => Effect.Effect<readonly unknown[]>

const formatOne = "this database holds a ledger of format 1, written by an earlier version of Gesell; this version reads and " +
  "writes format 2 only (PROTOCOL.md section 9) and does not migrate: start on an empty data dir or database"

/**
 * A ledger of format 1 is what an earlier version leaves: no `format` row in meta, and none of this
 * version's migrations. Opening it fails at once with one line saying why (the command line prints
 * it as it is), before any migration touches it; so does a format this version does not know yet.
 */
const formatRefusals = (layer: Layer.Layer<Ledger, StorageError>, execute: Execute) =>
  Effect.gen(function* () {
    const open = Effect.scoped(Layer.build(layer))
    yield* Ledger.pipe(
      Effect.tap((store) => store.initialize(genesisDocument, genesisTx)),
      Effect.flatMap((store) => store.commit(salesBatch(1, 10))),
      Effect.provide(layer),
    )
    yield* open
    for (const statement of [
      "delete from meta where key = 'format'",
      "alter table card drop column staff",
      "delete from migration where name = '006_card_staff.sql'",
      "drop table approved",
      "delete from migration where name = '007_approved.sql'",
    ]) yield* execute(statement)
    const earlier = yield* Effect.flip(open)
    expect(earlier.operation).toBe("format")
    expect(earlier.message).toBe(formatOne)
    expect(yield* execute("select name from migration where name = '006_card_staff.sql'"), "left as it was found").toEqual([])
    yield* execute(`insert into meta (key, value) values ('format', '3')`)
    const later = yield* Effect.flip(open)
    expect(later.message).toContain("holds a ledger of format 3, written by a later version of Gesell")
    // The format row is what decides: with it, the ledger opens, migrates and loads.
    yield* execute(`update meta set value = '2' where key = 'format'`)
    const snapshot = yield* Ledger.pipe(Effect.flatMap((store) => store.load(0)), Effect.provide(layer))
    expect(snapshot.lastSeq).toBe(10)
  })

describe("PGlite", () => {
  let root = ""
  let created = 0
  // A new PGlite data dir costs seconds (initdb in WASM); a copy of a migrated empty one, milliseconds.
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "gesell-ledger-pglite-"))
    return Effect.runPromise(Effect.scoped(Layer.build(pgliteLedger(join(root, "template")))))
  }, 60_000)
  // Removing every test's data dir takes more than the default 10 s on a busy machine, and more than a
  // minute on a loaded one: asynchronously, so that the test runner's own messages are not held up.
  afterAll(() => rm(root, { recursive: true, force: true }), 180_000)
  ledgerContract(
    "PGlite",
    () => {
      const dir = join(root, `ledger-${created++}`)
      cpSync(join(root, "template"), dir, { recursive: true })
      return pgliteLedger(dir)
    },
    { floodReads: 300 },
  )

  it.live("a data dir of another ledger format is refused when opened, and left as it was", () => {
    const dir = join(root, "format")
    cpSync(join(root, "template"), dir, { recursive: true })
    const execute: Execute = (statement) =>
      Effect.acquireUseRelease(
        Effect.promise(() => PGlite.create(dir)),
        (db) => Effect.promise(() => db.query(statement).then((result) => result.rows)),
        (db) => Effect.promise(() => db.close()),
      )
    return formatRefusals(pgliteLedger(dir), execute)
  }, 180_000)
})

const requireServers = process.env["GESELL_REQUIRE_SERVERS"] === "1"

const postgresSuite = () => {
  let server: PostgresServer | undefined
  const running = (): PostgresServer => {
    if (server === undefined) throw new Error("the PostgreSQL test server did not start")
    return server
  }
  beforeAll(async () => {
    server = await startPostgres()
  }, 60_000)
  afterAll(() => server?.destroy())

  // One database per layer; building the same layer again (a reopen) finds it created.
  const databases = new Map<string, Promise<string>>()
  const database = (name: string) => {
    const url = databases.get(name) ?? running().database(name)
    databases.set(name, url)
    return url
  }
  let created = 0
  const layerOn = (name: string) => Layer.unwrapEffect(Effect.promise(() => database(name)).pipe(Effect.map((url) => postgresLedger(url))))

  ledgerContract("PostgreSQL", () => layerOn(`ledger_${created++}`), {
    server: { stop: () => running().stop(), start: () => running().start() },
    floodReads: 2_000,
  })

  it.live("migrations are applied once, also when two nodes start together on one database", () =>
    Effect.gen(function* () {
      const open = Effect.scoped(Layer.build(layerOn("migrations")))
      yield* Effect.all([open, open], { concurrency: 2 })
      yield* open
      const url = yield* Effect.promise(() => database("migrations"))
      const names = yield* Effect.acquireUseRelease(
        Effect.sync(() => postgres(url, { max: 1 })),
        (sql) => Effect.promise(() => sql`select name from migration order by name`.then((rows) => rows.map((row) => row["name"] as unknown))),
        (sql) => Effect.promise(() => sql.end()),
      )
      expect(names).toEqual((yield* Effect.promise(() => readMigrations(migrationsDir()))).map((migration) => migration.name))
    }))

  /** Runs one statement on a session of its own, without the ledger's connection parameters. */
  const onSession = <A>(url: string, statement: (sql: postgres.Sql) => Promise<A>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => postgres(url, { max: 1, onnotice: () => undefined })),
      (sql) => Effect.promise(() => statement(sql)),
      (sql) => Effect.promise(() => sql.end()),
    )

  it.live("sessions commit with synchronous_commit on whatever the database's default, and a URL turning it off is refused", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => database("synchronous"))
      yield* onSession(url, (sql) => sql`alter database synchronous set synchronous_commit = off`)
      const defaulted = yield* onSession(url, (sql) => sql`show synchronous_commit`.then((rows) => rows[0]?.["synchronous_commit"] as unknown))
      expect(defaulted, "a session without the ledger's parameters").toBe("off")
      // The ledger checks its own session at start: it starts, so its session runs with it on.
      yield* Effect.scoped(Layer.build(postgresLedger(url)))
      const refused = yield* Effect.flip(Effect.scoped(Layer.build(postgresLedger(`${url}?synchronous_commit=off`))))
      expect(refused.operation).toBe("check durability")
      expect(refused.message).toContain("synchronous_commit = off")
    }))

  it.scopedLive("a commit its caller gives up on while it waits for a lock does not hold the commit connection", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => database("abandoned"))
      const store = Context.get(yield* Layer.build(postgresLedger(url)), Ledger)
      yield* store.initialize(genesisDocument, genesisTx)
      // Another session holds the wallet table until told to let go.
      const blocker = yield* Effect.acquireRelease(
        Effect.sync(() => postgres(url, { max: 2, onnotice: () => undefined })),
        (sql) => Effect.promise(() => sql.end({ timeout: 5 })),
      )
      let letGo = (): void => undefined
      const holding = new Promise<void>((resolve) => (letGo = resolve))
      let lockTaken = (): void => undefined
      const locked = new Promise<void>((resolve) => (lockTaken = resolve))
      const held = blocker.begin(async (sql) => {
        await sql`lock table wallet in access exclusive mode`
        lockTaken()
        await holding
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => (letGo(), held)))
      yield* Effect.promise(() => locked)
      const commit = yield* Effect.fork(store.commit(salesBatch(1, 10)))
      const waiting = blocker`select count(*)::int as count from pg_stat_activity where application_name = 'gesell' and wait_event_type = 'Lock'`
      yield* Effect.promise(() => waiting.execute().then((rows) => rows[0]?.["count"] as number)).pipe(
        Effect.repeat({ until: (count) => count > 0, schedule: Schedule.spaced(Duration.millis(20)) }),
      )
      // As the writer does when its commit deadline passes.
      yield* Fiber.interrupt(commit)
      // The ping needs no lock: it answers on a fresh connection instead of waiting behind the commit.
      expect(Exit.isSuccess(yield* Effect.exit(store.ping))).toBe(true)
      letGo()
      yield* Effect.promise(() => held)
      // The abandoned commit's outcome is unknown, as after any commit cut short: all of it or none.
      const lastSeq = (yield* store.load(0)).lastSeq
      expect([0, 10]).toContain(lastSeq)
      yield* store.commit(salesBatch(lastSeq + 1, 10, lastSeq + 1))
      expect((yield* store.load(0)).lastSeq).toBe(lastSeq + 10)
    }), 60_000)

  it.live("a database of another ledger format is refused when opened, and left as it was", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => database("format"))
      yield* formatRefusals(layerOn("format"), (statement) => onSession(url, (sql) => sql.unsafe(statement)))
    }))

  it.live("two nodes initializing one database at once create one ledger", () =>
    Effect.gen(function* () {
      const layer = layerOn("initialize")
      const initialize = Ledger.pipe(
        Effect.flatMap((store) => store.initialize({ federation: { id: "x", name: "X" }, assets: [], places: [] }, { seq: 0, id: "genesis", time: 1, body: "{}" })),
        Effect.provide(layer),
      )
      const results = yield* Effect.all([initialize, initialize], { concurrency: 2 })
      expect(results.map((result) => result.created).sort()).toEqual([false, true])
    }))
}

/** A server run with the settings a durable commit needs turned off, started for one test and destroyed after it. */
const undurableServer = Effect.acquireRelease(
  Effect.promise(() => startPostgres({ settings: { fsync: "off", full_page_writes: "off" } })),
  (server) => Effect.promise(() => server?.destroy() ?? Promise.resolve()),
).pipe(Effect.flatMap((server) => (server === undefined ? Effect.dieMessage("the PostgreSQL test server did not start") : Effect.succeed(server))))

const durabilitySuite = () => {
  it.scopedLive("a server with fsync or full_page_writes off is refused at start, with a message naming them", () =>
    Effect.gen(function* () {
      const server = yield* undurableServer
      const error = yield* Effect.flip(Effect.scoped(Layer.build(postgresLedger(server.url))))
      expect(error.operation).toBe("check durability")
      expect(error.message).toContain("fsync = off")
      expect(error.message).toContain("full_page_writes = off")
      // Refused before anything is written: not even the schema.
      const tables = yield* Effect.acquireUseRelease(
        Effect.sync(() => postgres(server.url, { max: 1 })),
        (sql) => Effect.promise(() => sql`select count(*)::int as count from pg_tables where schemaname = 'public'`.then((rows) => rows[0]?.["count"] as unknown)),
        (sql) => Effect.promise(() => sql.end()),
      )
      expect(tables).toBe(0)
    }), 60_000)
}

const skipped = "PostgreSQL is not installed: the ledger contract runs on PGlite only (apt-get install -y postgresql; GESELL_REQUIRE_SERVERS=1 makes this a failure)"
if (postgresInstalled() || requireServers) {
  describe("PostgreSQL", postgresSuite)
  describe("PostgreSQL without durable commits", durabilitySuite)
}
else {
  console.warn(skipped)
  describe.skip(skipped, () => {
    it("runs the ledger contract on a real PostgreSQL", () => undefined)
  })
}
