/**
 * The embedded default: PGlite (Postgres compiled to WASM) with its data under a directory, served
 * on a loopback socket by pglite-socket, so that the node talks to it through the very same
 * postgres.js code as to a real server (`postgres.ts`). One SQL dialect, one code path.
 */
import { mkdir } from "node:fs/promises"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Layer, type Scope } from "effect"
import { Ledger, StorageError } from "./ledger.js"
import { makePostgresLedger } from "./postgres.js"

/** For the node to print at start when it runs on the embedded default. */
export const pgliteDurabilityNotice =
  "Storage is embedded PGlite: its writes reach the operating system before a commit returns, so a killed " +
  "process loses nothing, but it never calls fsync, so a power cut can lose the last commits. Use real " +
  "PostgreSQL (DATABASE_URL) for a festival."

/**
 * PGlite is one Postgres session: pglite-socket runs one query at a time and keeps a transaction's
 * queries together, but two connections would still share that session's state. One pooled
 * connection keeps every statement of a batch in order; the server accepts a few more so that a
 * reconnection is never refused while the old socket is still being released.
 */
const pglitePoolMax = 1
const socketConnectionsMax = 4

const failure = (operation: string) => (cause: unknown) =>
  new StorageError({ operation, message: cause instanceof Error ? cause.message : String(cause), cause })

const openDatabase = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => mkdir(dataDir, { recursive: true }).then(() => PGlite.create(dataDir)),
      catch: failure("open PGlite"),
    }),
    (db) => Effect.tryPromise(() => db.close()).pipe(Effect.ignore),
  )

const serveDatabase = (db: PGlite) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => {
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: socketConnectionsMax })
        return server.start().then(() => server)
      },
      catch: failure("serve PGlite"),
    }),
    (server) => Effect.tryPromise(() => server.stop()).pipe(Effect.ignore),
  )

/**
 * Starts PGlite on `dataDir` (created if missing) and serves it on 127.0.0.1 on a free port; returns
 * its postgres:// URL. Both stop when the scope closes, the server first.
 */
export const servePglite = (dataDir: string): Effect.Effect<string, StorageError, Scope.Scope> =>
  openDatabase(dataDir).pipe(
    Effect.flatMap(serveDatabase),
    Effect.map((server) => `postgres://postgres@${server.getServerConn()}/postgres`),
  )

/** The ledger on PGlite under `dataDir`. */
export const pgliteLedger = (dataDir: string): Layer.Layer<Ledger, StorageError> =>
  Layer.scoped(
    Ledger,
    servePglite(dataDir).pipe(Effect.flatMap((url) => makePostgresLedger(url, { poolMax: pglitePoolMax }))),
  )
