/**
 * Each scenario of the bench and what it measures, as a row of the table and a part of the JSON
 * result: the three baselines (the transport ceiling against an echo server, the storage ceiling,
 * the naive design), the gesell node under flat-out, hot-place, hot-card and fixed-rate load, and
 * the memory a resident wallet costs. Each gesell scenario gets a node of its own, on a new
 * database, seeded the same way, so that no scenario inherits what an earlier one left (a fuller
 * request cache, a bigger heap, a longer table).
 */
import { fork } from "node:child_process"
import { barReader, hotCardIndex, saleAmount, tokenOf, type ReaderGroup } from "./federation.js"
import { measureLoad, type LoadFigures, type Targets } from "./measure.js"
import type { Pace, PhaseOrder } from "./messages.js"
import { naiveBaseline, naiveConnections, type NaiveFigures } from "./naive.js"
import { seedCards, startBenchNode, type BenchNode } from "./node-under-test.js"
import type { BenchOptions } from "./options.js"
import { progress, progressDone } from "./progress.js"
import type { Row } from "./report.js"
import { storageCeiling, type StorageFigures } from "./storage-ceiling.js"
import type { StorageUnderTest } from "./storage-under-test.js"
import { within, type Teardown } from "./teardown.js"
import type { StateMemory } from "./state-memory.js"
import type { WorkerPool } from "./workers.js"

export const inflightMax = 64
/** Replies of the window's requests are waited for this long after it. */
const drainMs = 10_000
const echoStartTimeoutMs = 10_000
/** The memory child builds a million wallets in seconds; this only stops one that hangs. */
const memoryTimeoutMs = 120_000

export interface Session {
  readonly options: BenchOptions
  readonly storage: StorageUnderTest
  readonly pool: WorkerPool
  readonly teardown: Teardown
  readonly clockTicksPerSecond: number
  phases: number
}

const phaseOrder = (session: Session, url: string, group: ReaderGroup, pace: Pace, hotCard: number | undefined): PhaseOrder => {
  const { options } = session
  session.phases++
  return {
    tag: `p${session.phases}c`,
    url,
    connections: Array.from({ length: options.connections }, (_, index) => ({ index, token: tokenOf(barReader(group, index)) })),
    cards: options.cards,
    hotCard,
    amount: saleAmount,
    pace,
    warmupMs: options.warmupSeconds * 1000,
    durationMs: options.seconds * 1000,
    drainMs,
  }
}

const pipelined: Pace = { kind: "pipelined", inflightMax }

/** A flat-out phase of the spread readers on `url`, sized by the run's options. */
export const pipelinedOrder = (session: Session, url: string): PhaseOrder => phaseOrder(session, url, "spread", pipelined, undefined)

/** A row of the table from a load phase's figures. */
export const loadRow = (label: string, unit: string, figures: LoadFigures, note = ""): Row => {
  const errors = Object.entries(figures.errors).map(([code, count]) => `${code} ${count}`)
  const lost = [...errors, ...(figures.unanswered > 0 ? [`unanswered ${figures.unanswered}`] : []), ...(figures.unsent > 0 ? [`unsent ${figures.unsent}`] : [])]
  const commits = figures.commitBatchMean === undefined ? "" : `commits of ${Math.round(figures.commitBatchMean)} taps in ${figures.commitMsMean?.toFixed(1)} ms`
  const finality = figures.finalityLagMsMean === undefined ? "" : `; ${figures.blocksFinal} blocks final, ${figures.finalityLagMsMean.toFixed(0)} ms after commit`
  const batch = commits + finality
  return {
    label,
    rate: figures.perSecond,
    unit,
    latency: figures,
    appCpuMsPer1000: figures.appCpuMsPer1000,
    postgresCpuMsPer1000: figures.postgresCpuMsPer1000,
    peakMemoryBytes: figures.peakMemoryBytes,
    note: [note, batch, lost.length === 0 ? "" : `(${lost.join(", ")})`].filter((part) => part !== "").join(" "),
  }
}

/** The transport ceiling: the same connections and frames against a server that only parses and answers. */
export const transportCeiling = async (session: Session): Promise<LoadFigures> => {
  progress("  transport ceiling: starting the echo server")
  const child = session.teardown.child(fork(new URL("./echo-server.js", import.meta.url).pathname, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  try {
    const port = await within("the echo server's port", new Promise<number>((resolve) => child.once("message", (message: { port: number }) => resolve(message.port))), echoStartTimeoutMs)
    const order = phaseOrder(session, `ws://127.0.0.1:${port}/`, "spread", pipelined, undefined)
    return await measureLoad(session.pool, "transport ceiling", "req/s", order, {
      appPid: child.pid,
      postmaster: undefined,
      metricsUrl: undefined,
      clockTicksPerSecond: session.clockTicksPerSecond,
    })
  } finally {
    child.disconnect()
    await within("the echo server to exit", exited, echoStartTimeoutMs).catch(() => child.kill("SIGKILL"))
  }
}

export const storageCeilingFigures = (session: Session): Promise<StorageFigures> => {
  progress(`  storage ceiling: ${session.options.seconds} s of commits`)
  const { storage, options } = session
  return storageCeiling(storage.kind === "postgres" ? { kind: "postgres", url: storage.ceilingUrl, postmaster: storage.postmaster } : { kind: "pglite" }, {
    cards: options.cards,
    warmupMs: options.warmupSeconds * 1000,
    durationMs: options.seconds * 1000,
    clockTicksPerSecond: session.clockTicksPerSecond,
  }).finally(progressDone)
}

export const naiveFigures = (session: Session, placeCredit: boolean): Promise<NaiveFigures> => {
  progress(`  naive${placeCredit ? "" : " without the place credit"}: ${naiveConnections} connections, ${session.options.seconds} s`)
  const { storage, options } = session
  return naiveBaseline(storage.kind === "postgres" ? { kind: "postgres", url: storage.naiveUrl, postmaster: storage.postmaster } : { kind: "pglite" }, {
    cards: options.cards,
    placeCredit,
    warmupMs: options.warmupSeconds * 1000,
    durationMs: options.seconds * 1000,
    clockTicksPerSecond: session.clockTicksPerSecond,
  }).finally(progressDone)
}

const nodeSpec = async (session: Session, env: Record<string, string>) => ({
  connections: session.options.connections,
  cards: session.options.cards,
  databaseUrl: session.storage.kind === "postgres" ? await session.storage.nodeDatabase() : undefined,
  env,
})

/**
 * A new node on a new database, its cards topped up. Beyond the cache, its request cache is a
 * quarter of the seeding's requests and it is started again on its data, so that it begins with
 * requests forgotten from memory within the retention window, as a node does after 500,000 taps
 * in a day (GESELL_REQUEST_CACHE_MAX's default).
 */
export const seededNode = async (session: Session, beyondCache: boolean): Promise<BenchNode> => {
  const { options } = session
  const env: Record<string, string> = beyondCache ? { GESELL_REQUEST_CACHE_MAX: String(Math.max(1, Math.floor(options.cards / 4))) } : {}
  progress(`  starting a node (${options.cards.toLocaleString("en-US")} cards)`)
  const spec = await nodeSpec(session, env)
  const node = await startBenchNode(spec, session.teardown)
  progress(`  seeding: topping up ${options.cards.toLocaleString("en-US")} cards`)
  await seedCards(node.process, options.cards)
  if (!beyondCache) return node
  progress("  starting the node again on its data, past its request cache")
  await node.halt()
  return startBenchNode({ ...spec, dataDir: node.process.dataDir }, session.teardown)
}

export interface GesellLoad {
  readonly group: ReaderGroup
  readonly hotCard: boolean
  /** Taps per second in all, or flat out when undefined. */
  readonly rate: number | undefined
  readonly beyondCache: boolean
}

/** The load of a gesell scenario, by name; undefined for a name that is not one. */
export const gesellLoadOf = (name: string): GesellLoad | undefined => {
  const flatOut = { group: "spread", hotCard: false, rate: undefined, beyondCache: false } as const
  if (name === "flat-out") return flatOut
  if (name === "hot-place") return { ...flatOut, group: "hot" }
  if (name === "hot-card") return { ...flatOut, hotCard: true }
  if (name === "beyond-cache") return { ...flatOut, beyondCache: true }
  const rate = /^rate-(\d+)$/.exec(name)?.[1]
  return rate === undefined ? undefined : { ...flatOut, rate: Number(rate) }
}

export const gesellFigures = async (session: Session, name: string, load: GesellLoad): Promise<LoadFigures> => {
  const node = await seededNode(session, load.beyondCache)
  progressDone()
  try {
    const { storage, options } = session
    const pace: Pace = load.rate === undefined ? pipelined : { kind: "rate", tapsPerSecondPerConnection: load.rate / options.connections, inflightMax }
    const order = phaseOrder(session, node.process.ws, load.group, pace, load.hotCard ? hotCardIndex : undefined)
    const targets: Targets = {
      appPid: node.process.child.pid,
      postmaster: storage.kind === "postgres" ? storage.postmaster : undefined,
      metricsUrl: `${node.process.http}/metrics`,
      clockTicksPerSecond: session.clockTicksPerSecond,
    }
    return await measureLoad(session.pool, name, "taps/s", order, targets)
  } finally {
    await node.discard()
  }
}

/** Memory per wallet and per remembered request, in a child process with --expose-gc. */
export const stateMemory = async (session: Session): Promise<StateMemory> => {
  progress(`  memory: building ${session.options.wallets.toLocaleString("en-US")} wallets`)
  const path = new URL("./state-memory.js", import.meta.url).pathname
  const child = session.teardown.child(fork(path, [String(session.options.wallets)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] }))
  const figures = new Promise<StateMemory>((resolve, reject) => {
    child.once("message", (message: StateMemory) => resolve(message))
    child.once("exit", (code) => reject(new Error(`the memory child exited with ${code} before its figures`)))
  })
  try {
    return await within("the memory figures", figures, memoryTimeoutMs)
  } finally {
    child.kill("SIGKILL")
    progressDone()
  }
}
