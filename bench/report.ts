/**
 * What the bench prints and keeps: one table row per scenario and baseline (printed as each
 * completes, and all together at the end with the two ratios), and the JSON result written to
 * `bench/results/<timestamp>.json` and `bench/results/latest.json`.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Latency } from "./measure.js"

export interface Row {
  readonly label: string
  readonly rate: number | undefined
  readonly unit: string
  readonly latency: Latency | undefined
  /** CPU per 1,000 requests, rows or taps: the process under test, then the PostgreSQL server. */
  readonly appCpuMsPer1000: number | undefined
  readonly postgresCpuMsPer1000: number | undefined
  readonly peakMemoryBytes: number | undefined
  readonly note: string
}

const columns = [
  { title: "scenario", width: 22, left: true },
  { title: "rate", width: 18 },
  { title: "p50 ms", width: 8 },
  { title: "p99 ms", width: 8 },
  { title: "p99.9 ms", width: 9 },
  { title: "app CPU ms/1k", width: 14 },
  { title: "pg CPU ms/1k", width: 13 },
  { title: "peak MB", width: 8 },
] as const

const integer = (value: number): string => Math.round(value).toLocaleString("en-US")
const fixed = (value: number | undefined, digits: number): string => (value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(digits))
const milliseconds = (value: number | undefined): string => (value === undefined ? "-" : fixed(value, value < 10 ? 2 : 1))

const line = (cells: readonly string[]): string =>
  cells
    .map((cell, index) => {
      const column = columns[index]
      if (column === undefined) return cell
      return "left" in column ? cell.padEnd(column.width) : cell.padStart(column.width)
    })
    .join(" ")
    .trimEnd()

export const header = (): string => line(columns.map((column) => column.title))

export const formatRow = (row: Row): string => {
  const cells = [
    row.label,
    row.rate === undefined ? "n/a" : `${integer(row.rate)} ${row.unit}`,
    milliseconds(row.latency?.p50Ms),
    milliseconds(row.latency?.p99Ms),
    milliseconds(row.latency?.p999Ms),
    fixed(row.appCpuMsPer1000, 1),
    fixed(row.postgresCpuMsPer1000, 1),
    row.peakMemoryBytes === undefined ? "n/a" : integer(row.peakMemoryBytes / 2 ** 20),
  ]
  return row.note === "" ? line(cells) : `${line(cells)}  ${row.note}`
}

export interface Ratios {
  readonly tapCeilingRatio: number | undefined
  readonly naiveRatio: number | undefined
}

export const formatTable = (rows: readonly Row[], ratios: Ratios, legend: readonly string[]): string =>
  [
    header(),
    ...rows.map(formatRow),
    "",
    `gesell ÷ tap ceiling: ${fixed(ratios.tapCeilingRatio, 2)}    gesell ÷ naive: ${fixed(ratios.naiveRatio, 1)}`,
    ...legend,
  ].join("\n")

/** JSON has no undefined: an absent figure is written as null. */
const nullForUndefined = (_key: string, value: unknown): unknown => (value === undefined ? null : value)

/** Writes the result as `<timestamp>.json` and `latest.json` in `dir`; returns the first path. */
export const writeResult = async (dir: string, startedAt: Date, result: object): Promise<string> => {
  await mkdir(dir, { recursive: true })
  const text = `${JSON.stringify(result, nullForUndefined, 2)}\n`
  const path = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`)
  await writeFile(path, text)
  await writeFile(join(dir, "latest.json"), text)
  return path
}
