/**
 * What only the embedded default must show: its data survives `kill -9` of the process that
 * committed it (PGlite's writes reach the operating system before a commit returns), and it is
 * served on a Unix socket in a directory private to the node's user, never on a TCP port.
 */
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createHash } from "node:crypto"
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { listeningTcpPorts } from "../test/listening-ports.js"
import { crashBatches, crashBatchTxs, genesisDocument, genesisTx } from "./fixtures.js"
import { Ledger } from "./ledger.js"
import { pgliteLedger, servePglite, socketPathBytesMax } from "./pglite.js"
import { makeSessionLedger } from "./postgres.js"

const child = fileURLToPath(new URL("./pglite-crash.child.ts", import.meta.url))
const viteNode = fileURLToPath(new URL("../node_modules/vite-node/vite-node.mjs", import.meta.url))

/** Runs the child until it says it committed, then kills it with SIGKILL; resolves once it is dead. */
const commitThenKill = (dataDir: string): Promise<NodeJS.Signals | null> =>
  new Promise((resolve, reject) => {
    const process = spawn(globalThis.process.execPath, [viteNode, child, dataDir], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("committed")) process.kill("SIGKILL")
    }
    process.stdout.on("data", collect)
    process.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    process.once("error", reject)
    process.once("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve(signal) : reject(new Error(`the child exited with ${code} before committing:\n${output}`)),
    )
  })

describe("PGlite data", () => {
  let root = ""
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "gesell-pglite-crash-"))
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it.live("survives kill -9 of the process that committed it", () =>
    Effect.gen(function* () {
      const dataDir = join(root, "pglite")
      expect(yield* Effect.promise(() => commitThenKill(dataDir))).toBe("SIGKILL")
      // The killed process left its socket behind: the next one replaces it.
      expect(existsSync(join(root, "pglite-socket", ".s.PGSQL.5432"))).toBe(true)
      const snapshot = yield* Ledger.pipe(Effect.flatMap((store) => store.load(0)), Effect.provide(pgliteLedger(dataDir)))
      expect(snapshot.lastSeq).toBe(crashBatches * crashBatchTxs)
      expect(snapshot.wallets).toHaveLength(crashBatches * crashBatchTxs)
      expect(snapshot.requests).toHaveLength(crashBatches * crashBatchTxs)
    }), 60_000)
})

/** The permission bits of a path. */
const modeOf = (path: string): number => statSync(path).mode & 0o777

/** Serves PGlite on `dataDir`, runs the ledger on it, and hands `check` where it is served. */
const served = <A>(dataDir: string, check: (socket: { directory: string; socketPath: string }) => A) =>
  Effect.scoped(
    Effect.gen(function* () {
      const socket = yield* servePglite(dataDir)
      const store = yield* makeSessionLedger(socket)
      yield* store.initialize(genesisDocument, genesisTx)
      yield* store.ping
      return { socket, checked: check(socket) }
    }),
  )

describe("PGlite's socket", () => {
  let root = ""
  // A new PGlite data dir costs seconds (initdb in WASM); a copy of an empty one, milliseconds.
  const copyOfTemplate = (name: string): string => {
    const dataDir = join(root, name)
    cpSync(join(root, "template"), dataDir, { recursive: true })
    return dataDir
  }
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "gesell-pglite-socket-"))
    return Effect.runPromise(Effect.scoped(servePglite(join(root, "template"))))
  }, 60_000)
  afterAll(() => rmSync(root, { recursive: true, force: true }), 60_000)

  it.live("is a Unix socket in a directory only the node's user may enter, and no TCP port is opened", () =>
    Effect.gen(function* () {
      const listeningBefore = listeningTcpPorts("self")
      const dataDir = copyOfTemplate("short")
      const { socket, checked } = yield* served(dataDir, (socket) => ({
        listening: listeningTcpPorts("self"),
        directoryMode: modeOf(socket.directory),
        isSocket: statSync(socket.socketPath).isSocket(),
      }))
      expect(socket.directory).toBe(`${dataDir}-socket`)
      expect(checked).toEqual({ listening: listeningBefore, directoryMode: 0o700, isSocket: true })
      expect(existsSync(socket.directory), "the socket's directory is removed at close").toBe(false)
    }), 60_000)

  it.live("for a data dir whose socket path would be too long, is in a private directory of its own under the temporary directory", () =>
    Effect.gen(function* () {
      const dataDir = copyOfTemplate("d".repeat(socketPathBytesMax))
      const { socket, checked } = yield* served(dataDir, (socket) => ({ directoryMode: modeOf(socket.directory) }))
      expect(socket.directory.startsWith(join(tmpdir(), "gesell-pglite-"))).toBe(true)
      expect(Buffer.byteLength(socket.socketPath)).toBeLessThanOrEqual(socketPathBytesMax)
      expect(checked).toEqual({ directoryMode: 0o700 })
      expect(existsSync(socket.directory), "the socket's directory is removed at close").toBe(false)
      // The ledger is where it was asked to be, not beside the socket.
      expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true)
    }), 60_000)

  it.live("is refused to a second server on the same data dir while the first one serves it", () =>
    Effect.gen(function* () {
      const dataDir = copyOfTemplate("shared")
      const message = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* servePglite(dataDir)
          return (yield* Effect.flip(Effect.scoped(servePglite(dataDir)))).message
        }),
      )
      expect(message).toContain("another process serves this PGlite data dir")
    }), 60_000)

  it.live("reaches the thread through a port that carries a statement of many MiB whole, answers SQL errors as errors, and serves the socket too", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const target = yield* servePglite(copyOfTemplate("port"))
        const overPort = postgres(target.url, { socket: target.connect, max: 1, onnotice: () => undefined } as object)
        const overSocket = postgres(target.url, { path: target.socketPath, max: 1, onnotice: () => undefined })
        yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([overPort.end(), overSocket.end()])))
        const big = "x".repeat(12 * 1024 * 1024)
        const [row] = yield* Effect.promise(() => overPort`select length(${big}::text) as n, md5(${big}::text) as digest`)
        expect(row).toEqual({ n: big.length, digest: createHash("md5").update(big).digest("hex") })
        const refused = yield* Effect.promise(() => overPort`select 1 / 0`.then(() => "answered", (error: Error) => error.message))
        expect(refused).toContain("division by zero")
        // The connection is still there after the error, and both clients see one database.
        yield* Effect.promise(() => overPort`create table seen (n int); insert into seen values (7)`.simple())
        expect(yield* Effect.promise(() => overSocket`select n from seen`)).toEqual([{ n: 7 }])
      }),
    ), 60_000)

  it.live("runs PGlite in a thread of its own, and a data dir it cannot open is a StorageError, not a crash", () =>
    Effect.gen(function* () {
      const ports = () => process.getActiveResourcesInfo().filter((kind) => kind === "MessagePort").length
      const before = ports()
      const { checked } = yield* served(copyOfTemplate("threaded"), ports)
      // The thread's port, and the ledger's connection to it.
      expect(checked, "the thread's message ports").toBe(before + 2)
      expect(ports(), "the thread is gone at close").toBe(before)
      const blocked = join(root, "not-a-directory")
      writeFileSync(blocked, "a file where the data dir should be")
      const error = yield* Effect.flip(Effect.scoped(servePglite(blocked)))
      expect(error._tag).toBe("StorageError")
      expect(error.message.length).toBeGreaterThan(0)
      expect(existsSync(`${blocked}-socket`), "the socket's directory is removed").toBe(false)
    }), 60_000)
})
