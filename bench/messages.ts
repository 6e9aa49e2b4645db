/**
 * What the bench and its worker processes tell each other over the fork IPC channel: a phase's
 * orders (which connections, which frames, which pace, when), and the worker's report (counts,
 * errors, CPU, and the latency histogram encoded by hdr-histogram-js, merged by the bench).
 */

/** Flat out keeps `inflightMax` requests in flight per connection; a fixed rate sends on a schedule. */
export type Pace =
  | { readonly kind: "pipelined"; readonly inflightMax: number }
  | { readonly kind: "rate"; readonly tapsPerSecondPerConnection: number; readonly inflightMax: number }

export interface ConnectionOrder {
  /** The connection's index in the phase, part of each request id. */
  readonly index: number
  readonly token: string
}

export interface PhaseOrder {
  /** Letters unique to the phase, so that request ids never repeat for a reader. */
  readonly tag: string
  readonly url: string
  readonly connections: readonly ConnectionOrder[]
  readonly cards: number
  /** Every sale on this card when set (hot card); else cards are spread over all of them. */
  readonly hotCard: number | undefined
  readonly amount: number
  readonly pace: Pace
  readonly warmupMs: number
  readonly durationMs: number
  /** How long replies of the window's requests are waited for after the window ends. */
  readonly drainMs: number
}

export type ToWorker =
  | { readonly kind: "prepare"; readonly order: PhaseOrder }
  | { readonly kind: "go"; readonly startAtEpochMs: number }
  | { readonly kind: "exit" }

export interface WorkerReport {
  /** Requests sent (scheduled, at a fixed rate) in the window and answered ok. */
  readonly completed: number
  /** Requests of the window answered with an error, by code. */
  readonly errors: Readonly<Record<string, number>>
  /** Requests of the window never answered within the drain. */
  readonly unanswered: number
  /** At a fixed rate: requests scheduled in the window that could not be sent (64 already in flight). */
  readonly unsent: number
  /** User + system CPU of the worker during the window. */
  readonly cpuMs: number
  /** Latency in microseconds, hdr-histogram-js compressed base64. */
  readonly histogram: string
}

export type FromWorker =
  | { readonly kind: "up" }
  | { readonly kind: "ready" }
  | { readonly kind: "progress"; readonly completed: number }
  | { readonly kind: "done"; readonly report: WorkerReport }
  | { readonly kind: "failed"; readonly message: string }

/** Latency histograms: microseconds from 1 µs to 2 minutes, 3 significant digits, fixed size. */
export const histogramRequest = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 120_000_000,
  numberOfSignificantValueDigits: 3,
  autoResize: false,
} as const
