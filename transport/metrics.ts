/**
 * The node's Prometheus metrics (prom-client): requests by type and result, tap-to-ack latency,
 * commit batches, queue depth and refusals, reader connections, and the process's own metrics.
 * One registry per node, so that tests can run several nodes in one process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client"

const defectsCounter = (registry: Registry | undefined) =>
  new Counter({
    name: "gesell_defects_total",
    help: "Defects in request and upgrade handlers: each answered 500 (or its socket closed), logged once, never fatal",
    labelNames: ["where"] as const,
    registers: registry === undefined ? [] : [registry],
  })

/** The defect counter alone, for a program that serves no /metrics (a peer). */
export const makeDefectCounter = () => ({ defects: defectsCounter(undefined) })

export const makeMetrics = () => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: "gesell_" })
  return {
    registry,
    requests: new Counter({
      name: "gesell_requests_total",
      help: "Reader requests answered, by type and result code (ok or the error code)",
      labelNames: ["type", "result"] as const,
      registers: [registry],
    }),
    tapLatency: new Histogram({
      name: "gesell_tap_latency_seconds",
      help: "From a request frame read to its reply written, including the durable commit",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    commitBatch: new Histogram({
      name: "gesell_commit_batch_requests",
      help: "Requests per group commit",
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384],
      registers: [registry],
    }),
    commitDuration: new Histogram({
      name: "gesell_commit_duration_seconds",
      help: "Duration of one group commit",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    commitFailures: new Counter({ name: "gesell_commit_failures_total", help: "Group commits that failed", registers: [registry] }),
    refused: new Counter({
      name: "gesell_refused_total",
      help: "Requests refused without the engine, by reason (overloaded, unavailable)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: "gesell_commit_queue_requests", help: "Requests waiting for or in a commit", registers: [registry] }),
    connections: new Gauge({ name: "gesell_reader_connections", help: "Open reader WebSocket connections", registers: [registry] }),
    readerCloses: new Counter({
      name: "gesell_reader_closes_total",
      help: "Reader connections the node closed, by reason (replies_not_read, bad_frames, binary_frame, revoked, replaced)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    defects: defectsCounter(registry),
    height: new Gauge({ name: "gesell_ledger_transactions", help: "Committed transactions in the ledger", registers: [registry] }),
    blockHeight: new Gauge({ name: "gesell_block_height", help: "Height of the last final block", registers: [registry] }),
    sealedHeight: new Gauge({ name: "gesell_block_sealed_height", help: "Height of the last sealed block, final or not", registers: [registry] }),
    finalityLag: new Histogram({
      name: "gesell_finality_lag_seconds",
      help: "From the commit of a block's oldest transaction to the block being final",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    votes: new Counter({
      name: "gesell_validator_votes_total",
      help: "Validator votes received, by outcome (counted, ignored, invalid)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    rejections: new Counter({ name: "gesell_validator_rejections_total", help: "Proposals a validator rejected", registers: [registry] }),
    followers: new Gauge({ name: "gesell_federation_connections", help: "Open federation feed connections (validators and peers)", registers: [registry] }),
  }
}

export type Metrics = ReturnType<typeof makeMetrics>
