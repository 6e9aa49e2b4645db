/**
 * The embedded default: PGlite (Postgres compiled to WASM) with its data under a directory, served
 * by pglite-socket on a Unix socket, so that the node talks to it through the very same postgres.js
 * code as to a real server (`postgres.ts`). One SQL dialect, one code path.
 *
 * The socket has no password (PGlite has none to check), so only its directory guards the ledger:
 * it is private to the node's user (mode 0700), beside the data dir. No TCP port is opened, so no
 * other local user can reach the database.
 */
import { lstat, chmod, mkdir, mkdtemp, rm } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { basename, dirname, join, resolve } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Layer, type Scope } from "effect"
import { Ledger, StorageError } from "./ledger.js"
import { makeSessionLedger, type PostgresTarget } from "./postgres.js"

/** For the node to print at start when it runs on the embedded default. */
export const pgliteDurabilityNotice =
  "Storage is embedded PGlite: its writes reach the operating system before a commit returns, so a killed " +
  "process loses nothing, but it never calls fsync, so a power cut can lose the last commits. Use real " +
  "PostgreSQL (DATABASE_URL) for a festival."

/**
 * PGlite is one Postgres session: the ledger keeps one connection to it (commits first in its
 * queue); the server accepts a few more so that a reconnection is never refused while the old
 * socket is still being released.
 */
const socketConnectionsMax = 4

/** The longest Unix socket path Linux takes: `sun_path` holds 108 bytes, the last one a NUL. */
export const socketPathBytesMax = 107

/** The name libpq and postgres.js give a server's socket in its directory (port 5432). */
const socketFileName = ".s.PGSQL.5432"

/** Only the node's user may enter the socket's directory. */
const privateMode = 0o700

const failure = (operation: string) => (cause: unknown) =>
  new StorageError({ operation, message: cause instanceof Error ? cause.message : String(cause), cause })

/** Where PGlite is served: the socket's private directory, and the socket in it. */
export interface PgliteSocket {
  readonly directory: string
  readonly socketPath: string
}

const socketIn = (directory: string): PgliteSocket => ({ directory, socketPath: join(directory, socketFileName) })

const fits = (socket: PgliteSocket): boolean => Buffer.byteLength(socket.socketPath) <= socketPathBytesMax

/** Whether a server answers on `path` (another process serving the same data dir) rather than a socket left by a killed one. */
const answering = (path: string): Promise<boolean> =>
  new Promise((done) => {
    const probe = connect(path)
    probe.once("connect", () => (probe.destroy(), done(true)))
    probe.once("error", () => done(false))
  })

/**
 * `<dataDir>-socket`, made private to this user (it is refused if it is a link or not a directory),
 * with the socket a killed process left there removed.
 */
const besideDataDir = async (socket: PgliteSocket): Promise<void> => {
  await mkdir(socket.directory, { mode: privateMode, recursive: true })
  const found = await lstat(socket.directory)
  if (!found.isDirectory()) throw new Error(`${socket.directory} is not a directory`)
  await chmod(socket.directory, privateMode)
  if (await answering(socket.socketPath)) throw new Error(`another process serves this PGlite data dir on ${socket.socketPath}`)
  await rm(socket.socketPath, { force: true })
}

/**
 * The socket's private directory: beside the data dir, or when that path is too long for a socket,
 * a directory of its own under the system's temporary directory. Removed when the scope closes.
 */
const socketDirectory = (dataDir: string): Effect.Effect<PgliteSocket, StorageError, Scope.Scope> => {
  const absolute = resolve(dataDir)
  const beside = socketIn(join(dirname(absolute), `${basename(absolute)}-socket`))
  const make = async (): Promise<PgliteSocket> => {
    if (fits(beside)) return besideDataDir(beside).then(() => beside)
    // mkdtemp makes it 0700, with a name no other user can have taken first.
    const own = socketIn(await mkdtemp(join(tmpdir(), "gesell-pglite-")))
    if (fits(own)) return own
    await rm(own.directory, { recursive: true, force: true })
    throw new Error(`no directory for PGlite's socket within ${socketPathBytesMax} bytes (the temporary directory's path is too long)`)
  }
  return Effect.acquireRelease(Effect.tryPromise({ try: make, catch: failure("prepare PGlite's socket") }), (socket) =>
    Effect.tryPromise(() => rm(socket.directory, { recursive: true, force: true })).pipe(Effect.ignore),
  )
}

const openDatabase = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => mkdir(dataDir, { recursive: true }).then(() => PGlite.create(dataDir)),
      catch: failure("open PGlite"),
    }),
    (db) => Effect.tryPromise(() => db.close()).pipe(Effect.ignore),
  )

const serveDatabase = (db: PGlite, socket: PgliteSocket) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => {
        const server = new PGLiteSocketServer({ db, path: socket.socketPath, maxConnections: socketConnectionsMax })
        return server.start().then(() => server)
      },
      catch: failure("serve PGlite"),
    }),
    (server) => Effect.tryPromise(() => server.stop()).pipe(Effect.ignore),
  )

/**
 * Starts PGlite on `dataDir` (created if missing) and serves it on a Unix socket in a private
 * directory; returns where postgres.js connects. All of it stops when the scope closes: the server,
 * then the database, then the socket's directory goes.
 */
export const servePglite = (dataDir: string): Effect.Effect<PgliteSocket & PostgresTarget, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* socketDirectory(dataDir)
    const db = yield* openDatabase(dataDir)
    yield* serveDatabase(db, socket)
    // The URL names the user and the database; the host is the socket.
    return { ...socket, url: "postgres://postgres@localhost/postgres" }
  })

/** The ledger on PGlite under `dataDir`. */
export const pgliteLedger = (dataDir: string): Layer.Layer<Ledger, StorageError> =>
  Layer.scoped(Ledger, servePglite(dataDir).pipe(Effect.flatMap(makeSessionLedger)))
