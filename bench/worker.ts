/**
 * A bench worker process, forked by the bench from dist/bench/worker.js: it opens its share of a
 * phase's reader connections, waits for the go, drives each connection at the phase's pace
 * (lane.ts), and reports its counts, its CPU and its latency histogram. It exits when told to, or
 * as soon as its IPC channel closes (the bench ended or died), so that no worker outlives a run.
 */
import { performance } from "node:perf_hooks"
import { build, encodeIntoCompressedBase64 } from "hdr-histogram-js"
import { WebSocket, type RawData } from "ws"
import { cardUids } from "./federation.js"
import { Lane, type Window } from "./lane.js"
import { histogramRequest, type FromWorker, type PhaseOrder, type ToWorker, type WorkerReport } from "./messages.js"

const connectTimeoutMs = 10_000
const progressIntervalMs = 500
/** How often the end of the window and of the drain is checked, and a fixed rate's schedule served. */
const tickMs = 1

const tell = (message: FromWorker): void => {
  process.send?.(message)
}

/** Opens a reader connection and resolves on its first frame, the `hello`. */
const connect = (url: string, token: string): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false })
    const timer = setTimeout(() => {
      socket.terminate()
      reject(new Error(`no hello from ${url} within ${connectTimeoutMs} ms`))
    }, connectTimeoutMs)
    socket.once("message", () => {
      clearTimeout(timer)
      resolve(socket)
    })
    socket.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.once("unexpected-response", (_request, response) => {
      clearTimeout(timer)
      reject(new Error(`the upgrade to ${url} got HTTP ${response.statusCode}`))
    })
  })

interface Prepared {
  readonly order: PhaseOrder
  readonly sockets: readonly WebSocket[]
  readonly cards: readonly string[]
}

let prepared: Prepared | undefined
let cardsCache: readonly string[] = []

const prepare = async (order: PhaseOrder): Promise<void> => {
  if (cardsCache.length !== order.cards) cardsCache = cardUids(order.cards)
  const opened = await Promise.allSettled(order.connections.map((connection) => connect(order.url, connection.token)))
  const sockets = opened.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []))
  const failure = opened.find((result) => result.status === "rejected")
  if (failure !== undefined) {
    for (const socket of sockets) socket.terminate()
    throw failure.reason
  }
  prepared = { order, sockets, cards: cardsCache }
  tell({ kind: "ready" })
}

const cpuMsSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

/** Drives the prepared connections from `startAtEpochMs` to the end of the drain, then reports. */
const run = ({ order, sockets, cards }: Prepared, startAtEpochMs: number): Promise<WorkerReport> =>
  new Promise((resolve, reject) => {
    const firstMs = startAtEpochMs - performance.timeOrigin
    const window: Window = { firstMs, startMs: firstMs + order.warmupMs, endMs: firstMs + order.warmupMs + order.durationMs }
    const histogram = build(histogramRequest)
    const lanes = sockets.map((socket, index) => new Lane(socket, order, order.connections[index] ?? { index, token: "" }, cards, histogram, window))
    let cpuStart: NodeJS.CpuUsage | undefined
    let cpuMs: number | undefined
    let finished = false
    const finish = (failure?: Error) => {
      if (finished) return
      finished = true
      clearInterval(ticker)
      clearInterval(progress)
      for (const socket of sockets) socket.terminate()
      if (failure !== undefined) return reject(failure)
      resolve(report(lanes, cpuMs ?? (cpuStart === undefined ? 0 : cpuMsSince(cpuStart)), encodeIntoCompressedBase64(histogram)))
    }
    sockets.forEach((socket, index) => {
      const lane = lanes[index] as Lane
      socket.on("message", (data: RawData) => lane.onReply(data.toString(), performance.now()))
      socket.once("close", () => finish(new Error(`connection ${index} closed during the phase`)))
    })
    const ticker = setInterval(() => {
      const now = performance.now()
      if (now < firstMs) return
      if (cpuStart === undefined && now >= window.startMs) cpuStart = process.cpuUsage()
      if (cpuStart !== undefined && cpuMs === undefined && now >= window.endMs) cpuMs = cpuMsSince(cpuStart)
      for (const lane of lanes) lane.pump(now)
      if (lanes.every((lane) => lane.settled(now)) || now >= window.endMs + order.drainMs) finish()
    }, tickMs)
    const progress = setInterval(() => tell({ kind: "progress", completed: lanes.reduce((sum, lane) => sum + lane.completed, 0) }), progressIntervalMs)
  })

const report = (lanes: readonly Lane[], cpuMs: number, histogram: string): WorkerReport => {
  const errors: Record<string, number> = {}
  for (const lane of lanes) for (const [code, count] of lane.errors) errors[code] = (errors[code] ?? 0) + count
  return {
    completed: lanes.reduce((sum, lane) => sum + lane.completed, 0),
    errors,
    unanswered: lanes.reduce((sum, lane) => sum + lane.unanswered, 0),
    unsent: lanes.reduce((sum, lane) => sum + lane.unsent(), 0),
    cpuMs,
    histogram,
  }
}

const failed = (error: unknown) => tell({ kind: "failed", message: error instanceof Error ? error.message : String(error) })

process.on("message", (message: ToWorker) => {
  if (message.kind === "exit") process.exit(0)
  if (message.kind === "prepare") prepare(message.order).catch(failed)
  if (message.kind === "go") {
    const current = prepared
    prepared = undefined
    if (current === undefined) return failed(new Error("go before prepare"))
    run(current, message.startAtEpochMs).then((done) => tell({ kind: "done", report: done }), failed)
  }
})
process.on("disconnect", () => process.exit(0))
tell({ kind: "up" })
