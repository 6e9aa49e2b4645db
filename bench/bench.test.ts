/**
 * `npm run bench` runs end to end on a tiny load: the built bench is started as `npm run bench`
 * starts it, and its JSON result must hold the named figures as finite positive numbers and its
 * table must be printed. Benchmarks are not tests: nothing here asserts how fast anything is.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { postgresInstalled } from "../test/postgres-server.js"

const runPath = new URL("../dist/bench/run.js", import.meta.url).pathname
/** The bench's own deadline is longer; this one stops a run that hangs the suite. */
const benchTimeoutMs = 150_000
const tiny = ["--quick", "--workers", "1", "--connections", "2", "--seconds", "1", "--cards", "300", "--wallets", "10000"]
const headline = ["tapsPerSecond", "tapCeilingRatio", "naiveRatio", "p99Ms"] as const

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

const runBench = (args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [runPath, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    // SIGINT lets the bench stop what it started; SIGKILL follows if it does not.
    const timer = setTimeout(() => {
      child.kill("SIGINT")
      setTimeout(() => child.kill("SIGKILL"), 20_000).unref()
    }, benchTimeoutMs)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const benchEndToEnd = async (args: readonly string[]) => {
  if (!existsSync(runPath)) throw new Error(`${runPath} is missing: run npm run build first`)
  const results = await mkdtemp(join(tmpdir(), "gesell-bench-results-"))
  dirs.push(results)
  const run = await runBench([...tiny, ...args, "--results", results])
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
  const result = JSON.parse(await readFile(join(results, "latest.json"), "utf8")) as Record<string, unknown>
  for (const figure of headline) {
    const value = result[figure]
    expect(typeof value === "number" && Number.isFinite(value) && value > 0, `${figure} is ${String(value)}`).toBe(true)
  }
  expect(run.stdout).toMatch(/^scenario +rate +p50 ms +p99 ms +p99\.9 ms/m)
  expect(run.stdout).toMatch(/^flat-out +[\d,]+ taps\/s/m)
  expect(run.stdout).toMatch(/^tap ceiling +[\d,]+ taps\/s/m)
  expect(run.stdout).toMatch(/gesell ÷ tap ceiling: \d+\.\d+ +gesell ÷ naive: \d+\.\d+/)
  return { result, stdout: run.stdout }
}

describe("npm run bench", () => {
  it("runs end to end on PostgreSQL (the quick scenarios, a tiny load)", async () => {
    const installed = postgresInstalled()
    if (!installed && process.env["GESELL_REQUIRE_SERVERS"] === "1") throw new Error("PostgreSQL is not installed and GESELL_REQUIRE_SERVERS=1")
    if (!installed) console.warn("PostgreSQL is not installed: the bench falls back to PGlite, and this test checks that it says so")
    const { result, stdout } = await benchEndToEnd(["--storage", "postgres"])
    expect(result["storage"]).toBe(installed ? "postgres" : "pglite")
    if (!installed) expect(stdout).toContain("fell back to PGlite")
    const scenarios = result["scenarios"] as Record<string, unknown>
    expect(Object.keys(scenarios).sort()).toEqual(["beyond-cache", "flat-out", "hot-card", "hot-place", "rate-5000"])
    // The node is the bench federation's validator: its blocks become final while it takes taps.
    const finals = Object.values(scenarios).map((figures) => (figures as { blocksFinal?: number }).blocksFinal ?? 0)
    expect(finals.reduce((sum, count) => sum + count, 0), "blocks made final during the scenarios").toBeGreaterThan(0)
    expect((result["memory"] as { bytesPerWallet: number }).bytesPerWallet).toBeGreaterThan(0)
  }, benchTimeoutMs + 30_000)

  it("runs the verify scenario end to end (a tiny ledger): a peer and a validator catch up, their rates and ratios to flat out are printed and kept", async () => {
    if (!existsSync(runPath)) throw new Error(`${runPath} is missing: run npm run build first`)
    const results = await mkdtemp(join(tmpdir(), "gesell-bench-results-"))
    dirs.push(results)
    const args = ["--workers", "1", "--connections", "2", "--seconds", "1", "--cards", "300", "--storage", "pglite", "--scenario", "verify", "--transactions", "2000"]
    const run = await runBench([...args, "--results", results])
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
    const result = JSON.parse(await readFile(join(results, "latest.json"), "utf8")) as Record<string, unknown>
    const verify = result["verify"] as { transactions: number; peer: Record<string, number>; validator: Record<string, number> }
    expect(verify.transactions).toBeGreaterThanOrEqual(2000)
    // The validator catches up on two transactions more: its own addition to the set, and the top-up whose block only its vote makes final.
    expect(verify.validator["transactions"]).toBe(verify.transactions + 2)
    for (const figure of [verify.peer["transactionsPerSecond"], verify.validator["transactionsPerSecond"], result["peerVerifyRatio"], result["validatorVerifyRatio"]]) {
      expect(typeof figure === "number" && Number.isFinite(figure) && figure > 0, `a verify figure is ${String(figure)}`).toBe(true)
    }
    expect(run.stdout).toMatch(/^verify: peer +[\d,]+ tx\/s/m)
    expect(run.stdout).toMatch(/^verify: validator +[\d,]+ tx\/s/m)
    expect(run.stdout).toMatch(/peer ÷ flat out: \d+\.\d+ +validator ÷ flat out: \d+\.\d+/)
  }, benchTimeoutMs + 30_000)

  it("runs end to end on PGlite (the baselines and flat out, a tiny load)", async () => {
    const { result } = await benchEndToEnd(["--storage", "pglite", "--scenario", "transport,storage,naive,flat-out"])
    expect(result["storage"]).toBe("pglite")
  }, benchTimeoutMs + 30_000)
})
