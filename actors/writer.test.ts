/**
 * The single writer against real storage (PGlite on a temp dir): replies only after the commit,
 * retries answered with the first reply (from memory, and from storage once forgotten from memory),
 * conflicts, a state rebuilt from storage that equals the one in memory, and a wall clock that
 * jumps (its running time is the test's to move).
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { decodeCommand, type Command } from "../engine/command.js"
import { stateBalances } from "../engine/apply.js"
import { requestRetentionMs, testPreset, type NodeLimits } from "../engine/limits.js"
import { Ledger, type LedgerStore } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { ledger as testLedger, t0, testLedgerStart, cardOf } from "../test/federation.js"
import { stateFromSnapshot } from "./snapshot.js"
import { LedgerWriter, type Refusal } from "./writer.js"

const command = (raw: Record<string, unknown>): Command => {
  const decoded = decodeCommand(raw)
  if (!decoded.ok) throw new Error(decoded.message)
  return decoded.value
}

/** Submits and resolves with the reply text (or the refusal). */
const submit = (writer: LedgerWriter, raw: Record<string, unknown>, now = t0): Promise<string> =>
  new Promise((resolve) =>
    writer.submit(
      {
        command: command(raw),
        render: (executed) => JSON.stringify(executed.ok ? { ok: true, tx: executed.tx?.id ?? null } : { ok: false, status: executed.status }),
        reply: resolve,
        refuse: (why: Refusal) => resolve(`refused ${why}`),
      },
      now,
    ),
  )

const lookups = { count: 0 }

const withWriter = <A>(use: (writer: LedgerWriter) => Promise<A>) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    // Counts the lookups of forgotten request ids in storage.
    const store = { ...ledger, reply: (reader: string, request: string) => ((lookups.count += 1), ledger.reply(reader, request)) }
    const made = testLedgerStart()
    yield* store.initialize(made.document, made.genesisTx, made.start)
    const writer = new LedgerWriter(testLedger(), 2, store, { ...testPreset, requestCacheMax: 4 }, 5_000)
    const loop = yield* Effect.fork(writer.commitLoop)
    const result = yield* Effect.promise(() => use(writer))
    yield* Fiber.interrupt(loop)
    return { result, writer, snapshot: yield* store.load(0) }
  }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-writer-")))))

describe("LedgerWriter", () => {
  it.scopedLive("answers after the commit, and a retry with the first reply, from memory and from storage", () =>
    Effect.gen(function* () {
      const { result, writer, snapshot } = yield* withWriter(async (writer) => {
        const topup = await submit(writer, { kind: "topup", reader: "desk-1", request: "t1", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1000, asset: "raf-eur" })
        const sales = await Promise.all(
          Array.from({ length: 12 }, (_, i) => submit(writer, { kind: "sale", reader: "bar-1", request: `s${i}`, place: "raffinerie", card: cardOf("04a1b2c3"), amount: 100 })),
        )
        const again = await submit(writer, { kind: "sale", reader: "bar-1", request: "s0", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 100 })
        const forgotten = writer.forgetOldRequests(t0 + 1)
        const fromStorage = await submit(writer, { kind: "sale", reader: "bar-1", request: "s1", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 100 })
        const conflict = await submit(writer, { kind: "sale", reader: "bar-1", request: "s2", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 5 })
        const lookupsBefore = lookups.count
        const fresh = await submit(writer, { kind: "sale", reader: "bar-1", request: "new-one", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 5 })
        return { topup, sales, again, forgotten, fromStorage, conflict, fresh, freshLookups: lookups.count - lookupsBefore, lookupsBefore }
      })
      expect(JSON.parse(result.topup)).toEqual({ ok: true, tx: "2" })
      expect(result.sales.filter((reply) => JSON.parse(reply).ok === true)).toHaveLength(10)
      expect(result.sales.filter((reply) => JSON.parse(reply).status === "insufficient_funds")).toHaveLength(2)
      expect(result.again).toBe(result.sales[0])
      expect(result.forgotten).toBeGreaterThan(0)
      expect(writer.state.requests.has("bar-1/s1")).toBe(false)
      expect(result.fromStorage).toBe(result.sales[1])
      expect(JSON.parse(result.conflict)).toEqual({ ok: false, status: "conflict" })
      // The forgotten ids were looked up in storage; a brand-new id is not.
      expect(result.lookupsBefore).toBe(2)
      expect(result.freshLookups).toBe(0)
      expect(JSON.parse(result.fresh)).toEqual({ ok: false, status: "insufficient_funds" })
      expect(writer.height).toBe(12)
      const rebuilt = stateFromSnapshot(snapshot)
      expect(stateBalances(rebuilt)).toEqual(stateBalances(writer.state))
      expect(snapshot.lastSeq).toBe(12)
    }),
  )
})

const hourMs = 60 * 60 * 1000
const dayMs = 24 * hourMs

/**
 * The node's clock as the writer reads it: the wall clock is what each call is given (so a test
 * jumps it by passing another time), the monotonic one (its running time) moves only by `run`.
 */
const runningClock = () => {
  const live = Clock.make()
  let runningMs = 0
  const nanos = () => BigInt(runningMs) * 1_000_000n
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => live.unsafeCurrentTimeMillis(),
    currentTimeMillis: live.currentTimeMillis,
    unsafeCurrentTimeNanos: nanos,
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) => live.sleep(duration),
  }
  return { clock, run: (ms: number) => void (runningMs += ms) }
}

const sale = (request: string, amount = 100) => ({ kind: "sale", reader: "bar-1", request, place: "raffinerie", card: cardOf("04a1b2c3"), amount })
const topup = { kind: "topup", reader: "desk-1", request: "t1", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1000, asset: "raf-eur" }
const run = <A>(effect: Effect.Effect<A, unknown>): Promise<A> => Effect.runPromise(effect)

interface Ledgers {
  readonly store: LedgerStore
  /** A writer started as the node starts one: from what storage loads at `nowMs`, its commit loop running. */
  readonly start: (nowMs: number, clock: Clock.Clock, limits?: Partial<NodeLimits>, events?: ConstructorParameters<typeof LedgerWriter>[5]) => Promise<LedgerWriter>
  /** The balance of the card's raf-eur, as storage holds it. */
  readonly balance: () => Promise<number>
}

/** A ledger in PGlite, and writers started on it (as many as a test restarts), stopped at the end. */
const withLedger = <A>(use: (ledgers: Ledgers) => Promise<A>) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const store = { ...ledger, reply: (reader: string, request: string) => ((lookups.count += 1), ledger.reply(reader, request)) }
    const made = testLedgerStart()
    yield* store.initialize(made.document, made.genesisTx, made.start)
    const loops: Array<Fiber.RuntimeFiber<never>> = []
    const start: Ledgers["start"] = async (nowMs, clock, limits = {}, events = {}) => {
      const merged = { ...testPreset, requestCacheMax: 4, ...limits }
      const snapshot = await run(store.load(nowMs - requestRetentionMs, merged.requestCacheMax))
      const writer = new LedgerWriter(stateFromSnapshot(snapshot), snapshot.lastSeq + 1, store, merged, 5_000, events, clock)
      writer.rememberOlderRequests(snapshot.olderRequests)
      loops.push(Effect.runFork(writer.commitLoop))
      return writer
    }
    const balance = async () => {
      const wallet = (await run(store.load(0))).wallets.find((stored) => stored.id === `card:${cardOf("04a1b2c3")}`)
      return wallet?.balances["raf-eur"] ?? 0
    }
    const result = yield* Effect.promise(() => use({ store, start, balance }))
    for (const loop of loops) yield* Fiber.interrupt(loop)
    return result
  }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-writer-")))))

describe("LedgerWriter and a wall clock that jumps", () => {
  it.scopedLive("jumped 25 h forward: a retry within the window in running time replays and charges nothing, from memory, from storage, and after a restart", () =>
    withLedger(async ({ start, balance }) => {
      const { clock, run: runFor } = runningClock()
      const writer = await start(t0, clock)
      await submit(writer, topup, t0)
      const first = await submit(writer, sale("s1"), t0)
      // Five more sales: beyond requestCacheMax (4), the oldest go to the forgotten ids, s1 among them.
      for (let i = 2; i <= 6; i++) await submit(writer, sale(`s${i}`), t0 + i)
      runFor(hourMs)
      const jumpedMs = t0 + dayMs + hourMs
      writer.forgetOldRequests(jumpedMs)
      expect(writer.state.requests.has("bar-1/s6"), "a request an hour old in running time stays in memory").toBe(true)
      expect(writer.state.requests.has("bar-1/s1"), "the oldest one went to the forgotten ids (the cache bound)").toBe(false)
      expect(await submit(writer, sale("s6"), jumpedMs), "from memory").toBe(JSON.stringify({ ok: true, tx: "8" }))
      const lookupsBefore = lookups.count
      expect(await submit(writer, sale("s1"), jumpedMs), "from storage").toBe(first)
      expect(lookups.count, "one look-up: no commit refused and answered from storage").toBe(lookupsBefore + 1)
      expect(await balance()).toBe(400)
      // A restart with the clock still a day ahead: storage loads the requests young in running time.
      runFor(hourMs)
      const restarted = await start(jumpedMs, clock)
      expect(restarted.state.requests.has("bar-1/s6"), "loaded as young in running time").toBe(true)
      expect(await submit(restarted, sale("s1"), jumpedMs)).toBe(first)
      expect(await submit(restarted, sale("s6"), jumpedMs)).toBe(JSON.stringify({ ok: true, tx: "8" }))
      restarted.forgetOldRequests(jumpedMs)
      expect(await submit(restarted, sale("s2"), jumpedMs)).toBe(JSON.stringify({ ok: true, tx: "4" }))
      expect(await balance()).toBe(400)
      expect(restarted.height).toBe(8)
    }))

  it.scopedLive("jumped 25 h back: nothing is forgotten early, and times of new transactions never go backwards, across a restart too", () =>
    withLedger(async ({ store, start, balance }) => {
      const { clock, run: runFor } = runningClock()
      const writer = await start(t0, clock, { requestCacheMax: 64 })
      await submit(writer, topup, t0)
      const first = await submit(writer, sale("s1"), t0 + hourMs)
      // The node runs a day and an hour, and its clock is set back 25 h.
      runFor(dayMs + hourMs)
      const backMs = t0 - dayMs
      expect(writer.forgetOldRequests(backMs)).toBe(0)
      expect(writer.state.requests.has("bar-1/s1")).toBe(true)
      expect(await submit(writer, sale("s1"), backMs)).toBe(first)
      await submit(writer, sale("s2"), backMs)
      const restarted = await start(backMs, clock)
      expect(await submit(restarted, sale("s1"), backMs)).toBe(first)
      await submit(restarted, sale("s3"), backMs)
      const times = (await run(store.transactions(2, 100))).map((tx) => tx.time)
      expect(times).toEqual([t0, t0 + hourMs, t0 + hourMs, t0 + hourMs])
      expect(await balance()).toBe(700)
    }))

  it.scopedLive("a request past the window by the wall clock and by running time is forgotten, and its id is a new request: its stored reply is never replayed", () =>
    withLedger(async ({ start, balance }) => {
      const { clock, run: runFor } = runningClock()
      const writer = await start(t0, clock)
      await submit(writer, topup, t0)
      const first = await submit(writer, sale("s1"), t0)
      for (let i = 2; i <= 6; i++) await submit(writer, sale(`s${i}`), t0 + i)
      // Forgetting runs every few seconds as the node runs; two minutes later, the cache bound has
      // sent the oldest to the forgotten ids.
      runFor(2 * 60_000)
      writer.forgetOldRequests(t0 + 2 * 60_000)
      expect(writer.state.requests.has("bar-1/s1")).toBe(false)
      // Past the window by both measures, but still among the forgotten ids (not forgotten again yet):
      // storage has its reply, which belongs to the earlier use of the id.
      runFor(dayMs + hourMs)
      const laterMs = t0 + dayMs + hourMs
      const again = await submit(writer, sale("s1"), laterMs)
      expect(again).not.toBe(first)
      expect(again).toBe(JSON.stringify({ ok: true, tx: "9" }))
      expect(await balance()).toBe(300)
      // Forgetting now drops what the writer had recorded by the time noted two minutes in (s6, of
      // that very time, stays: a tie is kept), and nothing younger.
      await submit(writer, sale("s7"), laterMs)
      expect(writer.forgetOldRequests(laterMs)).toBe(3)
      expect([...writer.state.requests.keys()].sort()).toEqual(["bar-1/s1", "bar-1/s6", "bar-1/s7"])
    }))

  it.scopedLive("storage refuses a second use within the window the writer did not know: its first reply is answered, nothing is charged twice, and the node stays ready", () =>
    withLedger(async ({ store, start, balance }) => {
      const { clock, run: runFor } = runningClock()
      const writer = await start(t0, clock)
      await submit(writer, topup, t0)
      const first = await submit(writer, sale("s1"), t0)
      // A writer whose memory lost s1 (as a wall clock jumped forward at a start once could): only
      // the database still knows it.
      runFor(hourMs)
      const failures: unknown[] = []
      const forgetful = await start(t0 + dayMs + hourMs, clock, {}, { commitFailed: (error) => failures.push(error) })
      forgetful.state.requests.delete("bar-1/s1")
      const [retry, other] = await Promise.all([
        submit(forgetful, sale("s1"), t0 + dayMs + hourMs),
        submit(forgetful, sale("s2", 50), t0 + dayMs + hourMs),
      ])
      expect(retry).toBe(first)
      expect(other).toBe(JSON.stringify({ ok: true, tx: "4" }))
      expect(forgetful.mode).toBe("ready")
      expect(failures).toEqual([])
      expect(await balance()).toBe(850)
      expect((await run(store.transactions(2, 100))).map((tx) => tx.request)).toEqual(["t1", "s1", "s2"])
      expect(await submit(forgetful, sale("s1"), t0 + dayMs + hourMs)).toBe(first)
    }))
})
