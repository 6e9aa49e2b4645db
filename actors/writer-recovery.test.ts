/**
 * The writer when storage keeps failing, against the TestClock: it reloads with a backoff, never
 * in a tight loop, whether storage answers and then refuses every commit (a full disk) or does not
 * answer at all (a server down), and it says why it is unavailable.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, TestClock } from "effect"
import { decodeCommand } from "../engine/command.js"
import { testPreset } from "../engine/limits.js"
import { type LedgerStore, type Snapshot, StorageError } from "../storage/ledger.js"
import { cards, genesisDocument, ledger, ledgerDocument, t0, testCardKeyHex, cardOf } from "../test/federation.js"
import { LedgerWriter, recoveryBackoffMaxMs } from "./writer.js"

/** What a server out of disk space answers to a commit (its SQLSTATE 53100, the file and the device after the colon). */
const diskFull = new StorageError({
  operation: "commit",
  message: '53100 could not extend file "base/16384/16397": No space left on device',
  code: "53100",
})
const down = new StorageError({ operation: "ping", message: "connect ECONNREFUSED 10.0.0.7:5432" })

/** The ledger as storage holds it: the genesis, nothing committed. */
const snapshot: Snapshot = {
  genesis: ledgerDocument as never,
  assets: genesisDocument.assets,
  places: genesisDocument.places,
  readers: genesisDocument.readers.map((reader) => ({ ...reader, role: reader.role as "bar" | "cashdesk", revoked: false })),
  // The genesis's cards, which the node commits with the genesis as seq 1.
  cards: cards.map((id) => ({ id, status: "active" as const, wallet: `card:${id}` })),
  cardKey: testCardKeyHex,
  approved: [],
  genesisHash: undefined,
  wallets: [],
  requests: [],
  olderRequests: [],
  refs: [],
  payments: [],
  backing: { received: 0, refunded: 0, paidOut: 0 },
  meta: {},
  lastSeq: 1,
}

/** A store whose ping and commit fail as told, counting when (by the TestClock) it is pinged and loaded. */
const failingStore = () => {
  const failing = { ping: false, commit: true }
  const times = { pings: [] as number[], loads: [] as number[], commitFailures: [] as number[] }
  const unused = Effect.dieMessage("not used by the writer's commits")
  const store: LedgerStore = {
    initialize: () => unused,
    initialized: unused,
    load: () => Clock.currentTimeMillis.pipe(Effect.map((nowMs) => (times.loads.push(nowMs), snapshot))),
    commit: () =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((nowMs) => (failing.commit ? (times.commitFailures.push(nowMs), Effect.fail(diskFull)) : Effect.void)),
      ),
    transactions: () => unused,
    reply: () => unused,
    blocks: () => unused,
    blockTip: unused,
    knownTxIds: () => unused,
    ping: Clock.currentTimeMillis.pipe(Effect.flatMap((nowMs) => (times.pings.push(nowMs), failing.ping ? Effect.fail(down) : Effect.void))),
  }
  return { store, failing, times }
}

/** Submits a balance check now (by the TestClock), as a reader would; its reply or refusal is kept. */
const tap = (writer: LedgerWriter, request: string, answers: string[]) =>
  Clock.currentTimeMillis.pipe(
    Effect.map((nowMs) => {
      const command = decodeCommand({ kind: "check", reader: "bar-1", request, place: "raffinerie", card: cardOf("04a1b2c3") })
      if (!command.ok) throw new Error(command.message)
      writer.submit(
        { command: command.value, render: () => "answered", reply: (json) => void answers.push(json), refuse: (why) => void answers.push(why) },
        nowMs,
      )
    }),
  )

/** The writer on the failing store, its commit loop running; the clock starts at the genesis time. */
const started = Effect.gen(function* () {
  yield* TestClock.setTime(t0)
  const failing = failingStore()
  const writer = new LedgerWriter(ledger(), 2, failing.store, testPreset, 5_000)
  const loop = yield* Effect.fork(writer.commitLoop)
  return { ...failing, writer, loop }
})

/** A tap whose commit runs (the commit interval passed) and, when storage fails, fails. */
const tapAndCommit = (writer: LedgerWriter, request: string, answers: string[]) =>
  tap(writer, request, answers).pipe(Effect.zipRight(TestClock.adjust(testPreset.commitIntervalMs)))

const gaps = (from: readonly number[], to: readonly number[]) => to.map((toMs, index) => toMs - (from[index] ?? Number.NaN))

describe("LedgerWriter when storage keeps failing", () => {
  it.effect("reloads after a commit that fails while storage answers (a full disk) with a backoff, and says why", () =>
    Effect.gen(function* () {
      const { writer, times, failing, loop } = yield* started
      const answers: string[] = []
      const reasons: Array<string | undefined> = []
      for (let failure = 0; failure < 10; failure++) {
        expect(writer.mode, `ready to take tap ${failure}`).toBe("ready")
        yield* tapAndCommit(writer, `full-${failure}`, answers)
        reasons.push(writer.unavailableReason)
        // The reload comes when its delay is up, at the latest after the longest delay.
        yield* TestClock.adjust(recoveryBackoffMaxMs)
      }
      // From each failed commit to the reload that followed it: none after the first, then doubling.
      expect(gaps(times.commitFailures, times.loads)).toEqual([0, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
      expect(answers).toEqual(Array(10).fill("unavailable"))
      // Said while the reload waited; the first reload came at once, and cleared it.
      expect(reasons).toEqual([undefined, ...Array(9).fill("storage: commit failed: could not extend file")])
      expect(writer.unavailableReason).toBeUndefined()

      // A commit that passes starts the count again: the next failure reloads at once.
      failing.commit = false
      yield* tapAndCommit(writer, "passes", answers)
      expect(answers.at(-1)).toBe("answered")
      failing.commit = true
      yield* tapAndCommit(writer, "fails-again", answers)
      expect(times.loads.at(-1)).toBe(times.commitFailures.at(-1))
      expect(writer.mode).toBe("ready")
      yield* Fiber.interrupt(loop)
    }))

  it.effect("pings storage that does not answer with a backoff, loads nothing until it answers, and says it is unreachable", () =>
    Effect.gen(function* () {
      const { writer, times, failing, loop } = yield* started
      failing.ping = true
      const answers: string[] = []
      yield* tapAndCommit(writer, "down", answers)
      const failedAtMs = times.commitFailures[0] ?? Number.NaN
      yield* TestClock.adjust(2 * 60_000)
      expect(times.pings.map((pingMs) => pingMs - failedAtMs)).toEqual([0, 250, 750, 1_750, 3_750, 7_750, 15_750, 31_750, 61_750, 91_750])
      expect(times.loads).toEqual([])
      expect(writer.mode).toBe("unavailable")
      expect(writer.unavailableReason).toBe("storage unreachable")

      failing.ping = false
      failing.commit = false
      yield* TestClock.adjust(recoveryBackoffMaxMs)
      expect(times.loads).toHaveLength(1)
      expect(writer.mode).toBe("ready")
      expect(writer.unavailableReason).toBeUndefined()
      yield* tapAndCommit(writer, "back", answers)
      expect(answers).toEqual(["unavailable", "answered"])
      yield* Fiber.interrupt(loop)
    }))
})
