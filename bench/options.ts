/**
 * The bench's command line: flags, their bounds, and the two presets (the full run, and `--quick`,
 * which must finish in under two minutes on a 2-core machine). Every figure that sizes the run is
 * checked here, so that a typo cannot start an unbounded load.
 */
import { parseArgs } from "node:util"

export const scenarioNames = [
  "transport",
  "storage",
  "naive",
  "naive-no-credit",
  "flat-out",
  "hot-place",
  "hot-card",
  "beyond-cache",
  "rate-1000",
  "rate-5000",
  "rate-20000",
  "memory",
  "verify",
] as const
/** A fixed rate of any number of taps/s is a scenario too: `rate-<R>`. */
export type ScenarioName = (typeof scenarioNames)[number] | `rate-${number}`

const quickScenarios: readonly ScenarioName[] = ["transport", "storage", "naive", "flat-out", "hot-place", "hot-card", "beyond-cache", "rate-5000", "memory"]

export interface BenchOptions {
  readonly quick: boolean
  readonly storage: "postgres" | "pglite"
  readonly scenarios: readonly ScenarioName[]
  readonly connections: number
  readonly workers: number
  readonly cards: number
  /** Measured seconds of each phase; a warm-up runs before each. */
  readonly seconds: number
  readonly warmupSeconds: number
  /** A rate for one extra fixed-rate scenario, `rate-<R>`. */
  readonly rate: number | undefined
  /** Wallets built for the memory scenario. */
  readonly wallets: number
  /** Transactions of the ledger the verify scenario's peer and validator catch up on. */
  readonly verifyTransactions: number
  /** Where the JSON results go. */
  readonly resultsDir: string
  /** The whole run is stopped (and everything it started) past this. */
  readonly deadlineSeconds: number
}

export const usage = `npm run bench -- [--quick] [--storage postgres|pglite] [--scenario NAME[,NAME…]]
  [--connections N] [--workers W] [--cards M] [--seconds S] [--rate R] [--wallets N] [--transactions N] [--results DIR]
scenarios: ${scenarioNames.join(", ")} (default: all; with --quick: ${quickScenarios.join(", ")})`

const integer = (text: string | undefined, name: string, min: number, max: number): number | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${text}`)
  return value
}

const positive = (text: string | undefined, name: string, max: number): number | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new Error(`--${name} must be a number above 0 and at most ${max}, got ${text}`)
  return value
}

/** The scenarios named (all, or the quick ones, by default), and `rate-<R>` when --rate is given. */
const scenariosOf = (text: string | undefined, quick: boolean, rate: number | undefined): ScenarioName[] => {
  const rateScenario: ScenarioName[] = rate === undefined ? [] : [`rate-${rate}`]
  const named =
    text === undefined || text === "all"
      ? [...(quick ? quickScenarios : scenarioNames)]
      : text.split(",").map((name) => {
          if ((scenarioNames as readonly string[]).includes(name) || /^rate-[1-9]\d{0,6}$/.test(name)) return name as ScenarioName
          throw new Error(`unknown scenario ${name}\n${usage}`)
        })
  return [...new Set([...named, ...rateScenario])]
}

export const parseOptions = (args: readonly string[]): BenchOptions => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: "boolean", default: false },
      storage: { type: "string", default: "postgres" },
      scenario: { type: "string" },
      connections: { type: "string" },
      workers: { type: "string" },
      cards: { type: "string" },
      seconds: { type: "string" },
      rate: { type: "string" },
      wallets: { type: "string" },
      transactions: { type: "string" },
      results: { type: "string" },
    },
  })
  const quick = values.quick === true
  if (values.storage !== "postgres" && values.storage !== "pglite") throw new Error(`--storage is postgres or pglite\n${usage}`)
  const rate = integer(values.rate, "rate", 1, 1_000_000)
  const seconds = positive(values.seconds, "seconds", 600) ?? (quick ? 4 : 10)
  const scenarios = scenariosOf(values.scenario, quick, rate)
  const verifyTransactions = integer(values.transactions, "transactions", 1, 10_000_000) ?? (quick ? 100_000 : 1_000_000)
  // The verify scenario taps until its ledger is full (some 20,000 taps/s), then two followers catch up on it.
  const verifySeconds = scenarios.includes("verify") ? 120 + verifyTransactions / 2_500 : 0
  return {
    quick,
    storage: values.storage,
    scenarios,
    connections: integer(values.connections, "connections", 1, 512) ?? 8,
    workers: integer(values.workers, "workers", 1, 16) ?? 2,
    cards: integer(values.cards, "cards", 1, 1_000_000) ?? (quick ? 20_000 : 100_000),
    seconds,
    warmupSeconds: Math.min(quick ? 1 : 2, seconds / 2),
    rate,
    wallets: integer(values.wallets, "wallets", 1, 5_000_000) ?? 1_000_000,
    verifyTransactions,
    resultsDir: values.results ?? new URL(import.meta.url.includes("/dist/") ? "../../bench/results/" : "./results/", import.meta.url).pathname,
    // A generous bound on the whole run: start-ups, seeding, and each phase with its warm-up and drain.
    deadlineSeconds: 180 + scenarios.length * (seconds + 30) + verifySeconds,
  }
}
