/**
 * The block producer beside the writer, on real storage (PGlite on a temp dir), with no validator
 * answering: sealing stops at blocksPendingTxMax, and from then on the producer leaves storage
 * alone while taps go on (each reading would be a page of blockTxMax transactions, every turn).
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { decodeCommand } from "../engine/command.js"
import { keyFromSeed, validatorId } from "../engine/ed25519.js"
import { testPreset } from "../engine/limits.js"
import type { ValidatorId } from "../engine/names.js"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { genesis, ledger as testLedger, t0, testLedgerStart, cardOf } from "../test/federation.js"
import { BlockProducer, type PendingBlock } from "./producer.js"
import { LedgerWriter } from "./writer.js"

/** A top-up of one cent, submitted to the writer as if its clock read `nowMs` (by default t0 + index). */
const topUp = (writer: LedgerWriter, index: number, nowMs = t0 + index): Promise<string> =>
  new Promise((resolve) => {
    const decoded = decodeCommand({ kind: "topup", reader: "desk-1", request: `t${index}`, place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1, asset: "raf-eur" })
    if (!decoded.ok) throw new Error(decoded.message)
    writer.submit({ command: decoded.value, render: (executed) => String(executed.ok), reply: resolve, refuse: (why) => resolve(why) }, nowMs)
  })

/** A signer that is not a member of the test genesis set, so that no block becomes final. */
const outsider = () => {
  const key = keyFromSeed(new Uint8Array(32).fill(9))
  if (key === undefined) throw new Error("no key")
  return { validator: validatorId(key.publicKeyRaw) as ValidatorId, key }
}

/** The header time of a sealed block and the times of its transactions. */
const timesOf = (block: PendingBlock) => ({
  header: block.header.time,
  txs: (JSON.parse(block.proposal) as { txs: { time: number }[] }).txs.map((tx) => tx.time),
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("BlockProducer", () => {
  it.scopedLive("stops sealing at blocksPendingTxMax and then reads nothing from storage while taps go on", () =>
    Effect.gen(function* () {
      const ledger = yield* Ledger
      const reads = { count: 0 }
      const store = { ...ledger, transactions: (from: number, limit: number) => ((reads.count += 1), ledger.transactions(from, limit)) }
      const made = testLedgerStart()
      yield* store.initialize(made.document, made.genesisTx, made.start)
      // Not a member of the genesis set, and no validator connects: no block becomes final.
      const signer = outsider()
      // Blocks are sealed full only (the interval never runs out): their sizes do not depend on timing.
      const limits = { ...testPreset, commitTxMax: 64, commitQueueTxMax: 4096, blockTxMax: 4, blockIntervalMs: 600_000, blocksPendingTxMax: 9 }
      const producer = new BlockProducer(store, limits, genesis(), signer, () => Date.now())
      yield* producer.start
      const writer = new LedgerWriter(testLedger(), 2, store, limits, 5_000, { committedTxs: (txs, atMs) => producer.committed(txs, atMs) })
      const loops = [yield* Effect.fork(writer.commitLoop), yield* Effect.fork(producer.loop)]

      const { sealed, readsAtBound, readsAfter, replies } = yield* Effect.promise(async () => {
        const first = await Promise.all(Array.from({ length: 20 }, (_, index) => topUp(writer, index)))
        // Block 0 holds the genesis transaction: 1 + 2 × 4 = 9 fit in the bound, a third block does not.
        for (let waited = 0; producer.sealedHeight < 2 && waited < 10_000; waited += 10) await sleep(10)
        await sleep(50)
        const readsAtBound = reads.count
        // More than the producer's buffer (1,024 transactions): it is dropped, as under a long pause.
        const more = []
        for (let round = 0; round < 25; round++) {
          more.push(...(await Promise.all(Array.from({ length: 64 }, (_, index) => topUp(writer, 100 + round * 64 + index)))))
          await sleep(5)
        }
        await sleep(100)
        return { sealed: producer.sealedHeight, readsAtBound, readsAfter: reads.count, replies: [...first, ...more] }
      })
      for (const loop of loops) yield* Fiber.interrupt(loop)

      expect(replies.every((reply) => reply === "true")).toBe(true)
      // The genesis's cards are seq 1.
      expect(writer.height).toBe(1 + 20 + 25 * 64)
      expect(sealed, "no third block").toBe(2)
      expect(readsAfter - readsAtBound, "storage reads while sealing is paused").toBe(0)
    }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-producer-"))))),
  60_000)

  it.scopedLive("dates a block no earlier than its transactions when they are timed after the producer's clock, buffered or read back", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      const made = testLedgerStart()
      yield* store.initialize(made.document, made.genesisTx, made.start)
      // Blocks are sealed full only, so their contents do not depend on timing.
      const limits = { ...testPreset, blockTxMax: 4, blockIntervalMs: 600_000 }
      // The producer's clock stands a minute behind the writer's times, as after the wall clock stepped
      // back under a writer that keeps its transactions' times from going back.
      const producerNowMs = () => t0 + 1
      // The last block sealed or re-opened at each height.
      const sealed = new Map<number, PendingBlock>()
      const events = { sealed: (block: PendingBlock) => void sealed.set(block.header.height, block) }
      const first = new BlockProducer(store, limits, genesis(), outsider(), producerNowMs, events)
      yield* first.start
      const hook: { producer: BlockProducer | undefined } = { producer: first }
      const writer = new LedgerWriter(testLedger(), 2, store, limits, 5_000, {
        committedTxs: (txs, atMs) => hook.producer?.committed(txs, atMs),
      })
      const commits = yield* Effect.fork(writer.commitLoop)
      const firstLoop = yield* Effect.fork(first.loop)
      const waitSealed = (producer: BlockProducer, height: number) =>
        Effect.promise(async () => {
          for (let waited = 0; producer.sealedHeight < height && waited < 10_000; waited += 10) await sleep(10)
        })

      // Block 1 holds the genesis's cards, committed with the genesis; block 2 comes from the producer's buffer.
      yield* waitSealed(first, 1)
      const replies = yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, (_, index) => topUp(writer, index, t0 + 60_000 + index))))
      yield* waitSealed(first, 2)
      yield* Fiber.interrupt(firstLoop)

      // Block 3 read back from storage by a producer started after its transactions were committed.
      hook.producer = undefined
      replies.push(...(yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, (_, index) => topUp(writer, 10 + index, t0 + 120_000 + index))))))
      const second = new BlockProducer(store, limits, genesis(), outsider(), producerNowMs, events)
      yield* second.start
      const secondLoop = yield* Effect.fork(second.loop)
      yield* waitSealed(second, 3)
      yield* Fiber.interrupt(secondLoop)
      yield* Fiber.interrupt(commits)

      expect(replies.every((reply) => reply === "true")).toBe(true)
      expect([...sealed.keys()].sort()).toEqual([0, 1, 2, 3])
      const [cards, block2, block3] = [1, 2, 3].map((height) => timesOf(sealed.get(height) as PendingBlock)) as [ReturnType<typeof timesOf>, ReturnType<typeof timesOf>, ReturnType<typeof timesOf>]
      expect(cards.txs).toEqual([t0])
      expect(block2.txs).toEqual([t0 + 60_000, t0 + 60_001, t0 + 60_002, t0 + 60_003])
      expect(block2.header, "block 2's time is its last transaction's, not the producer's clock").toBe(t0 + 60_003)
      expect(block3.txs).toEqual([t0 + 120_000, t0 + 120_001, t0 + 120_002, t0 + 120_003])
      expect(block3.header, "block 3's time is its last transaction's, not the producer's clock").toBe(t0 + 120_003)
    }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-producer-"))))),
  60_000)
})
