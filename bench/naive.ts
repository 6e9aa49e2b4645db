/**
 * The naive design, for comparison: one database transaction per tap that locks the card's balance
 * row (SELECT … FOR UPDATE), debits it, credits the place's balance row and inserts the transaction
 * row, from 32 connections at once, in a database of its own on the same server with a tiny schema
 * of its own. Every tap then waits for the place's row lock and its own fsync'd commit. Without the
 * place credit the hot row is gone and only the commits remain.
 *
 * On PGlite (one Postgres session) the same transactions run one at a time on one connection.
 */
import { performance } from "node:perf_hooks"
import postgres from "postgres"
import { Effect } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { build } from "hdr-histogram-js"
import { servePglite } from "../storage/pglite.js"
import type { PostgresTarget } from "../storage/postgres.js"
import { histogramRequest } from "./messages.js"
import { latencyOf, perThousand, type Latency } from "./measure.js"
import { serverTicks } from "./proc.js"

export const naiveConnections = 32

export interface NaiveFigures extends Latency {
  readonly tapsPerSecond: number
  readonly taps: number
  readonly connections: number
  readonly placeCredit: boolean
  readonly appCpuMsPer1000: number | undefined
  readonly postgresCpuMsPer1000: number | undefined
}

export interface NaiveSpec {
  readonly cards: number
  readonly placeCredit: boolean
  readonly warmupMs: number
  readonly durationMs: number
  readonly clockTicksPerSecond: number
}

export type NaiveTarget = { readonly kind: "postgres"; readonly url: string; readonly postmaster: number | undefined } | { readonly kind: "pglite" }

const place = "place:bench-0"

const createSchema = async (sql: postgres.Sql, cards: number): Promise<void> => {
  await sql`drop table if exists naive_tx, naive_balance`
  await sql`create table naive_balance (wallet text primary key, amount bigint not null check (amount >= 0))`
  await sql`create table naive_tx (id bigserial primary key, card text not null, place text not null,
    amount bigint not null, at timestamptz not null default now())`
  await sql`insert into naive_balance (wallet, amount) select 'card:' || n, 1000000000 from generate_series(0, ${cards - 1}) as n`
  await sql`insert into naive_balance (wallet, amount) values (${place}, 0)`
}

/** One tap, one transaction; a card without the money is a failed tap, rolled back. */
const tap = (sql: postgres.Sql, card: string, placeCredit: boolean): Promise<boolean> =>
  sql.begin(async (tx) => {
    const [row] = await tx`select amount from naive_balance where wallet = ${card} for update`
    if (row === undefined || Number(row["amount"]) < 1) return false
    await tx`update naive_balance set amount = amount - 1 where wallet = ${card}`
    if (placeCredit) await tx`update naive_balance set amount = amount + 1 where wallet = ${place}`
    await tx`insert into naive_tx (card, place, amount) values (${card}, ${place}, 1)`
    return true
  })

const drive = async (sql: postgres.Sql, spec: NaiveSpec, lanes: number, postmaster: number | undefined) => {
  const histogram = build(histogramRequest)
  const startMs = performance.now() + spec.warmupMs
  const endMs = startMs + spec.durationMs
  let taps = 0
  let failed = 0
  let before: { cpu: NodeJS.CpuUsage; ticks: number | undefined } | undefined
  const windowStart = setTimeout(() => (before = { cpu: process.cpuUsage(), ticks: postmaster === undefined ? undefined : serverTicks(postmaster) }), spec.warmupMs)
  const lane = async (laneIndex: number) => {
    for (let n = 0; performance.now() < endMs; n++) {
      const card = `card:${((Math.imul(n + 1, 0x9e3779b1) ^ Math.imul(laneIndex + 1, 0x85ebca6b)) >>> 0) % spec.cards}`
      const sent = performance.now()
      const ok = await tap(sql, card, spec.placeCredit)
      const answered = performance.now()
      if (sent < startMs || sent >= endMs) continue
      if (!ok) failed++
      else {
        taps++
        histogram.recordValue(Math.max(1, Math.round((answered - sent) * 1000)))
      }
    }
  }
  await Promise.all(Array.from({ length: naiveConnections }, (_, index) => lane(index)))
  clearTimeout(windowStart)
  if (failed > 0) throw new Error(`naive: ${failed} taps found no money; the seeding is wrong`)
  const ticksAfter = postmaster === undefined ? undefined : serverTicks(postmaster)
  const cpu = before === undefined ? undefined : process.cpuUsage(before.cpu)
  return {
    ...latencyOf(histogram),
    tapsPerSecond: taps / (spec.durationMs / 1000),
    taps,
    connections: lanes,
    placeCredit: spec.placeCredit,
    appCpuMsPer1000: cpu === undefined || taps === 0 ? undefined : ((cpu.user + cpu.system) / 1000 / taps) * 1000,
    postgresCpuMsPer1000: perThousand(before?.ticks, ticksAfter, spec.clockTicksPerSecond, taps),
  } satisfies NaiveFigures
}

const onPool = async <A>(target: PostgresTarget, max: number, use: (sql: postgres.Sql) => Promise<A>): Promise<A> => {
  const path = target.socketPath === undefined ? {} : { path: target.socketPath }
  const sql = postgres(target.url, { ...path, max, onnotice: () => undefined, idle_timeout: 60, connect_timeout: 10 })
  try {
    return await use(sql)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** Measures the naive design on a real server's database `url`, or on a PGlite of its own. */
export const naiveBaseline = async (target: NaiveTarget, spec: NaiveSpec): Promise<NaiveFigures> => {
  const run = (on: PostgresTarget, max: number, postmaster: number | undefined) =>
    onPool(on, max, async (sql) => {
      await createSchema(sql, spec.cards)
      // The measured window ends after the drive's own warm-up; CPU after it is not counted.
      return drive(sql, spec, max, postmaster)
    })
  if (target.kind === "postgres") return run({ url: target.url }, naiveConnections, target.postmaster)
  const dir = await mkdtemp(join(tmpdir(), "gesell-bench-naive-"))
  try {
    return await Effect.runPromise(Effect.scoped(servePglite(dir).pipe(Effect.flatMap((served) => Effect.promise(() => run(served, 1, undefined))))))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
