/**
 * The single writer against real storage (PGlite on a temp dir): replies only after the commit,
 * retries answered with the first reply (from memory, and from storage once forgotten from memory),
 * conflicts, and a state rebuilt from storage that equals the one in memory.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { decodeCommand, type Command } from "../engine/command.js"
import { genesisTransaction, ledgerFromGenesis } from "../engine/genesis.js"
import { stateBalances } from "../engine/apply.js"
import { testPreset } from "../engine/limits.js"
import type { TimeMs } from "../engine/names.js"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { genesis, genesisDocument, t0 } from "../test/federation.js"
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
    const tx = genesisTransaction(genesisDocument as never, t0 as TimeMs)
    yield* store.initialize(genesisDocument as never, { seq: 0, id: tx.id, time: tx.time, body: JSON.stringify(tx) })
    const writer = new LedgerWriter(ledgerFromGenesis(genesis()), 1, store, { ...testPreset, requestCacheMax: 4 }, 5_000)
    const loop = yield* Effect.fork(writer.commitLoop)
    const result = yield* Effect.promise(() => use(writer))
    yield* Fiber.interrupt(loop)
    return { result, writer, snapshot: yield* store.load(0) }
  }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-writer-")))))

describe("LedgerWriter", () => {
  it.scopedLive("answers after the commit, and a retry with the first reply, from memory and from storage", () =>
    Effect.gen(function* () {
      const { result, writer, snapshot } = yield* withWriter(async (writer) => {
        const topup = await submit(writer, { kind: "topup", reader: "desk-1", request: "t1", place: "raffinerie", card: "04a1b2c3", amount: 1000, asset: "raf-eur" })
        const sales = await Promise.all(
          Array.from({ length: 12 }, (_, i) => submit(writer, { kind: "sale", reader: "bar-1", request: `s${i}`, place: "raffinerie", card: "04a1b2c3", amount: 100 })),
        )
        const again = await submit(writer, { kind: "sale", reader: "bar-1", request: "s0", place: "raffinerie", card: "04a1b2c3", amount: 100 })
        const forgotten = writer.forgetOldRequests(t0 + 1)
        const fromStorage = await submit(writer, { kind: "sale", reader: "bar-1", request: "s1", place: "raffinerie", card: "04a1b2c3", amount: 100 })
        const conflict = await submit(writer, { kind: "sale", reader: "bar-1", request: "s2", place: "raffinerie", card: "04a1b2c3", amount: 5 })
        const lookupsBefore = lookups.count
        const fresh = await submit(writer, { kind: "sale", reader: "bar-1", request: "new-one", place: "raffinerie", card: "04a1b2c3", amount: 5 })
        return { topup, sales, again, forgotten, fromStorage, conflict, fresh, freshLookups: lookups.count - lookupsBefore, lookupsBefore }
      })
      expect(JSON.parse(result.topup)).toEqual({ ok: true, tx: "1" })
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
      expect(writer.height).toBe(11)
      const rebuilt = stateFromSnapshot(snapshot)
      expect(stateBalances(rebuilt)).toEqual(stateBalances(writer.state))
      expect(snapshot.lastSeq).toBe(11)
    }),
  )
})
