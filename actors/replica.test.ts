/**
 * A replica on its own PGlite, following final blocks from the feed in one re-execution each
 * (`Replica.followFinal`) and storing them a page at a time (`save`): what it follows is in memory
 * until saved, what it saved it holds after a restart, and a block replaying a transaction the
 * ledger holds is refused: at once when the transaction was only followed, with its page's save when
 * it is stored (nothing of the page is stored then).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  blockJson,
  decodeBlock,
  decodeReceivedBlock,
  genesisHeader,
  headerHash,
  signBlock,
  txRootOfTexts,
  type BlockHeader,
  type ReceivedBlock,
} from "../engine/block.js"
import { keyFromSeed, validatorId } from "../engine/ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis } from "../engine/genesis.js"
import type { TimeMs, ValidatorId } from "../engine/names.js"
import type { JsonValue } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { cardOf, genesisCardsCommand, genesisDocument, ledgerDocumentOf, Session, t0 } from "../test/federation.js"
import { Replica, ReplayInStorage } from "./replica.js"

const key = keyFromSeed(new Uint8Array(32).fill(7))
if (key === undefined) throw new Error("a 32-byte seed makes a key")
const validator = validatorId(key.publicKeyRaw) as ValidatorId
const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [validator], threshold: 1 } }) as unknown as JsonValue
const genesis = (() => {
  const decoded = decodeGenesis(document)
  if (!decoded.ok) throw new Error(decoded.message)
  return decoded.value
})()
const genesisTx = genesisTransaction(document, t0 as TimeMs)
const header0 = genesisHeader(genesis, genesisTx, validator)
const t1 = t0 + 1_000
const t2 = t0 + 2_000

/** The node's side: its engine, and the blocks it seals and signs as the feed's frames. */
const node = new Session(ledgerFromGenesis(genesis), t1, headerHash(header0))
const texts = (commands: ReadonlyArray<Record<string, unknown>>): string[] =>
  commands.map((command) => {
    const outcome = node.must(command)
    if (!outcome.ok || outcome.tx === null) throw new Error(`${String(command["kind"])} made no transaction`)
    return transactionJson(outcome.tx)
  })

const frame = (prev: BlockHeader, txTexts: readonly string[], time: number): { header: BlockHeader; text: string } => {
  const header: BlockHeader = { ...prev, height: prev.height + 1, prev: headerHash(prev), time: time as TimeMs, txRoot: txRootOfTexts(txTexts), txCount: txTexts.length }
  const signatures = [signBlock(key, validator, headerHash(header))]
  return { header, text: `{"type":"block","block":${blockJson(header, txTexts, signatures)}}` }
}

// The genesis's cards come first (PROTOCOL.md section 9.4), then a refill and a top-up.
const block1Texts = texts([
  genesisCardsCommand(),
  { kind: "refill", wallet: `card:${cardOf("04a1b2c3")}`, amount: 1_000, ref: "pi_1" },
  { kind: "topup", place: "raffinerie", reader: "desk-1", card: cardOf("04a1b2c3"), amount: 20, asset: "raf-eur", request: "t1" },
])
const block1 = frame(header0, block1Texts, t1)
node.now = t2
const block2 = frame(block1.header, texts([{ kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 300, request: "s1" }]), t2)
/** Block 2 with block 1's top-up again (same id, command and time), validly signed. */
const replaying = frame(block1.header, [...texts([{ kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 5, request: "s2" }]), block1Texts[2] as string], t2)
/** Block 2 made of block 1's top-up again alone: re-executed on block 1, it makes the same bytes. */
const replayingAlone = frame(block1.header, [block1Texts[2] as string], t2)

const received = (text: string): ReceivedBlock => {
  const decoded = decodeReceivedBlock((JSON.parse(text) as { block: unknown }).block, text)
  if ("code" in decoded) throw new Error(decoded.message)
  return decoded
}

const created = (store: Ledger["Type"]) =>
  Effect.gen(function* () {
    const zero = decodeBlock(JSON.parse(blockJson(header0, [transactionJson(genesisTx)], [signBlock(key, validator, headerHash(header0))])))
    if ("code" in zero) throw new Error(zero.message)
    const replica = yield* Replica.create(store, zero.block, zero.rawTxs, zero.block.signatures)
    if ("code" in replica) throw new Error(replica.message)
    return replica
  })

/** The genesis transaction's row, as Replica.create stores it before block 0. */
const genesisRow = (tx: typeof genesisTx) => ({ seq: 0, id: tx.id, time: tx.time, body: transactionJson(tx) })

const root = mkdtempSync(join(tmpdir(), "gesell-replica-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const balance = (replica: Replica, wallet: string, asset: string): number =>
  replica.chain.state.wallets.get(wallet as never)?.balances.get(asset as never) ?? 0

describe("a replica following final blocks from the feed", () => {
  it.live("follows them in memory, stores them a page at a time, and holds them after a restart", () =>
    Effect.gen(function* () {
      const dataDir = join(root, "pages")
      yield* Effect.gen(function* () {
        const store = yield* Ledger
        const replica = yield* created(store)
        expect(yield* replica.followFinal(received(block1.text))).toBeUndefined()
        expect(yield* replica.followFinal(received(block2.text))).toBeUndefined()
        expect(replica.height).toBe(2)
        // Two small blocks make no page: nothing of them is in storage until the save.
        expect(replica.unsavedBlocks).toBe(2)
        expect(replica.pageFull).toBe(false)
        expect((yield* store.blockTip).sealed?.height).toBe(0)
        yield* replica.save
        expect(replica.saved).toEqual({ height: 2, lastSeq: 4 })
        expect(replica.unsavedBlocks).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(pgliteLedger(dataDir)))
      const reopened = yield* Ledger.pipe(Effect.flatMap(Replica.open), Effect.scoped, Effect.provide(pgliteLedger(dataDir)))
      expect(reopened?.height).toBe(2)
      expect(reopened?.chain.last.hash).toBe(headerHash(block2.header))
      // The sale of 300 took the 20 topped up in raf-eur first, then 280 of the 1,000 fed refilled.
      expect(reopened === undefined ? undefined : [balance(reopened, `card:${cardOf("04a1b2c3")}`, "raf-eur"), balance(reopened, `card:${cardOf("04a1b2c3")}`, "fed")]).toEqual([0, 720])
    }), 120_000)

  it.live("refuses a block replaying a transaction it followed and is left as it was; one replaying a stored transaction fails its page's save, storing nothing of it", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      const replica = yield* created(store)
      expect(yield* replica.followFinal(received(block1.text))).toBeUndefined()
      const before = { height: replica.height, fed: balance(replica, `card:${cardOf("04a1b2c3")}`, "fed"), eur: balance(replica, `card:${cardOf("04a1b2c3")}`, "raf-eur") }
      const inMemory = yield* replica.followFinal(received(replaying.text))
      expect(inMemory).toEqual({ code: "reexecution", message: "transaction tx-3 is already in the ledger" })
      expect({ height: replica.height, fed: balance(replica, `card:${cardOf("04a1b2c3")}`, "fed"), eur: balance(replica, `card:${cardOf("04a1b2c3")}`, "raf-eur") }).toEqual(before)
      yield* replica.save
      // Refused by re-execution (the sale's legs are the node's after block 2), the block is looked up
      // in storage, and named as the replay it is.
      expect(yield* replica.followFinal(received(replaying.text))).toEqual(inMemory)
      // A proposal is checked against storage before it is voted on.
      const decoded = decodeBlock((JSON.parse(replayingAlone.text) as { block: unknown }).block)
      if ("code" in decoded) throw new Error(decoded.message)
      expect(yield* replica.check(decoded.block, decoded.rawTxs)).toEqual(inMemory)
      // A final block that re-executes is checked against storage with its page, when the page is saved.
      expect(yield* replica.followFinal(received(replayingAlone.text))).toBeUndefined()
      expect(yield* Effect.exit(replica.save)).toMatchObject({ _tag: "Failure" })
      const failure = replica.failed
      expect(failure).toBeInstanceOf(ReplayInStorage)
      expect((failure as ReplayInStorage).fault).toEqual(inMemory)
      expect((failure as ReplayInStorage).received).toMatchObject({ height: 2, hash: headerHash(replayingAlone.header), header: replayingAlone.header })
      expect((failure as ReplayInStorage).previous).toMatchObject({ height: 1, hash: headerHash(block1.header) })
      expect((yield* store.blockTip).sealed?.height).toBe(1)
      // Nothing is saved after it, even an honest block.
      expect(yield* Effect.exit(replica.save)).toMatchObject({ _tag: "Failure" })
      // Storage was left as it was: the replica reopened from it follows the honest block 2.
      const reopened = yield* Replica.open(store)
      expect(reopened?.height).toBe(1)
      expect(reopened === undefined ? "none" : yield* reopened.followFinal(received(block2.text))).toBeUndefined()
      yield* reopened?.save ?? Effect.void
      expect((yield* store.blockTip).sealed?.height).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(pgliteLedger(join(root, "replay")))), 120_000)

  it.live("stopped between storing the genesis and block 0, opens as no replica and creates itself again from block 0; another genesis is refused", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      // What a replica killed between the two commits of Replica.create leaves.
      yield* store.initialize(document, genesisRow(genesisTx))
      expect(yield* Replica.open(store)).toBeUndefined()
      const replica = yield* created(store)
      expect(yield* replica.followFinal(received(block1.text))).toBeUndefined()
      yield* replica.save
      expect((yield* Replica.open(store))?.height).toBe(1)
      const other = yield* Ledger.pipe(
        Effect.flatMap((fresh) =>
          fresh.initialize(document, genesisRow({ ...genesisTx, time: (t0 + 1) as TimeMs })).pipe(
            Effect.zipRight(Effect.flip(created(fresh))),
          ),
        ),
        Effect.scoped,
        Effect.provide(pgliteLedger(join(root, "other-genesis"))),
      )
      expect((other as Error).message).toBe("this storage holds another genesis than the block 0 received")
    }).pipe(Effect.scoped, Effect.provide(pgliteLedger(join(root, "interrupted")))), 120_000)
})
