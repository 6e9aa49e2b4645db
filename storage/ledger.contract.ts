/**
 * The contract of the `Ledger` port, one suite run against every implementation (as Hono runs
 * `router/common.case.test.ts` against each router): PGlite and real PostgreSQL in `ledger.test.ts`.
 *
 * `layer()` must return the layer of a new, empty database each time it is called; providing the
 * same returned layer twice opens the same database twice. `server`, when the implementation has
 * one the test can stop and start again, enables the tests of a database that goes away.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, type Layer, Ref, Schedule } from "effect"
import { fixtureCardKey, fixtureStart, genesisDocument, genesisReaders, genesisTimeMs, genesisTx, sale, salesBatch, wallet } from "./fixtures.js"
import {
  type CommitBatch,
  Ledger,
  type LedgerStore,
  type Snapshot,
  StorageError,
  type StoredBlock,
  type StoredCard,
  type StoredReader,
  type StoredReply,
  type StoredTx,
} from "./ledger.js"
import { sha256Hex } from "../engine/hash.js"

export interface ServerControl {
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
}

const initialize = (store: LedgerStore) => store.initialize(genesisDocument, genesisTx, fixtureStart)

const byKey = <T>(key: (item: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
const sortRequests = (requests: readonly StoredReply[]) =>
  [...requests].sort(byKey((request) => `${request.reader}/${request.request}`))
/** A snapshot with its unordered parts sorted, to compare two of them. */
const sorted = (snapshot: Snapshot): Snapshot => ({
  ...snapshot,
  cards: [...snapshot.cards].sort(byKey((card) => card.id)),
  wallets: [...snapshot.wallets].sort(byKey((wallet) => wallet.id)),
  requests: sortRequests(snapshot.requests),
  refs: [...snapshot.refs].sort(),
  payments: [...snapshot.payments].sort(byKey((payment) => payment.ref)),
})

/** The request of a committed transaction, as load returns it. */
const asRequest = (tx: StoredTx): StoredReply => ({
  reader: tx.reader ?? "-",
  request: tx.request ?? "",
  fingerprint: tx.fingerprint ?? "",
  reply: tx.reply ?? "",
  time: tx.time,
})

/** A refill at the cash desk: it carries an external reference. */
const refill = (seq: number, ref: string): StoredTx => ({
  ...sale(seq, "04a1b2c3"),
  id: `refill-${seq}`,
  reader: "desk-1",
  request: `desk-req-${seq}`,
  ref,
})

/** A command made without a reader (HTTP): the writer files its request under reader "-". */
const readerless = (seq: number, request: string): StoredTx => ({
  seq,
  id: `http-${seq}`,
  time: genesisTimeMs + seq,
  body: JSON.stringify({ id: `http-${seq}`, kind: "transfer", time: genesisTimeMs + seq, legs: [] }),
  reader: "-",
  request,
  fingerprint: `fp-${request}`,
  reply: `{"status":"ok","request":"${request}"}`,
})

const failed = (request: string, time: number): StoredReply => ({
  reader: "bar-1",
  request,
  fingerprint: `fp-${request}`,
  reply: `{"status":"insufficient_funds","request":"${request}"}`,
  time,
})

const hourMs = 60 * 60 * 1000
/** A day and an hour: past the idempotency window (24 hours and a minute). */
const dayMs = 25 * hourMs

const blocked: StoredCard = { id: "04a1b2c3", number: "A1B2C3D4", status: "blocked", wallet: "card:04a1b2c3" }

const firstBatch: CommitBatch = {
  txs: [sale(1, "04a1b2c3"), refill(2, "pi_3Q0abc"), readerless(3, "http-1")],
  replies: [failed("req-fail", genesisTimeMs + 3)],
  wallets: [
    { id: "card:04a1b2c3", balances: { fed: 750, "raf-gift": 20 }, memberships: { "raf-eur": genesisTimeMs + 1_000 }, melted: { fed: genesisTimeMs }, lastActivityMs: genesisTimeMs + 2 },
    wallet("place:raffinerie", 250),
  ],
  cards: [blocked],
  backing: { received: 1_000, refunded: 0, paidOut: 0 },
  payments: [{ ref: "pi_3Q0abc", wallet: "card:04a1b2c3", paid: 1_000, refunded: 0, pending: null }],
}

const committed = (store: LedgerStore) => initialize(store).pipe(Effect.zipRight(store.commit(firstBatch)))

const lifecycle = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("initialize creates a ledger, and initialized says so", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      expect(yield* store.initialized).toBe(false)
      expect(yield* initialize(store)).toEqual({ created: true })
      expect(yield* store.initialized).toBe(true)
    }).pipe(Effect.provide(layer())))

  it.live("initialize on an existing ledger changes nothing", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const before = yield* store.load(0)
      const other = { ...genesisDocument, federation: { id: "other", name: "Other" } }
      const otherStart = { cardKey: "5c".repeat(32), first: { txs: [], replies: [], wallets: [], cards: [{ id: "04ffffff", status: "active" as const, wallet: "card:04ffffff" }] } }
      expect(yield* store.initialize(other, { ...genesisTx, body: "{}" }, otherStart)).toEqual({ created: false })
      expect(sorted(yield* store.load(0))).toEqual(sorted(before))
      expect((yield* store.transactions(0, 10)).map((tx) => tx.body)).toEqual([genesisTx.body])
    }).pipe(Effect.provide(layer())))

  it.live("a new ledger is written whole with its first batch and its card key, or not at all", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      const cardsTx: StoredTx = { seq: 1, id: "1", time: genesisTimeMs, body: '{"id":"1","kind":"cards"}' }
      // A reader of no place: the database refuses the first batch, and with it the genesis.
      const broken = { ...fixtureStart.first!, txs: [cardsTx], readers: [{ id: "ghost", place: "nowhere", role: "bar" as const, tokenSha256: "c".repeat(64), revoked: false }] }
      const failed = yield* Effect.either(store.initialize(genesisDocument, genesisTx, { cardKey: fixtureCardKey, first: broken }))
      expect(failed._tag).toBe("Left")
      expect(yield* store.initialized).toBe(false)
      expect(yield* store.initialize(genesisDocument, genesisTx, { cardKey: fixtureCardKey, first: { ...fixtureStart.first!, txs: [cardsTx] } })).toEqual({ created: true })
      const snapshot = yield* store.load(0)
      expect(snapshot.cardKey).toBe(fixtureCardKey)
      expect(snapshot.lastSeq).toBe(1)
      expect((yield* store.transactions(0, 10)).map((tx) => tx.seq)).toEqual([0, 1])
    }).pipe(Effect.provide(layer())))

  it.live("a ledger made without a card key loads without one", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* store.initialize(genesisDocument, genesisTx)
      expect((yield* store.load(0)).cardKey).toBeUndefined()
    }).pipe(Effect.provide(layer())))

  it.live("a new ledger loads its genesis: assets, places, readers, cards, and seq 0", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const snapshot = sorted(yield* store.load(0))
      expect(snapshot.genesis).toEqual(genesisDocument)
      expect(snapshot.assets).toEqual(genesisDocument.assets)
      expect(snapshot.places).toEqual(genesisDocument.places)
      expect(snapshot.readers).toEqual(genesisDocument.readers.map((reader) => ({ ...reader, revoked: false })))
      expect(snapshot.cards).toEqual([
        { id: "04a1b2c3", number: "A1B2C3D4", status: "active", wallet: "card:04a1b2c3" },
        { id: "04a1b2c4", number: undefined, status: "active", wallet: "card:04a1b2c4" },
      ])
      expect(snapshot.wallets).toEqual([])
      expect(snapshot.requests).toEqual([])
      expect(snapshot.refs).toEqual([])
      expect(snapshot.backing).toEqual({ received: 0, refunded: 0, paidOut: 0 })
      expect(snapshot.lastSeq).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.live("load before initialize fails with StorageError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* Ledger).load(0))
      expect(error._tag).toBe("StorageError")
      expect(error.operation).toBe("load")
    }).pipe(Effect.provide(layer())))
}

const commits = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("commit then load returns wallets, cards, requests, refs and backing as committed", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const later = wallet("card:04a1b2c3", 500, genesisTimeMs + 4)
      yield* store.commit({ txs: [sale(4, "04a1b2c3")], replies: [], wallets: [later], cards: [] })
      const snapshot = sorted(yield* store.load(0))
      expect(snapshot.wallets).toEqual([later, wallet("place:raffinerie", 250)])
      expect(snapshot.cards).toContainEqual(blocked)
      expect(snapshot.requests).toEqual(
        sortRequests([...firstBatch.txs.map(asRequest), asRequest(sale(4, "04a1b2c3")), ...firstBatch.replies]),
      )
      expect(snapshot.refs).toEqual(["pi_3Q0abc"])
      expect(snapshot.backing).toEqual(firstBatch.backing)
      expect(snapshot.lastSeq).toBe(4)
    }).pipe(Effect.provide(layer())))

  it.live("keeps each payment as the last commit left it: opened, a refund pending, refunded; never more refunded than paid", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const opened = firstBatch.payments?.[0]
      if (opened === undefined) throw new Error("the first batch opens a payment")
      expect(sorted(yield* store.load(0)).payments).toEqual([opened])
      const pending = { ...opened, pending: { tx: "tx-4", amount: 400 } }
      yield* store.commit({ txs: [sale(4, "04a1b2c3")], replies: [], wallets: [], cards: [], payments: [pending] })
      expect((yield* store.load(0)).payments).toEqual([pending])
      const refunded = { ...opened, refunded: 400 }
      yield* store.commit({ txs: [sale(5, "04a1b2c3")], replies: [], wallets: [], cards: [], payments: [refunded] })
      expect((yield* store.load(0)).payments).toEqual([refunded])
      const beyond = { ...opened, refunded: 400, pending: { tx: "tx-6", amount: 601 } }
      const error = yield* Effect.flip(store.commit({ txs: [sale(6, "04a1b2c3")], replies: [], wallets: [], cards: [], payments: [beyond] }))
      expect(error.operation).toBe("commit")
      expect((yield* store.load(0)).payments).toEqual([refunded])
      expect((yield* store.transactions(0, 100)).map((tx) => tx.seq)).toEqual([0, 1, 2, 3, 4, 5])
    }).pipe(Effect.provide(layer())))

  it.live("a batch is all or nothing: a refused batch leaves no wallet, card, reply, backing or tx of it", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const before = sorted(yield* store.load(0))
      const rest = {
        replies: [failed("req-late", genesisTimeMs + 9)],
        wallets: [wallet("card:04a1b2c3", 1), wallet("card:new", 5)],
        cards: [{ ...blocked, status: "voided" as const }],
        backing: { received: 9, refunded: 9, paidOut: 9 },
        payments: [{ ref: "pi_3Q0abc", wallet: "card:04a1b2c3", paid: 1_000, refunded: 9, pending: null }],
      }
      const refused: ReadonlyArray<readonly StoredTx[]> = [
        [sale(4, "04a1b2c3"), { ...sale(5, "04a1b2c3"), id: "tx-1" }], // the second reuses a committed id
        [sale(4, "04a1b2c3"), { ...sale(5, "04a1b2c3"), ref: "pi_3Q0abc" }], // ...a used external reference
        [sale(4, "04a1b2c3"), sale(3, "04a1b2c3")], // ...a committed seq
        [sale(3, "04a1b2c3"), sale(4, "04a1b2c3")], // the batch overlaps the ledger
        [sale(5, "04a1b2c3")], // the batch leaves a gap
      ]
      for (const txs of refused) {
        const error = yield* Effect.flip(store.commit({ ...rest, txs }))
        expect(error._tag).toBe("StorageError")
        expect(error.operation).toBe("commit")
      }
      expect(sorted(yield* store.load(0))).toEqual(before)
      expect((yield* store.transactions(0, 100)).map((tx) => tx.seq)).toEqual([0, 1, 2, 3])
    }).pipe(Effect.provide(layer())))

  it.live("a number that is not a safe integer is a defect, and nothing is written", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const exit = yield* Effect.exit(store.commit({ txs: [sale(4, "04a1b2c3")], replies: [], wallets: [wallet("card:x", 2 ** 53)], cards: [] }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect((yield* store.load(0)).lastSeq).toBe(3)
    }).pipe(Effect.provide(layer())))

  it.live("transactions returns bodies byte for byte, in seq order, from a seq, at most limit", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const bodies = [
        '{ "id" : "tx-1",\n\t"memo": "é ü ß 😀 \\u00e9 \\"quoted\\" back\\\\slash" }',
        '{"id":"tx-2","memo":"\u2028\u00a0<>&\'","legs":[]}   ',
        '{"id":"tx-3","memo":1.50,"n":1e3}',
      ]
      const txs = bodies.map((body, index) => ({ ...sale(index + 1, "04a1b2c3"), body }))
      yield* store.commit({ txs, replies: [], wallets: [], cards: [] })
      expect(yield* store.transactions(1, 10)).toEqual(txs)
      expect((yield* store.transactions(0, 2)).map((tx) => tx.body)).toEqual([genesisTx.body, bodies[0]])
      expect((yield* store.transactions(3, 10)).map((tx) => tx.seq)).toEqual([3])
      expect(yield* store.transactions(4, 10)).toEqual([])
      expect(yield* store.transactions(0, 0)).toEqual([])
    }).pipe(Effect.provide(layer())))

  it.live("knownTxIds names the ids the ledger holds among those asked, and no other", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const txs = [1, 2, 3].map((seq) => ({ ...sale(seq, "04a1b2c3"), id: `tx-${seq}` }))
      yield* store.commit({ txs, replies: [], wallets: [], cards: [] })
      expect(yield* store.knownTxIds([])).toEqual([])
      expect(yield* store.knownTxIds(["tx-9", "tx-10"])).toEqual([])
      const asked = ["tx-0", "tx-3", "genesis", "tx-1", "tx-4", "TX-2"]
      expect([...(yield* store.knownTxIds(asked))].sort()).toEqual(["genesis", "tx-1", "tx-3"])
      const many = Array.from({ length: 5_000 }, (_, index) => `absent-${index}`)
      expect(yield* store.knownTxIds([...many, "tx-2"])).toEqual(["tx-2"])
    }).pipe(Effect.provide(layer())))
}

const requests = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("reply finds committed and failed requests, and nothing else", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const first = sale(1, "04a1b2c3")
      const found = (fingerprint: string | undefined, reply: string | undefined, time: number) => ({ fingerprint, reply, time, runningAgeMs: 0 })
      expect(yield* store.reply("bar-1", "req-1")).toEqual(found(first.fingerprint, first.reply, first.time))
      expect(yield* store.reply("-", "http-1")).toEqual(found("fp-http-1", '{"status":"ok","request":"http-1"}', genesisTimeMs + 3))
      expect(yield* store.reply("bar-1", "req-fail")).toEqual(found("fp-req-fail", failed("req-fail", 0).reply, genesisTimeMs + 3))
      expect(yield* store.reply("bar-1", "req-unknown")).toBeUndefined()
      expect(yield* store.reply("desk-1", "req-1")).toBeUndefined()
    }).pipe(Effect.provide(layer())))

  it.live("a request id used again after the idempotency window in time and in running time is stored, and reply gives the newest use", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const dayAfterMs = genesisTimeMs + dayMs
      // req-1 was a committed sale: used again, as a sale and then as a failed request of another id.
      const again = { ...sale(4, "04a1b2c3", dayAfterMs), request: "req-1", fingerprint: "fp-again", reply: '{"again":true}' }
      const failedAgain = { ...failed("req-fail", dayAfterMs), fingerprint: "fp-fail-again", reply: '{"again":"failed"}' }
      yield* store.commit({ txs: [again], replies: [failedAgain], wallets: [], cards: [], runningMs: dayMs })
      expect(yield* store.reply("bar-1", "req-1")).toEqual({ fingerprint: "fp-again", reply: '{"again":true}', time: dayAfterMs, runningAgeMs: 0 })
      expect(yield* store.reply("bar-1", "req-fail")).toMatchObject({ fingerprint: "fp-fail-again", reply: '{"again":"failed"}' })
      // A second use within the window is refused, and changes nothing.
      const error = yield* Effect.flip(store.commit({ txs: [], replies: [failed("req-fail", dayAfterMs + 1)], wallets: [], cards: [], runningMs: 1 }))
      expect(error.requestsStored).toEqual(["bar-1/req-fail"])
      expect(yield* store.reply("bar-1", "req-fail")).toMatchObject({ fingerprint: "fp-fail-again", reply: '{"again":"failed"}', runningAgeMs: 0 })
      expect((yield* store.load(dayAfterMs)).requests.map((request) => `${request.reader}/${request.request}`).sort()).toEqual(["bar-1/req-1", "bar-1/req-fail"])
    }).pipe(Effect.provide(layer())))

  it.live("a second use of a request within the window by either measure is refused by the database, naming it", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const before = sorted(yield* store.load(0))
      const reuse = (time: number) => ({ ...sale(4, "04a1b2c3", time), request: "req-1", fingerprint: "fp-other" })
      const refused: ReadonlyArray<readonly [string, CommitBatch, readonly string[]]> = [
        // The wall clock jumped a day forward, the node ran an hour: the same request.
        ["clock jumped forward", { txs: [reuse(genesisTimeMs + dayMs)], replies: [], wallets: [], cards: [], runningMs: hourMs }, ["bar-1/req-1"]],
        // The wall clock went a day back, the node ran a day: still the same request.
        ["clock jumped back", { txs: [reuse(genesisTimeMs - dayMs)], replies: [], wallets: [], cards: [], runningMs: dayMs }, ["bar-1/req-1"]],
        ["no running time given", { txs: [reuse(genesisTimeMs + dayMs)], replies: [], wallets: [], cards: [] }, ["bar-1/req-1"]],
        // A failed request used again as a transaction, a transaction's id as a failed request.
        ["across tables", { txs: [{ ...reuse(genesisTimeMs + dayMs), request: "req-fail" }], replies: [failed("req-1", genesisTimeMs + dayMs)], wallets: [], cards: [], runningMs: hourMs }, ["bar-1/req-1", "bar-1/req-fail"]],
        ["a reader-less request", { txs: [{ ...readerless(4, "http-1"), time: genesisTimeMs + dayMs }], replies: [], wallets: [], cards: [], runningMs: hourMs }, ["-/http-1"]],
        ["twice in one batch", { txs: [], replies: [failed("new-1", genesisTimeMs + 9), failed("new-1", genesisTimeMs + 10)], wallets: [], cards: [] }, ["bar-1/new-1"]],
      ]
      for (const [why, batch, keys] of refused) {
        const error = yield* Effect.flip(store.commit(batch))
        expect(error.operation, why).toBe("commit")
        expect(error.requestsStored, why).toEqual(keys)
      }
      expect(sorted(yield* store.load(0)), "nothing of the refused batches is stored, not even running time").toEqual(before)
      // Other refusals, unique violations included, name no request.
      const otherwise = yield* Effect.flip(store.commit({ txs: [{ ...sale(4, "04a1b2c3"), id: "tx-1" }], replies: [], wallets: [], cards: [] }))
      expect(otherwise.requestsStored).toBeUndefined()
      // Past the window in running time but not by the wall clock: still refused.
      yield* store.commit({ txs: [], replies: [], wallets: [], cards: [], runningMs: dayMs })
      const error = yield* Effect.flip(store.commit({ txs: [reuse(genesisTimeMs + hourMs)], replies: [], wallets: [], cards: [] }))
      expect(error.requestsStored).toEqual(["bar-1/req-1"])
      expect(yield* store.reply("bar-1", "req-1")).toMatchObject({ fingerprint: "fp-1", runningAgeMs: dayMs })
    }).pipe(Effect.provide(layer())))

  it.live("load leaves out requests older than sinceMs that are past the window in running time too, committed and failed alike", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const [oldMs, newMs] = [genesisTimeMs + 1_000, genesisTimeMs + 2_000]
      yield* store.commit({
        txs: [sale(1, "04a1b2c3", oldMs)],
        replies: [failed("old-fail", oldMs)],
        wallets: [],
        cards: [],
        runningMs: 5 * hourMs,
      })
      // The node ran for a day before the next two: the first two are past the window in running time.
      yield* store.commit({
        txs: [sale(2, "04a1b2c3", newMs)],
        replies: [failed("new-fail", newMs)],
        wallets: [],
        cards: [],
        runningMs: dayMs,
      })
      const recent = (yield* store.load(newMs)).requests.map((request) => request.request).sort()
      expect(recent).toEqual(["new-fail", "req-2"])
      expect((yield* store.load(0)).requests).toHaveLength(4)
      // A wall clock a day ahead (a device that lost its time, then found another): the newest two
      // are young in running time, so they stay, the oldest two do not.
      expect((yield* store.load(newMs + dayMs)).requests.map((request) => request.request).sort()).toEqual(["new-fail", "req-2"])
      expect((yield* store.load(newMs + dayMs, 1)).olderRequests.map((request) => request.key)).toHaveLength(1)
      yield* store.commit({ txs: [], replies: [], wallets: [], cards: [], runningMs: dayMs })
      expect((yield* store.load(newMs + 1)).requests).toEqual([])
    }).pipe(Effect.provide(layer())))

  it.live("load keeps the newest requestsMax requests whole, oldest first, and only the keys of the others", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const at = (n: number) => genesisTimeMs + 1_000 * n
      yield* store.commit({
        txs: [sale(1, "04a1b2c3", at(1)), sale(2, "04a1b2c3", at(3)), readerless(3, "http-3")].map((tx, i) => (i === 2 ? { ...tx, time: at(5) } : tx)),
        replies: [failed("fail-2", at(2)), failed("fail-4", at(4))],
        wallets: [],
        cards: [],
      })
      const snapshot = yield* store.load(0, 2)
      expect(snapshot.requests.map((request) => request.request)).toEqual(["fail-4", "http-3"])
      expect(snapshot.requests[1]).toMatchObject({ reader: "-", fingerprint: "fp-http-3" })
      expect([...snapshot.olderRequests].sort((a, b) => a.time - b.time)).toEqual([
        { key: "bar-1/req-1", time: at(1) },
        { key: "bar-1/fail-2", time: at(2) },
        { key: "bar-1/req-2", time: at(3) },
      ])
      const whole = yield* store.load(0)
      expect(whole.requests).toHaveLength(5)
      expect(whole.olderRequests).toEqual([])
    }).pipe(Effect.provide(layer())))
}

/** A registry transaction (PROTOCOL.md section 9.2): no legs, no request; storage keeps its text only. */
const registryTx = (seq: number, kind: string): StoredTx => ({
  seq,
  id: `${kind}-${seq}`,
  time: genesisTimeMs + seq,
  body: JSON.stringify({ id: `${kind}-${seq}`, kind, time: genesisTimeMs + seq, legs: [] }),
})

const staff = { places: ["raffinerie"], roles: ["bar", "manager"], until: genesisTimeMs + dayMs }
const harbour = { id: "bar-du-port", name: "Bar du port", accepts: ["fed"], staffRequired: true }
const harbourReader: StoredReader = { id: "bar-2", place: "bar-du-port", role: "bar", tokenSha256: "c".repeat(64), revoked: false }
const stewards = { keys: ["22qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], threshold: 1 }

/** Every part of the registry changed at once, beside a transaction (`seq`) that continues the ledger. */
const registryBatch = (seq: number): CommitBatch => ({
  txs: [registryTx(seq, "place")],
  replies: [],
  wallets: [],
  places: [harbour, { id: "raffinerie", name: "La Raffinerie", accepts: ["fed"], membershipRequired: "raf-eur" }],
  assets: [{ id: "fed", kind: "fed", name: "Euro fédéré (renamed)" }, { id: "port-eur", kind: "local_fiat", issuer: "bar-du-port", name: "Port €" }],
  // A reader of the place this very batch creates, and a revocation.
  readers: [harbourReader, { ...(genesisReaders[0] as StoredReader), revoked: true }],
  cards: [
    { id: "04a1b2c3", status: "active", wallet: "card:04a1b2c3", staff },
    { id: "05000001", number: "N5000001", status: "active", wallet: "card:05000001" },
  ],
  meta: [{ key: "stewards", value: stewards }, { key: "observers", value: ["33qYAYKx"] }, { key: "rules", value: { version: 1, from: 0 } }],
})

const registry = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("a commit writes places, assets, readers of a new place, cards with staff rights and meta, and load reads them back", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      expect((yield* store.load(0)).meta, "a new ledger has none: the genesis ones hold").toEqual({})
      const batch = registryBatch(4)
      yield* store.commit(batch)
      const snapshot = sorted(yield* store.load(0))
      expect(snapshot.places).toEqual(batch.places)
      expect(snapshot.assets).toEqual([batch.assets?.[0], batch.assets?.[1], genesisDocument.assets[1], genesisDocument.assets[2]])
      expect(snapshot.readers).toEqual([{ ...genesisReaders[0], revoked: true }, harbourReader, { ...genesisReaders[1], revoked: false }])
      // The row without a number keeps the printed one.
      expect(snapshot.cards).toEqual([
        { id: "04a1b2c3", number: "A1B2C3D4", status: "active", wallet: "card:04a1b2c3", staff },
        { id: "04a1b2c4", number: undefined, status: "active", wallet: "card:04a1b2c4", staff: undefined },
        { id: "05000001", number: "N5000001", status: "active", wallet: "card:05000001", staff: undefined },
      ])
      expect(snapshot.meta).toEqual({ stewards, observers: ["33qYAYKx"], rules: { version: 1, from: 0 } })
      expect(snapshot.lastSeq).toBe(4)
    }).pipe(Effect.provide(layer())))

  it.live("a later row replaces the whole: a card row without staff rights takes them away, a meta value is replaced", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      yield* store.commit(registryBatch(4))
      yield* store.commit({
        txs: [registryTx(5, "cards")],
        replies: [],
        wallets: [],
        cards: [
          { id: "04a1b2c3", status: "blocked", wallet: "card:04a1b2c3", staff: null },
          { id: "05000001", status: "active", wallet: "card:05000001", staff: { ...staff, places: ["bar-du-port"] } },
        ],
        places: [{ id: "bar-du-port", name: "Bar du port", accepts: ["port-eur", "fed"] }],
        readers: [{ ...harbourReader, revoked: true }],
        meta: [{ key: "stewards", value: { keys: [], threshold: 0 } }],
      })
      yield* store.commit({ txs: [registryTx(6, "cards")], replies: [], wallets: [], cards: [{ id: "05000001", status: "active", wallet: "card:05000001" }] })
      const snapshot = sorted(yield* store.load(0))
      expect(snapshot.cards).toContainEqual({ id: "04a1b2c3", number: "A1B2C3D4", status: "blocked", wallet: "card:04a1b2c3", staff: undefined })
      expect(snapshot.cards).toContainEqual({ id: "05000001", number: "N5000001", status: "active", wallet: "card:05000001", staff: undefined })
      expect(snapshot.places[0], "the document is replaced, not merged").toEqual({ id: "bar-du-port", name: "Bar du port", accepts: ["port-eur", "fed"] })
      expect(snapshot.readers).toContainEqual({ ...harbourReader, revoked: true })
      expect(snapshot.meta).toEqual({ stewards: { keys: [], threshold: 0 }, observers: ["33qYAYKx"], rules: { version: 1, from: 0 } })
    }).pipe(Effect.provide(layer())))

  it.live("a refused commit writes none of its registry rows", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const before = sorted(yield* store.load(0))
      const refused: ReadonlyArray<readonly [string, CommitBatch]> = [
        ["its seq does not follow the ledger's", registryBatch(5)],
        ["its transaction reuses a committed id", { ...registryBatch(4), txs: [{ ...registryTx(4, "place"), id: "tx-1" }] }],
        ["a reader names a place nobody made", { ...registryBatch(4), readers: [{ ...harbourReader, place: "nowhere" }] }],
        ["a reader takes another's token", { ...registryBatch(4), readers: [{ ...harbourReader, tokenSha256: "a".repeat(64) }] }],
      ]
      for (const [why, batch] of refused) {
        const error = yield* Effect.flip(store.commit(batch))
        expect(error.operation, why).toBe("commit")
        expect(sorted(yield* store.load(0)), why).toEqual(before)
      }
    }).pipe(Effect.provide(layer())))

  it.live("a batch writing other meta keys, or listing a place, an asset, a reader or a meta key twice, is a defect, and nothing is written", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* committed(store)
      const before = sorted(yield* store.load(0))
      const defects: ReadonlyArray<readonly [string, CommitBatch]> = [
        ["meta format", { ...registryBatch(4), meta: [{ key: "format" as "rules", value: 3 }] }],
        ["meta genesis", { ...registryBatch(4), meta: [{ key: "genesis" as "rules", value: {} }] }],
        ["a null meta value", { ...registryBatch(4), meta: [{ key: "rules", value: null }] }],
        ["a place twice", { ...registryBatch(4), places: [harbour, harbour] }],
        ["an asset twice", { ...registryBatch(4), assets: [{ id: "fed" }, { id: "fed" }] }],
        ["a reader twice", { ...registryBatch(4), readers: [harbourReader, harbourReader] }],
        ["a meta key twice", { ...registryBatch(4), meta: [{ key: "rules", value: 1 }, { key: "rules", value: 2 }] }],
      ]
      for (const [why, batch] of defects) {
        const exit = yield* Effect.exit(store.commit(batch))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause), why).toBe(true)
      }
      expect(sorted(yield* store.load(0))).toEqual(before)
    }).pipe(Effect.provide(layer())))
}

const validator = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
const zeroHash = "0".repeat(64)

/**
 * A block row as the producer writes one: the header's JSON text, its hash (here the SHA-256 of
 * that text, which storage never checks), where its transactions are, and the set after it.
 */
const blockRow = (height: number, firstSeq: number, txCount: number, prev = zeroHash): StoredBlock => {
  const header = JSON.stringify({ federation: "reunion", height, prev, time: genesisTimeMs + height, txRoot: "e".repeat(64), txCount, proposer: validator })
  return {
    height,
    hash: sha256Hex(new TextEncoder().encode(header)),
    header,
    firstSeq,
    txCount,
    validatorsNext: JSON.stringify({ keys: [validator], threshold: 1 }),
  }
}
const signaturesOf = (block: StoredBlock): string => JSON.stringify([{ validator, signature: `sig-of-${block.hash.slice(0, 8)}` }])
const final = (block: StoredBlock): StoredBlock => ({ ...block, signatures: signaturesOf(block) })
const noTxs = { txs: [], replies: [], wallets: [], cards: [] } as const

/**
 * Block 0 (the genesis transaction), 1 (seqs 1-2), 2 (seqs 3-5) and 3 (seq 6): 1, 2, 3 and 1
 * transactions. Transaction 2's text holds a comma and a quote, which the page must join as they are.
 */
const chainTxs: readonly StoredTx[] = [
  sale(1, "04a1b2c3"),
  { ...sale(2, "04a1b2c3"), body: '{"id":"tx-2","kind":"sale","legs":[],"memo":"a, \\"b\\" é 😀","time":2}' },
  sale(3, "04a1b2c3"),
  sale(4, "04a1b2c4"),
  sale(5, "04a1b2c4"),
  sale(6, "04a1b2c3"),
]
const b0 = blockRow(0, 0, 1)
const b1 = blockRow(1, 1, 2, b0.hash)
const b2 = blockRow(2, 3, 3, b1.hash)
const b3 = blockRow(3, 6, 1, b2.hash)
const textsOf = (seqs: readonly number[]): string =>
  seqs.map((seq) => (seq === 0 ? genesisTx.body : (chainTxs[seq - 1] as StoredTx).body)).join(",")
const withTxs = (block: StoredBlock, seqs: readonly number[]) => ({ ...block, txs: textsOf(seqs) })

/** The ledger with its six transactions, blocks 0 and 1 written with them and 2 and 3 sealed after. */
const chained = (store: LedgerStore, blocks: readonly StoredBlock[] = [b0, b1, b2, b3]) =>
  Effect.gen(function* () {
    yield* initialize(store)
    yield* store.commit({ ...noTxs, txs: chainTxs, blocks: blocks.slice(0, 2) })
    if (blocks.length > 2) yield* store.commit({ ...noTxs, blocks: blocks.slice(2) })
  })

const heights = (blocks: ReadonlyArray<{ readonly height: number }>) => blocks.map((block) => block.height)

const blocks = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("blocks come back as written, with their transactions' texts joined in seq order", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store)
      const page = yield* store.blocks(0, 10, 100, false)
      expect(page).toEqual([withTxs(b0, [0]), withTxs(b1, [1, 2]), withTxs(b2, [3, 4, 5]), withTxs(b3, [6])])
      // The texts joined make the inside of a JSON list, transactions in seq order.
      const block1 = JSON.parse(`[${page[1]?.txs}]`) as Array<{ id: string; memo?: string }>
      expect(block1.map((tx) => tx.id)).toEqual(["tx-1", "tx-2"])
      expect(block1[1]?.memo).toBe('a, "b" é 😀')
      expect(heights(yield* store.blocks(2, 10, 100, false))).toEqual([2, 3])
      expect(yield* store.blocks(4, 10, 100, false)).toEqual([])
      // A block of no transactions (sealed on a quiet ledger) has an empty list.
      const empty = blockRow(4, 7, 0, b3.hash)
      yield* store.commit({ ...noTxs, blocks: [empty] })
      expect(yield* store.blocks(4, 10, 100, false)).toEqual([{ ...empty, txs: "" }])
    }).pipe(Effect.provide(layer())))

  it.live("finalOnly leaves out the blocks that are not final", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store, [final(b0), final(b1), b2, b3])
      expect(heights(yield* store.blocks(0, 10, 100, true))).toEqual([0, 1])
      expect(yield* store.blocks(0, 10, 100, true)).toEqual([withTxs(final(b0), [0]), withTxs(final(b1), [1, 2])])
      expect(yield* store.blocks(2, 10, 100, true)).toEqual([])
      expect(heights(yield* store.blocks(0, 10, 100, false))).toEqual([0, 1, 2, 3])
      yield* store.commit({ ...noTxs, blocks: [final(b2)] })
      expect(heights(yield* store.blocks(1, 10, 100, true))).toEqual([1, 2])
    }).pipe(Effect.provide(layer())))

  it.live("limit and txMax bound a page, and its first block is in it however many transactions it holds", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store)
      const page = (from: number, limit: number, txMax: number) => store.blocks(from, limit, txMax, false).pipe(Effect.map(heights))
      expect(yield* page(0, 2, 100)).toEqual([0, 1])
      expect(yield* page(0, 0, 100)).toEqual([])
      expect(yield* page(0, 10, 7)).toEqual([0, 1, 2, 3])
      expect(yield* page(0, 10, 6)).toEqual([0, 1, 2])
      expect(yield* page(0, 10, 3)).toEqual([0, 1])
      expect(yield* page(0, 10, 2)).toEqual([0])
      expect(yield* page(1, 10, 4)).toEqual([1])
      expect(yield* page(1, 10, 5)).toEqual([1, 2])
      expect(yield* page(2, 10, 1)).toEqual([2])
      expect(yield* page(2, 10, 0)).toEqual([2])
      expect(yield* page(2, 1, 100)).toEqual([2])
    }).pipe(Effect.provide(layer())))

  it.live("blockTip gives the last sealed block and the height of the last final one", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      expect(yield* store.blockTip).toEqual({ sealed: undefined, finalHeight: -1 })
      yield* store.commit({ ...noTxs, blocks: [b0] })
      expect(yield* store.blockTip).toEqual({ sealed: b0, finalHeight: -1 })
      yield* store.commit({ ...noTxs, txs: chainTxs, blocks: [final(b0), b1] })
      yield* store.commit({ ...noTxs, blocks: [b2] })
      expect(yield* store.blockTip).toEqual({ sealed: b2, finalHeight: 0 })
      yield* store.commit({ ...noTxs, blocks: [final(b1), final(b2)] })
      expect(yield* store.blockTip).toEqual({ sealed: final(b2), finalHeight: 2 })
    }).pipe(Effect.provide(layer())))

  it.live("a block written again with signatures becomes final, its header, hash and place unchanged, and stays final", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store)
      const rewritten: StoredBlock = { ...final(b1), header: '{"height":1,"rewritten":true}', firstSeq: 3, txCount: 3, validatorsNext: "{}" }
      yield* store.commit({ ...noTxs, blocks: [rewritten] })
      expect(yield* store.blocks(1, 1, 100, false)).toEqual([withTxs(final(b1), [1, 2])])
      expect(yield* store.blocks(0, 10, 100, true)).toEqual([withTxs(final(b1), [1, 2])])
      expect((yield* store.blockTip).finalHeight).toBe(1)
      // Written again without signatures (sealed again after a reload), it stays final.
      yield* store.commit({ ...noTxs, blocks: [b1] })
      expect(yield* store.blocks(1, 1, 100, true)).toEqual([withTxs(final(b1), [1, 2])])
      expect((yield* store.blockTip).finalHeight).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.live("a row at a stored height with another hash fails its commit and changes nothing", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store, [final(b0), b1, b2, b3])
      const before = yield* store.blocks(0, 10, 100, false)
      const rival = { ...blockRow(1, 1, 2, "1".repeat(64)) }
      expect(rival.hash).not.toBe(b1.hash)
      for (const row of [rival, final(rival), { ...rival, height: 0 }]) {
        const exit = yield* Effect.exit(store.commit({ ...noTxs, blocks: [row] }))
        expect(exit._tag, `a rival block ${row.height} is refused`).toBe("Failure")
        expect(yield* store.blocks(0, 10, 100, false)).toEqual(before)
        expect(yield* store.blockTip).toEqual({ sealed: b3, finalHeight: 0 })
      }
    }).pipe(Effect.provide(layer())))

  it.live("a block and the transactions of its commit are written together or not at all", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      yield* store.commit({ ...noTxs, txs: chainTxs.slice(0, 2), blocks: [b0] })
      const refused: readonly CommitBatch[] = [
        { ...noTxs, txs: [chainTxs[3] as StoredTx], blocks: [b1] }, // seq 4 leaves a gap after 2
        { ...noTxs, txs: [chainTxs[2] as StoredTx, { ...(chainTxs[3] as StoredTx), id: "tx-1" }], blocks: [b1] }, // a committed tx id
        { ...noTxs, txs: [chainTxs[2] as StoredTx], blocks: [{ ...b1, hash: b0.hash }] }, // a block hash already stored
      ]
      for (const batch of refused) {
        const error = yield* Effect.flip(store.commit(batch))
        expect(error.operation).toBe("commit")
        expect(yield* store.blockTip).toEqual({ sealed: b0, finalHeight: -1 })
        expect(heights(yield* store.blocks(0, 10, 100, false))).toEqual([0])
        expect((yield* store.load(0)).lastSeq).toBe(2)
      }
      const twice = yield* Effect.exit(store.commit({ ...noTxs, txs: [chainTxs[2] as StoredTx], blocks: [b1, final(b1)] }))
      expect(Exit.isFailure(twice) && Cause.isDie(twice.cause)).toBe(true)
      expect((yield* store.load(0)).lastSeq).toBe(2)
      yield* store.commit({ ...noTxs, txs: [chainTxs[2] as StoredTx], blocks: [b1] })
      expect(heights(yield* store.blocks(0, 10, 100, false))).toEqual([0, 1])
    }).pipe(Effect.provide(layer())))
}

const durability = (layer: () => Layer.Layer<Ledger, StorageError>) => {
  it.live("a ledger survives closing and reopening its layer", () =>
    Effect.gen(function* () {
      const same = layer()
      const before = yield* Effect.gen(function* () {
        const store = yield* Ledger
        yield* committed(store)
        yield* store.commit(salesBatch(4, 500))
        return sorted(yield* store.load(0))
      }).pipe(Effect.provide(same))
      const after = yield* Ledger.pipe(Effect.flatMap((store) => store.load(0)), Effect.provide(same))
      expect(sorted(after)).toEqual(before)
      expect(after.lastSeq).toBe(503)
    }))
}

/** The commits made while reads flood the store. */
const floodCommits = 10
const floodCommitTxs = 50

/**
 * `floodReads` must take the store longer than the commits do when nothing else runs: on PGlite a
 * few hundred (one session, a read at a time), on a real server thousands (its reads run side by
 * side on their own pool while each commit waits for its flush to disk).
 */
const readFlood = (layer: () => Layer.Layer<Ledger, StorageError>, floodReads: number) =>
  it.live("commits go ahead of a flood of reads: the first completes while reads still wait, and then every read and commit completes", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* chained(store)
      let readsStarted = 0
      let readsDone = 0
      const read = Effect.suspend(() => {
        readsStarted++
        return store.blocks(0, 10, 100, false)
      }).pipe(Effect.tap(() => void readsDone++))
      const flood = yield* Effect.fork(Effect.forEach(Array.from({ length: floodReads }), () => read, { concurrency: "unbounded", discard: true }))
      // Every read is queued (each fiber runs until it waits for the database) before the first commit.
      while (readsStarted < floodReads) yield* Effect.yieldNow()
      let readsDoneAtFirstCommit = -1
      for (let commit = 0; commit < floodCommits; commit++) {
        const firstSeq = chainTxs.length + 1 + commit * floodCommitTxs
        yield* store.commit(salesBatch(firstSeq, floodCommitTxs, firstSeq))
        if (commit === 0) readsDoneAtFirstCommit = readsDone
      }
      // The first commit, not the last: on a loaded machine the reads of a real server's own pool
      // may all be done while later commits wait for their flush to disk, which starves nothing.
      expect(readsDoneAtFirstCommit, "reads done when the first commit completed").toBeLessThan(floodReads)
      yield* Fiber.join(flood)
      expect(readsDone).toBe(floodReads)
      expect((yield* store.load(0)).lastSeq).toBe(chainTxs.length + floodCommits * floodCommitTxs)
    }).pipe(Effect.provide(layer())))

/** A stuck test is a failed test: these bound what a dead server may cost. */
const answerWithinMs = 60_000

const outages = (layer: () => Layer.Layer<Ledger, StorageError>, server: ServerControl | undefined) => {
  const stop = Effect.promise(() => server?.stop() ?? Promise.resolve())
  const start = Effect.promise(() => server?.start() ?? Promise.resolve())

  it.live("ping fails with StorageError while the server is stopped, and works again after it starts", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      yield* store.ping
      yield* stop
      const error = yield* Effect.flip(store.ping)
      expect(error.operation).toBe("ping")
      expect((yield* Effect.flip(store.commit(salesBatch(1, 10))))._tag).toBe("StorageError")
      yield* start
      yield* store.ping
      yield* store.commit(salesBatch(1, 10))
      expect((yield* store.load(0)).lastSeq).toBe(10)
    }).pipe(Effect.ensuring(start), Effect.provide(layer()), Effect.timeout(Duration.millis(answerWithinMs))))

  it.live("a commit in flight when the server stops fails with StorageError or commits whole", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const inFlight = yield* Effect.fork(Effect.exit(store.commit(salesBatch(1, 20_000))))
      yield* stop
      const exit = yield* Fiber.join(inFlight)
      yield* start
      const lastSeq = (yield* store.load(0)).lastSeq
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      if (error === undefined) expect(lastSeq).toBe(20_000)
      else {
        expect(error).toBeInstanceOf(StorageError)
        // All or nothing: a commit the server made just before its connection was cut is an error
        // for the client too (the outcome of a commit whose answer is lost is unknown).
        expect([0, 20_000]).toContain(lastSeq)
      }
    }).pipe(Effect.ensuring(start), Effect.provide(layer()), Effect.timeout(Duration.millis(answerWithinMs))))
}

/**
 * Commits batches until told to stop, as the writer does: after a failed commit it waits for
 * storage to answer and carries on from the last seq storage holds. Returns the last seq it saw
 * acknowledged.
 */
const commitUntil = (store: LedgerStore, done: Ref.Ref<boolean>, acknowledged: Ref.Ref<number>) =>
  Effect.gen(function* () {
    let next = 1
    while (!(yield* Ref.get(done))) {
      const exit = yield* Effect.exit(store.commit(salesBatch(next, 100, next)))
      if (Exit.isSuccess(exit)) {
        yield* Ref.set(acknowledged, next + 99)
        next += 100
      } else {
        const snapshot = yield* store.load(0).pipe(Effect.retry(Schedule.spaced(Duration.millis(50))))
        next = snapshot.lastSeq + 1
      }
    }
  })

const restartUnderLoad = (layer: () => Layer.Layer<Ledger, StorageError>, server: ServerControl | undefined) =>
  it.live("commits resume on the same layer after the server restarts under load, losing no acknowledged one", () =>
    Effect.gen(function* () {
      const store = yield* Ledger
      yield* initialize(store)
      const [done, acknowledged] = [yield* Ref.make(false), yield* Ref.make(0)]
      const committer = yield* Effect.fork(commitUntil(store, done, acknowledged))
      const progress = (after: number) =>
        Ref.get(acknowledged).pipe(Effect.repeat({ until: (seq) => seq > after, schedule: Schedule.spaced(Duration.millis(20)) }))
      yield* progress(0)
      yield* Effect.promise(() => server?.stop() ?? Promise.resolve())
      const beforeRestart = yield* Ref.get(acknowledged)
      yield* Effect.promise(() => server?.start() ?? Promise.resolve())
      yield* progress(beforeRestart)
      yield* Ref.set(done, true)
      yield* Fiber.join(committer)
      const lastSeq = (yield* store.load(0)).lastSeq
      expect(lastSeq).toBeGreaterThanOrEqual(yield* Ref.get(acknowledged))
      expect((yield* store.transactions(0, lastSeq + 10)).map((tx) => tx.seq)).toEqual(Array.from({ length: lastSeq + 1 }, (_, seq) => seq))
    }).pipe(
      Effect.ensuring(Effect.promise(() => server?.start() ?? Promise.resolve())),
      Effect.provide(layer()),
      Effect.timeout(Duration.millis(answerWithinMs)),
    ))

export interface ContractOptions {
  /** Enables the tests of a database that goes away, when the implementation has a server to stop and start. */
  readonly server?: ServerControl | undefined
  /** How many reads flood the store in the test of commits going first (see `readFlood`). */
  readonly floodReads: number
}

export const ledgerContract = (name: string, layer: () => Layer.Layer<Ledger, StorageError>, options: ContractOptions): void => {
  const server = options.server
  describe(`Ledger contract: ${name}`, () => {
    lifecycle(layer)
    commits(layer)
    requests(layer)
    registry(layer)
    blocks(layer)
    durability(layer)
    readFlood(layer, options.floodReads)
    // Outages need a server to stop: they are defined for real PostgreSQL only (not skipped on PGlite).
    if (server !== undefined) {
      outages(layer, server)
      restartUnderLoad(layer, server)
    }
  })
}
