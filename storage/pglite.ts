/**
 * The embedded default: PGlite (Postgres compiled to WASM) with its data under a directory, run in
 * a thread of its own, so that the node talks to it through the very same postgres.js code as to a
 * real server (`postgres.ts`). One SQL dialect, one code path. The ledger's connection crosses to
 * the thread through a MessagePort; the thread also serves the database on a Unix socket, for
 * psql and the like to inspect it. PGlite is one Postgres session shared by every client: read
 * there, and never leave a transaction open while the node runs.
 *
 * The socket has no password (PGlite has none to check), so only its directory guards the ledger:
 * it is private to the node's user (mode 0700), beside the data dir. No TCP port is opened, so no
 * other local user can reach the database.
 */
import { lstat, chmod, mkdir, mkdtemp, rm } from "node:fs/promises"
import { createRequire } from "node:module"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { basename, dirname, join, resolve } from "node:path"
import { EventEmitter } from "node:events"
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads"
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

/**
 * PGlite runs in a thread of its own: Postgres compiled to WASM is as much CPU as the engine, and on
 * the event loop it took turns with it (a peer catching up spent two thirds of its time there).
 * The thread opens the database and serves it on the socket, for whoever inspects the ledger with
 * psql. The ledger's own connection reaches it through a MessagePort instead (`portSocket`): a
 * statement of a few MiB crossed the Unix socket a kernel buffer (about 200 KiB) per turn of the
 * event loop, and the turns are few while the engine works, so that the thread waited for the
 * statement while the engine waited for the commit, and the two never ran at once. A message
 * crosses whole, at once.
 *
 * Over a port, the thread splits the bytes into protocol messages and hands each to PGlite's
 * `execProtocolRawStream`, as pglite-socket does for a socket (it only takes net sockets), in
 * `runExclusive` so as to take turns with the socket's queries. The thread's code is CommonJS
 * evaluated from this text, requiring PGlite by absolute path, so that it runs the same from the
 * sources and from the build.
 */
const threadCode = `
const { parentPort, workerData } = require("node:worker_threads")
const { mkdirSync } = require("node:fs")
const { PGlite } = require(workerData.pglite)
const { PGLiteSocketServer } = require(workerData.socket)
let db, server
const ports = new Set()
const closeAll = async () => {
  for (const port of ports) port.close()
  try { if (server) await server.stop() } catch {}
  try { if (db) await db.close() } catch {}
}
const sslRequest = 80877103
const protocol3 = 196608
// One connection over a port: bytes in as the client wrote them, answers out as PGlite streams them.
const serve = (port) => {
  ports.add(port)
  const pending = []
  let buffered = 0
  let started = false
  let turn = Promise.resolve()
  const send = (bytes) => {
    // A view into PGlite's memory: copied out, and the copy moved, not cloned.
    const copy = new Uint8Array(bytes)
    port.postMessage(copy, [copy.buffer])
  }
  // The next whole message (a startup message has no type byte), or undefined until it has arrived.
  const next = () => {
    // Before the startup message, a length and a code (8 bytes); after it, a type and a length (5).
    const headBytes = started ? 5 : 8
    if (buffered < headBytes) return undefined
    if (pending[0].length < headBytes) pending.splice(0, pending.length, Buffer.concat(pending))
    const head = pending[0]
    // Before startup every message is a length then a code: SSL request, cancel request or startup.
    const code = started ? undefined : head.readInt32BE(4)
    const length = started ? 1 + head.readInt32BE(1) : head.readInt32BE(0)
    if (buffered < length) return undefined
    if (head.length < length) pending.splice(0, pending.length, Buffer.concat(pending))
    const whole = pending[0]
    const message = whole.subarray(0, length)
    if (whole.length === length) pending.shift()
    else pending[0] = whole.subarray(length)
    buffered -= length
    if (code === protocol3) started = true
    return { message, code }
  }
  const drain = async () => {
    for (let found = next(); found !== undefined; found = next()) {
      if (found.code === sslRequest) { send(Buffer.from("N")); continue }
      // A cancel request: PGlite has no backend to signal; the client expects no answer.
      if (found.code !== undefined && found.code !== protocol3) continue
      await db.runExclusive(() => db.execProtocolRawStream(new Uint8Array(found.message), { onRawData: send }))
    }
  }
  port.on("message", (data) => {
    pending.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    buffered += data.byteLength
    // A failure of PGlite itself (SQL errors are answers): the connection closes, as a socket would.
    turn = turn.then(drain).catch(() => port.close())
  })
  port.on("close", () => ports.delete(port))
}
parentPort.on("message", async (message) => {
  if (message && message.type === "connect") return serve(message.port)
  if (message !== "stop") return
  await closeAll()
  parentPort.postMessage({ type: "stopped" })
  parentPort.close()
})
;(async () => {
  mkdirSync(workerData.dataDir, { recursive: true })
  db = await PGlite.create(workerData.dataDir)
  server = new PGLiteSocketServer({ db, path: workerData.socketPath, maxConnections: workerData.maxConnections })
  await server.start()
  parentPort.postMessage({ type: "ready" })
})().catch(async (error) => {
  await closeAll()
  parentPort.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) })
  parentPort.close()
})
`

/**
 * A connection to PGlite's thread over a MessagePort, as postgres.js takes a socket of its own
 * (`socket` option): it writes protocol bytes and reads the answers from 'data' events. Each write
 * crosses as one message.
 */
class PortSocket extends EventEmitter {
  readyState: "open" | "closed" = "open"

  constructor(private readonly port: MessagePort) {
    super()
    port.on("message", (data: Uint8Array) => this.emit("data", Buffer.from(data.buffer, data.byteOffset, data.byteLength)))
    port.on("close", () => {
      this.readyState = "closed"
      this.emit("close")
    })
  }

  write(chunk: Uint8Array, callback?: (error?: Error) => void): boolean {
    if (this.readyState !== "open") {
      callback?.(new Error("the connection to PGlite's thread is closed"))
      return false
    }
    // postgres.js's buffers may be views into a larger pool: copy the bytes, and move the copy.
    const copy = new Uint8Array(chunk)
    this.port.postMessage(copy, [copy.buffer])
    if (callback !== undefined) queueMicrotask(() => callback())
    return true
  }

  end(chunk?: Uint8Array): void {
    if (chunk !== undefined) this.write(chunk)
    this.destroy()
  }

  destroy(): void {
    if (this.readyState === "open") this.port.close()
  }
}

/** A new connection to the thread's database: a channel whose other end the thread serves. */
const portSocket = (worker: Worker) => (): PortSocket => {
  const { port1, port2 } = new MessageChannel()
  worker.postMessage({ type: "connect", port: port2 }, [port2])
  return new PortSocket(port1)
}

const packagePath = createRequire(import.meta.url)

/** How long a stopping thread may take to close the database before it is terminated. */
const threadStopMs = 30_000

/**
 * Opens PGlite on `dataDir` in its thread and serves it on `socket`; stops both when the scope
 * closes. The database going away under a running ledger (the thread failing) ends the process
 * with a line saying so, as PGlite failing on the event loop did: nothing committed is lost, and a
 * restart opens it again.
 */
const serveInThread = (dataDir: string, socket: PgliteSocket) =>
  Effect.acquireRelease(
    Effect.async<Worker, StorageError>((resume) => {
      const worker = new Worker(threadCode, {
        eval: true,
        workerData: {
          pglite: packagePath.resolve("@electric-sql/pglite"),
          socket: packagePath.resolve("@electric-sql/pglite-socket"),
          dataDir: resolve(dataDir),
          socketPath: socket.socketPath,
          maxConnections: socketConnectionsMax,
        },
      })
      let ready = false
      let refused = false
      const failed = (message: string) => {
        if (ready) {
          process.stderr.write(`gesell: PGlite stopped: ${message}\n`)
          process.exit(70)
        }
        if (refused) return
        refused = true
        resume(Effect.fail(new StorageError({ operation: "open PGlite", message })))
      }
      worker.on("message", (message: { type: string; message?: string }) => {
        if (message.type === "ready") {
          ready = true
          resume(Effect.succeed(worker))
        } else if (message.type === "failed") failed(message.message ?? "PGlite failed to start")
      })
      worker.on("error", (error) => failed(error.message))
      worker.on("exit", (code) => {
        if (!stopping.has(worker)) failed(`its thread exited (${code})`)
      })
    }),
    (worker) =>
      Effect.promise(
        () =>
          new Promise<void>((done) => {
            stopping.add(worker)
            const timer = setTimeout(() => worker.terminate().then(() => done(), () => done()), threadStopMs)
            worker.once("exit", () => (clearTimeout(timer), done()))
            worker.postMessage("stop")
          }),
      ),
  )

/** Threads being stopped on purpose, whose exit is no failure. */
const stopping = new WeakSet<Worker>()

/**
 * Starts PGlite on `dataDir` (created if missing) and serves it on a Unix socket in a private
 * directory; returns where postgres.js connects. All of it stops when the scope closes: the server,
 * then the database, then the socket's directory goes.
 */
export const servePglite = (dataDir: string): Effect.Effect<PgliteSocket & PostgresTarget, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* socketDirectory(dataDir)
    const worker = yield* serveInThread(dataDir, socket)
    // The URL names the user and the database; the host is the socket, for other clients: the
    // ledger connects through a port (`connect`).
    return { ...socket, url: "postgres://postgres@localhost/postgres", connect: portSocket(worker) }
  })

/** The ledger on PGlite under `dataDir`. */
export const pgliteLedger = (dataDir: string): Layer.Layer<Ledger, StorageError> =>
  Layer.scoped(Ledger, servePglite(dataDir).pipe(Effect.flatMap(makeSessionLedger)))
