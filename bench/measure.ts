/**
 * A measured phase of reader load: the workers drive it, and at the edges of its window this reads
 * the CPU time of the process under test (the node, or the echo server) and of the PostgreSQL
 * server, resets and then reads the process's peak memory, and reads the node's commit metrics.
 * The result is one row of figures: rate, latency percentiles, CPU per 1,000 requests.
 */
import type { Histogram } from "hdr-histogram-js"
import type { PhaseOrder } from "./messages.js"
import { peakResidentBytes, processTicks, resetPeakResident, serverTicks } from "./proc.js"
import { phaseProgress, progressDone } from "./progress.js"
import type { WorkerPool } from "./workers.js"

export interface Targets {
  /** The process under test, whose CPU and peak memory are read. */
  readonly appPid: number | undefined
  /** The PostgreSQL server's postmaster, when the storage is a real server. */
  readonly postmaster: number | undefined
  /** The node's Prometheus endpoint, for its commit batch sizes and durations. */
  readonly metricsUrl: string | undefined
  readonly clockTicksPerSecond: number
}

export interface Latency {
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  readonly meanMs: number
}

export interface LoadFigures extends Latency {
  readonly perSecond: number
  readonly completed: number
  readonly errors: Readonly<Record<string, number>>
  readonly unanswered: number
  readonly unsent: number
  readonly appCpuMsPer1000: number | undefined
  readonly postgresCpuMsPer1000: number | undefined
  readonly loadCpuMsPer1000: number | undefined
  readonly peakMemoryBytes: number | undefined
  readonly commitBatchMean: number | undefined
  readonly commitMsMean: number | undefined
  /** Blocks that became final during the measured window, and their mean finality lag. */
  readonly blocksFinal: number | undefined
  readonly finalityLagMsMean: number | undefined
}

export const latencyOf = (histogram: Histogram): Latency => {
  const ms = (microseconds: number) => microseconds / 1000
  return {
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
    meanMs: ms(histogram.mean),
  }
}

interface Sample {
  readonly appTicks: number | undefined
  readonly postgresTicks: number | undefined
}

const sample = (targets: Targets): Sample => ({
  appTicks: targets.appPid === undefined ? undefined : processTicks(targets.appPid),
  postgresTicks: targets.postmaster === undefined ? undefined : serverTicks(targets.postmaster),
})

/** CPU milliseconds per 1,000 requests from two tick readings, or undefined without both. */
export const perThousand = (before: number | undefined, after: number | undefined, ticksPerSecond: number, count: number): number | undefined =>
  before === undefined || after === undefined || count === 0 ? undefined : (((after - before) * 1000) / ticksPerSecond / count) * 1000

/** The node answers /metrics in a millisecond; past this the figures are left out rather than waited for. */
const metricsTimeoutMs = 2_000

interface CommitTotals {
  readonly batches: number
  readonly requests: number
  readonly seconds: number
  /** Blocks made final so far and the sum of their finality lags (absent on a node without blocks). */
  readonly finals: number | undefined
  readonly lagSeconds: number | undefined
}

const metricValue = (text: string, name: string): number | undefined => {
  const line = text.split("\n").find((entry) => entry.startsWith(`${name} `))
  const value = Number(line?.slice(name.length + 1))
  return line === undefined || !Number.isFinite(value) ? undefined : value
}

/** The node's commit counters; undefined if the endpoint or a metric is missing (they are a bonus). */
const commitTotals = async (url: string | undefined): Promise<CommitTotals | undefined> => {
  if (url === undefined) return undefined
  const text = await fetch(url, { signal: AbortSignal.timeout(metricsTimeoutMs) }).then((response) => response.text()).catch(() => "")
  const batches = metricValue(text, "gesell_commit_batch_requests_count")
  const requests = metricValue(text, "gesell_commit_batch_requests_sum")
  const seconds = metricValue(text, "gesell_commit_duration_seconds_sum")
  const finals = metricValue(text, "gesell_finality_lag_seconds_count")
  const lagSeconds = metricValue(text, "gesell_finality_lag_seconds_sum")
  return batches === undefined || requests === undefined || seconds === undefined ? undefined : { batches, requests, seconds, finals, lagSeconds }
}

/** Runs `order` on the workers and measures it against `targets`. */
export const measureLoad = async (pool: WorkerPool, name: string, unit: string, order: PhaseOrder, targets: Targets): Promise<LoadFigures> => {
  let before: Sample | undefined
  let after: Sample | undefined
  let peakMemoryBytes: number | undefined
  let commitsBefore: Promise<CommitTotals | undefined> = Promise.resolve(undefined)
  let commitsAfter: Promise<CommitTotals | undefined> = Promise.resolve(undefined)
  const load = await pool.run(order, {
    windowStarted: () => {
      if (targets.appPid !== undefined) resetPeakResident(targets.appPid)
      before = sample(targets)
      commitsBefore = commitTotals(targets.metricsUrl)
    },
    windowEnded: () => {
      after = sample(targets)
      peakMemoryBytes = targets.appPid === undefined ? undefined : peakResidentBytes(targets.appPid)
      commitsAfter = commitTotals(targets.metricsUrl)
    },
    progress: phaseProgress(name, unit, order.durationMs),
  })
  progressDone()
  const [commitStart, commitEnd] = await Promise.all([commitsBefore, commitsAfter])
  const batches = commitStart === undefined || commitEnd === undefined ? 0 : commitEnd.batches - commitStart.batches
  const finals = commitStart?.finals === undefined || commitEnd?.finals === undefined ? undefined : commitEnd.finals - commitStart.finals
  const lagSeconds = commitStart?.lagSeconds === undefined || commitEnd?.lagSeconds === undefined ? undefined : commitEnd.lagSeconds - commitStart.lagSeconds
  const ticks = targets.clockTicksPerSecond
  return {
    ...latencyOf(load.histogram),
    perSecond: load.completed / (order.durationMs / 1000),
    completed: load.completed,
    errors: load.errors,
    unanswered: load.unanswered,
    unsent: load.unsent,
    appCpuMsPer1000: perThousand(before?.appTicks, after?.appTicks, ticks, load.completed),
    postgresCpuMsPer1000: perThousand(before?.postgresTicks, after?.postgresTicks, ticks, load.completed),
    loadCpuMsPer1000: load.completed === 0 ? undefined : (load.loadCpuMs / load.completed) * 1000,
    peakMemoryBytes,
    commitBatchMean: batches > 0 && commitStart && commitEnd ? (commitEnd.requests - commitStart.requests) / batches : undefined,
    commitMsMean: batches > 0 && commitStart && commitEnd ? ((commitEnd.seconds - commitStart.seconds) * 1000) / batches : undefined,
    blocksFinal: finals,
    finalityLagMsMean: finals === undefined || lagSeconds === undefined || finals === 0 ? undefined : (lagSeconds * 1000) / finals,
  }
}
