/**
 * What only the embedded default must show: its data survives `kill -9` of the process that
 * committed it (PGlite's writes reach the operating system before a commit returns).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { crashBatches, crashBatchTxs } from "./fixtures.js"
import { Ledger } from "./ledger.js"
import { pgliteLedger } from "./pglite.js"

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
      const snapshot = yield* Ledger.pipe(Effect.flatMap((store) => store.load(0)), Effect.provide(pgliteLedger(dataDir)))
      expect(snapshot.lastSeq).toBe(crashBatches * crashBatchTxs)
      expect(snapshot.wallets).toHaveLength(crashBatches * crashBatchTxs)
      expect(snapshot.requests).toHaveLength(crashBatches * crashBatchTxs)
    }), 60_000)
})
