/**
 * Ledger format 2 at the command line (PROTOCOL.md section 9): `gesell start`, `gesell validator`
 * and `gesell peer` on a data dir or a database holding a ledger of format 1 (what an earlier version
 * leaves: no `format` row in meta) stop at start, with one line saying why and exit code 1, before
 * they listen, connect or change anything. The ledger is made through the storage layer, as the
 * storage tests make theirs, so that this test does not depend on a genesis the engine accepts.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { Effect, type Layer } from "effect"
import postgres from "postgres"
import { afterAll, describe, expect, it } from "vitest"
import { genesisDocument, genesisTx, salesBatch } from "../storage/fixtures.js"
import { Ledger, type StorageError } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { postgresLedger } from "../storage/postgres.js"
import { cliPath, runCli } from "./node-process.js"
import { postgresInstalled, startPostgres } from "./postgres-server.js"

const refusal =
  "gesell: this database holds a ledger of format 1, written by an earlier version of Gesell; this version reads and " +
  "writes format 2 only (PROTOCOL.md section 9) and does not migrate: start on an empty data dir or database\n"

/** A ledger of ten sales, written by this version. */
const makeLedger = (layer: Layer.Layer<Ledger, StorageError>): Promise<void> =>
  Effect.runPromise(
    Ledger.pipe(
      Effect.tap((store) => store.initialize(genesisDocument, genesisTx)),
      Effect.flatMap((store) => store.commit(salesBatch(1, 10))),
      Effect.provide(layer),
    ),
  )

const formatOne = "delete from meta where key = 'format'"

/** A stuck test is a failed test: a command that has not stopped by then is killed, and fails the test. */
const stopWithinMs = 120_000

/** Runs a gesell command that should stop at start; one that goes on running is killed at the deadline (exit code -1). */
const runStopping = (args: readonly string[], env: Record<string, string>): Promise<{ code: number; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const deadline = setTimeout(() => child.kill("SIGKILL"), stopWithinMs)
    child.once("exit", (code) => (clearTimeout(deadline), resolve({ code: code ?? -1, output })))
  })

const root = mkdtempSync(join(tmpdir(), "gesell-ledger-format-"))
afterAll(() => rmSync(root, { recursive: true, force: true }), 60_000)

/** A well-formed pin, so that the replicas get past their arguments to the data dir (its format is checked before block 0 is). */
const pinned = "ab".repeat(32)
/** A feed no one serves: the commands must stop before they try it. */
const engine = "ws://127.0.0.1:9/v1/federation"

describe("a data dir holding a ledger of format 1", () => {
  it("stops gesell start, validator and peer at start with one line saying why, exit code 1", async () => {
    const dataDir = join(root, "pglite-node")
    await makeLedger(pgliteLedger(join(dataDir, "pglite")))
    const db = await PGlite.create(join(dataDir, "pglite"))
    await db.exec(formatOne)
    await db.close()
    const key = join(root, "validator-key.json")
    expect((await runCli(["keygen", "--out", key])).code).toBe(0)
    for (const args of [
      ["start", "--data-dir", dataDir, "--port", "0"],
      ["validator", "--engine", engine, "--key", key, "--data-dir", dataDir, "--genesis-hash", pinned],
      ["peer", "--engine", engine, "--key", key, "--data-dir", dataDir, "--genesis-hash", pinned, "--port", "0"],
    ]) {
      const { code, output } = await runStopping(args, { GESELL_ADMIN_TOKEN: "a-test-admin-token-of-32-characters-or-more" })
      expect(output, args[0]).toBe(refusal)
      expect(code, args[0]).toBe(1)
    }
  }, 5 * stopWithinMs)
})

describe.skipIf(!postgresInstalled() && process.env["GESELL_REQUIRE_SERVERS"] !== "1")("a PostgreSQL database holding a ledger of format 1", () => {
  it("stops gesell start at start with one line saying why, exit code 1", async () => {
    const server = await startPostgres()
    if (server === undefined) throw new Error("the PostgreSQL test server did not start")
    try {
      await makeLedger(postgresLedger(server.url))
      const sql = postgres(server.url, { max: 1 })
      await sql.unsafe(formatOne)
      await sql.end()
      const { code, output } = await runStopping(["start", "--data-dir", join(root, "postgres-node"), "--port", "0"], {
        DATABASE_URL: server.url,
        GESELL_ADMIN_TOKEN: "a-test-admin-token-of-32-characters-or-more",
      })
      expect(output).toBe(refusal)
      expect(code).toBe(1)
    } finally {
      await server.destroy()
    }
  }, 5 * stopWithinMs)
})
