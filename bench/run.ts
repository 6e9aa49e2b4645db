/**
 * `npm run bench`: the throughput and latency of a gesell node under reader load, next to the
 * ceilings of this machine measured in the same run (transport alone, storage alone, and the tap
 * ceiling they make together) and next to the naive design (a locking Postgres transaction per
 * tap). Prints one table and writes the same figures as JSON under bench/results/. Every process it
 * starts is stopped at the end, on failure, on a signal, or when the run passes its deadline.
 *
 *   npm run bench -- [--quick] [--storage postgres|pglite] [--scenario NAME,…] [--connections N]
 *     [--workers W] [--cards M] [--seconds S] [--rate R] [--wallets N] [--results DIR]
 */
import { cpus, loadavg, totalmem } from "node:os"
import { performance } from "node:perf_hooks"
import type { LoadFigures } from "./measure.js"
import type { NaiveFigures } from "./naive.js"
import { parseOptions, usage, type BenchOptions, type ScenarioName } from "./options.js"
import { clockTicksPerSecond } from "./proc.js"
import { progressDone } from "./progress.js"
import { formatRow, formatTable, header, writeResult, type Row } from "./report.js"
import {
  gesellFigures,
  gesellLoadOf,
  loadRow,
  naiveFigures,
  storageCeilingFigures,
  transportCeiling,
  stateMemory,
  type Session,
} from "./scenarios.js"
import type { StorageFigures } from "./storage-ceiling.js"
import { openStorage } from "./storage-under-test.js"
import { Teardown } from "./teardown.js"
import type { StateMemory } from "./state-memory.js"
import { verifyFigures, type CatchUpFigures, type VerifyFigures } from "./verify.js"
import { WorkerPool } from "./workers.js"

interface Outcome {
  transport?: LoadFigures
  storage?: StorageFigures
  naive?: NaiveFigures
  naiveNoPlaceCredit?: NaiveFigures
  memory?: StateMemory
  verify?: VerifyFigures
  readonly scenarios: Record<string, LoadFigures>
  readonly rows: Row[]
}

const show = (outcome: Outcome, row: Row): void => {
  progressDone()
  outcome.rows.push(row)
  console.log(formatRow(row))
}

const naiveRow = (label: string, figures: NaiveFigures): Row => ({
  label,
  rate: figures.tapsPerSecond,
  unit: "taps/s",
  latency: figures,
  appCpuMsPer1000: figures.appCpuMsPer1000,
  postgresCpuMsPer1000: figures.postgresCpuMsPer1000,
  peakMemoryBytes: undefined,
  note: `${figures.connections} connection${figures.connections === 1 ? "" : "s"}, a locking transaction per tap`,
})

const storageRow = (figures: StorageFigures): Row => ({
  label: "storage ceiling",
  rate: figures.rowsPerSecond,
  unit: "rows/s",
  latency: undefined,
  appCpuMsPer1000: figures.appCpuMsPer1000,
  postgresCpuMsPer1000: figures.postgresCpuMsPer1000,
  peakMemoryBytes: undefined,
  note: `commits of ${figures.batchTaps} taps (${Math.round(figures.batchTaps * figures.rowsPerTap)} rows) in ${figures.commitMsMean.toFixed(1)} ms`,
})

const memoryRow = (figures: StateMemory): Row => ({
  label: "memory",
  rate: undefined,
  unit: "",
  latency: undefined,
  appCpuMsPer1000: undefined,
  postgresCpuMsPer1000: undefined,
  peakMemoryBytes: figures.walletHeapBytes + figures.requestHeapBytes,
  note:
    `${Math.round(figures.bytesPerWallet)} bytes per wallet (${figures.wallets.toLocaleString("en-US")} cards with a topped-up wallet), ` +
    `${Math.round(figures.bytesPerRequest)} per remembered request (${figures.requests.toLocaleString("en-US")}); engine heap after gc`,
})

const catchUpRow = (label: string, figures: CatchUpFigures): Row => ({
  label,
  rate: figures.transactionsPerSecond,
  unit: "tx/s",
  latency: undefined,
  appCpuMsPer1000: figures.followerCpuMsPer1000,
  postgresCpuMsPer1000: figures.postgresCpuMsPer1000,
  peakMemoryBytes: undefined,
  note:
    `${figures.transactions.toLocaleString("en-US")} transactions in ${figures.blocks.toLocaleString("en-US")} blocks, ${figures.seconds.toFixed(1)} s; ` +
    `${figures.flatOutRatio.toFixed(2)} × flat out; the node's CPU serving the feed: ${figures.nodeCpuMsPer1000?.toFixed(1) ?? "n/a"} ms/1k`,
})

/** Runs one scenario and shows its row. */
const runScenario = async (session: Session, outcome: Outcome, name: ScenarioName): Promise<void> => {
  if (name === "transport") {
    outcome.transport = await transportCeiling(session)
    return show(outcome, loadRow("transport ceiling", "req/s", outcome.transport, "(echo server, no engine, no storage)"))
  }
  if (name === "storage") return show(outcome, storageRow((outcome.storage = await storageCeilingFigures(session))))
  if (name === "naive") return show(outcome, naiveRow("naive", (outcome.naive = await naiveFigures(session, true))))
  if (name === "naive-no-credit") {
    return show(outcome, naiveRow("naive, no place credit", (outcome.naiveNoPlaceCredit = await naiveFigures(session, false))))
  }
  if (name === "memory") return show(outcome, memoryRow((outcome.memory = await stateMemory(session))))
  if (name === "verify") {
    const verify = (outcome.verify = await verifyFigures(session))
    show(outcome, loadRow("verify: flat out", "taps/s", verify.flatOut, "(the node whose ledger the followers check)"))
    show(outcome, catchUpRow("verify: peer", verify.peer))
    return show(outcome, catchUpRow("verify: validator", verify.validator))
  }
  const load = gesellLoadOf(name)
  if (load === undefined) throw new Error(`unknown scenario ${name}`)
  const figures = await gesellFigures(session, name, load)
  outcome.scenarios[name] = figures
  show(outcome, loadRow(name, "taps/s", figures))
}

/** 1 / (1/transport + rows-per-tap/storage): both share the same cores. */
const tapCeilingOf = (outcome: Outcome): number | undefined => {
  const { transport, storage } = outcome
  if (transport === undefined || storage === undefined || transport.perSecond <= 0 || storage.rowsPerSecond <= 0) return undefined
  return 1 / (1 / transport.perSecond + storage.rowsPerTap / storage.rowsPerSecond)
}

const ratio = (numerator: number | undefined, denominator: number | undefined): number | undefined =>
  numerator === undefined || denominator === undefined || denominator <= 0 ? undefined : numerator / denominator

const legendOf = (session: Session): string[] => [
  `storage: ${session.storage.note}; ${session.options.connections} reader connections over ${session.options.workers} worker processes, ${session.options.cards.toLocaleString("en-US")} cards, ${session.options.seconds} s per phase after ${session.options.warmupSeconds} s of warm-up`,
  "app CPU: the node; for the transport ceiling the echo server; for the storage ceiling and the naive design the bench's own client" +
    (session.storage.kind === "pglite" ? " (with PGlite inside it). pg CPU: n/a on PGlite, which runs inside the node" : ""),
  "flat out: 64 requests in flight per connection; rate-R: open loop, latency from each tap's scheduled time; tap ceiling = 1 / (1/transport + rows per tap/storage)",
  "each gesell scenario runs on a new node and database, seeded alike; beyond-cache: flat out on a node that has forgotten requests of the last 24 h from memory (its request cache set to a quarter of the seeding)",
  ...(session.options.scenarios.includes("verify")
    ? [
        `verify: a node tapped flat out until its ledger holds ${session.options.verifyTransactions.toLocaleString("en-US")} transactions, then a new gesell peer, then a gesell validator joining the set, each timed from its start until it holds the node's last final block (the validator: until its vote makes the next one final); app CPU: the follower with its PGlite, pg CPU: the node's PostgreSQL reading the feed's blocks`,
      ]
    : []),
]

const resultOf = (session: Session, outcome: Outcome, startedAt: Date, tapCeiling: number | undefined) => {
  const flatOut = outcome.scenarios["flat-out"]
  const options: BenchOptions = session.options
  return {
    tapsPerSecond: flatOut?.perSecond,
    p99Ms: flatOut?.p99Ms,
    tapCeilingRatio: ratio(flatOut?.perSecond, tapCeiling),
    naiveRatio: ratio(flatOut?.perSecond, outcome.naive?.tapsPerSecond),
    startedAt: startedAt.toISOString(),
    storage: session.storage.kind,
    storageNote: session.storage.note,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version, loadAverage: loadavg(), clockTicksPerSecond: session.clockTicksPerSecond },
    options: { ...options, resultsDir: undefined },
    baselines: {
      transport: outcome.transport === undefined ? undefined : { requestsPerSecond: outcome.transport.perSecond, ...outcome.transport },
      storage: outcome.storage,
      tapCeiling: tapCeiling === undefined ? undefined : { tapsPerSecond: tapCeiling, rowsPerTap: outcome.storage?.rowsPerTap, formula: "1 / (1/transport + rowsPerTap/storage)" },
      naive: outcome.naive,
      naiveNoPlaceCredit: outcome.naiveNoPlaceCredit,
    },
    scenarios: Object.fromEntries(Object.entries(outcome.scenarios).map(([name, figures]) => [name, { tapsPerSecond: figures.perSecond, ...figures }])),
    memory: outcome.memory,
    peerVerifyRatio: outcome.verify?.peer.flatOutRatio,
    validatorVerifyRatio: outcome.verify?.validator.flatOutRatio,
    verify: outcome.verify,
  }
}

const verifyLine = (verify: VerifyFigures): string =>
  `verify: ${verify.transactions.toLocaleString("en-US")} transactions; peer ÷ flat out: ${verify.peer.flatOutRatio.toFixed(2)}    ` +
  `validator ÷ flat out: ${verify.validator.flatOutRatio.toFixed(2)} (catch-up from block 0, storage included, against the node's flat-out taps/s)`

const runAll = async (options: BenchOptions, teardown: Teardown): Promise<void> => {
  const started = performance.now()
  const startedAt = new Date(performance.timeOrigin + started)
  const storage = await openStorage(options.storage, teardown)
  const pool = await WorkerPool.start(options.workers, teardown)
  const session: Session = { options, storage, pool, teardown, clockTicksPerSecond: clockTicksPerSecond(), phases: 0 }
  const outcome: Outcome = { scenarios: {}, rows: [] }
  console.log(`gesell bench${options.quick ? " --quick" : ""}: ${storage.note}`)
  console.log(header())
  for (const name of options.scenarios) await runScenario(session, outcome, name)
  const tapCeiling = tapCeilingOf(outcome)
  const ceilingRow: Row[] =
    tapCeiling === undefined
      ? []
      : [{ label: "tap ceiling", rate: tapCeiling, unit: "taps/s", latency: undefined, appCpuMsPer1000: undefined, postgresCpuMsPer1000: undefined, peakMemoryBytes: undefined, note: "(computed)" }]
  const result = resultOf(session, outcome, startedAt, tapCeiling)
  console.log("")
  console.log(formatTable([...ceilingRow, ...outcome.rows], result, legendOf(session)))
  if (outcome.verify !== undefined) console.log(verifyLine(outcome.verify))
  const path = await writeResult(options.resultsDir, startedAt, { ...result, seconds: (performance.now() - started) / 1000 })
  console.log(`\nresult: ${path} (and latest.json); ${((performance.now() - started) / 1000).toFixed(0)} s`)
}

/** Stops everything on a signal or past the deadline; the exit code says which. */
const guard = (teardown: Teardown, deadlineSeconds: number): void => {
  const stop = (why: string, code: number) => {
    progressDone()
    console.error(why)
    teardown
      .run()
      .catch((error: unknown) => console.error(`bench: teardown failed: ${String(error)}`))
      .finally(() => process.exit(code))
  }
  process.once("SIGINT", () => stop("interrupted: stopping what the bench started", 130))
  process.once("SIGTERM", () => stop("terminated: stopping what the bench started", 143))
  setTimeout(() => stop(`the bench ran past its deadline of ${deadlineSeconds} s: stopping`, 1), deadlineSeconds * 1000).unref()
}

const main = async (): Promise<void> => {
  let options: BenchOptions
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    console.error(usage)
    process.exitCode = 2
    return
  }
  const teardown = new Teardown()
  guard(teardown, options.deadlineSeconds)
  try {
    await runAll(options, teardown)
  } catch (error) {
    progressDone()
    console.error("the bench failed:", error)
    process.exitCode = 1
  } finally {
    await teardown.run()
  }
}

await main()
