/**
 * The bench's worker processes, and one phase of load run across them: the phase's connections
 * dealt out to the workers, every connection opened before the clock starts, one start time for
 * all, the window's edges announced to the caller (who reads CPU and memory there), progress while
 * it runs, and the workers' reports merged: counts summed, latency histograms added.
 */
import { fork, type ChildProcess } from "node:child_process"
import { performance } from "node:perf_hooks"
import { build, decodeFromCompressedBase64, type Histogram } from "hdr-histogram-js"
import { histogramRequest, type FromWorker, type PhaseOrder, type ToWorker, type WorkerReport } from "./messages.js"
import type { Teardown } from "./teardown.js"

const workerPath = new URL("./worker.js", import.meta.url).pathname
const upTimeoutMs = 20_000
const readyTimeoutMs = 30_000
/** Between the go and the first request: every worker has the go well before. */
const startDelayMs = 300
/** Past the drain, the worker's own deadline, before its report is given up on. */
const reportGraceMs = 15_000

export const epochNowMs = (): number => performance.timeOrigin + performance.now()

/** One worker process and the messages it sends, taken in order by whoever waits for them. */
class WorkerHandle {
  completed = 0
  private readonly inbox: FromWorker[] = []
  private waiter: ((message: FromWorker | Error) => void) | undefined

  constructor(readonly child: ChildProcess) {
    child.on("message", (message: FromWorker) => {
      if (message.kind === "progress") this.completed = message.completed
      else this.deliver(message)
    })
    child.once("exit", (code, signal) => this.deliver(new Error(`a worker exited (${code ?? signal})`)))
  }

  private deliver(message: FromWorker | Error): void {
    if (this.waiter === undefined) return void this.inbox.push(message as FromWorker)
    const waiter = this.waiter
    this.waiter = undefined
    waiter(message)
  }

  send(message: ToWorker): void {
    this.child.send(message)
  }

  /** The next message of this kind; a `failed` message, an exit or the deadline is an error. */
  next<K extends FromWorker["kind"]>(kind: K, timeoutMs: number): Promise<Extract<FromWorker, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(new Error(`no ${kind} from a worker within ${timeoutMs} ms`))
      }, timeoutMs)
      const take = (message: FromWorker | Error) => {
        clearTimeout(timer)
        if (message instanceof Error) return reject(message)
        if (message.kind === "failed") return reject(new Error(`a worker failed: ${message.message}`))
        if (message.kind !== kind) return reject(new Error(`a worker sent ${message.kind} where ${kind} was expected`))
        resolve(message as Extract<FromWorker, { kind: K }>)
      }
      const queued = this.inbox.shift()
      if (queued !== undefined) take(queued)
      else this.waiter = take
    })
  }
}

export interface PhaseHooks {
  /** Called at the start and at the end of the measured window. */
  readonly windowStarted: () => void
  readonly windowEnded: () => void
  /** Called about once a second with the requests completed in the window so far. */
  readonly progress: (completed: number, elapsedMs: number) => void
}

export interface PhaseLoad {
  readonly completed: number
  readonly errors: Readonly<Record<string, number>>
  readonly unanswered: number
  readonly unsent: number
  /** CPU of all workers in the window. */
  readonly loadCpuMs: number
  readonly histogram: Histogram
}

export class WorkerPool {
  private constructor(private readonly workers: readonly WorkerHandle[]) {}

  static async start(count: number, teardown: Teardown): Promise<WorkerPool> {
    const workers = Array.from({ length: count }, () => {
      const child = teardown.child(fork(workerPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }))
      return new WorkerHandle(child)
    })
    const pool = new WorkerPool(workers)
    teardown.add("workers", () => pool.stop())
    await Promise.all(workers.map((worker) => worker.next("up", upTimeoutMs)))
    return pool
  }

  stop(): Promise<void> {
    return Promise.all(
      this.workers.map((worker) => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return Promise.resolve()
        const exited = new Promise<void>((resolve) => worker.child.once("exit", () => resolve()))
        if (worker.child.connected) worker.send({ kind: "exit" })
        else worker.child.kill("SIGKILL")
        return exited
      }),
    ).then(() => undefined)
  }

  /** Runs one phase: `order.connections` are dealt out round-robin to the workers. */
  async run(order: PhaseOrder, hooks: PhaseHooks): Promise<PhaseLoad> {
    const shares = this.workers
      .map((worker, index) => ({ worker, connections: order.connections.filter((_, c) => c % this.workers.length === index) }))
      .filter((share) => share.connections.length > 0)
    for (const { worker, connections } of shares) worker.send({ kind: "prepare", order: { ...order, connections } })
    await Promise.all(shares.map(({ worker }) => worker.next("ready", readyTimeoutMs)))
    const startAtEpochMs = epochNowMs() + startDelayMs
    for (const { worker } of shares) worker.completed = 0
    const timers = this.schedule(startAtEpochMs, order, hooks, shares.map((share) => share.worker))
    const reportTimeoutMs = startDelayMs + order.warmupMs + order.durationMs + order.drainMs + reportGraceMs
    try {
      for (const { worker } of shares) worker.send({ kind: "go", startAtEpochMs })
      const reports = await Promise.all(shares.map(({ worker }) => worker.next("done", reportTimeoutMs)))
      return merge(reports.map((done) => done.report))
    } finally {
      for (const timer of timers) clearTimeout(timer)
    }
  }

  private schedule(startAtEpochMs: number, order: PhaseOrder, hooks: PhaseHooks, workers: readonly WorkerHandle[]): NodeJS.Timeout[] {
    const windowStartEpochMs = startAtEpochMs + order.warmupMs
    const at = (epochMs: number, run: () => void) => setTimeout(run, Math.max(0, epochMs - epochNowMs()))
    const progress = setInterval(() => {
      const completed = workers.reduce((sum, worker) => sum + worker.completed, 0)
      hooks.progress(completed, epochNowMs() - windowStartEpochMs)
    }, 1000)
    return [
      at(windowStartEpochMs, hooks.windowStarted),
      at(windowStartEpochMs + order.durationMs, () => {
        hooks.windowEnded()
        clearInterval(progress)
      }),
      progress,
    ]
  }
}

const merge = (reports: ReadonlyArray<WorkerReport>): PhaseLoad => {
  const histogram = build(histogramRequest)
  const errors: Record<string, number> = {}
  for (const report of reports) {
    const part = decodeFromCompressedBase64(report.histogram)
    histogram.add(part)
    for (const [code, count] of Object.entries(report.errors)) errors[code] = (errors[code] ?? 0) + count
  }
  const sum = (pick: (report: WorkerReport) => number) => reports.reduce((total, report) => total + pick(report), 0)
  return {
    completed: sum((report) => report.completed),
    errors,
    unanswered: sum((report) => report.unanswered),
    unsent: sum((report) => report.unsent),
    loadCpuMs: sum((report) => report.cpuMs),
    histogram,
  }
}
