/**
 * Transactions as bytes. `transactionJson` must write exactly the RFC 8785 text that the generic
 * canonicalizer writes, for every transaction the engine makes (its text is a Merkle leaf as it is
 * stored), and `decodeTransaction` must give that transaction back from the text; it must also
 * refuse, field by field, what a peer could send that the engine never makes.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { canonicalJson } from "./canonical.js"
import * as limits from "./limits.js"
import type { AssetId, CardId, PlaceId, ReaderId, TimeMs, TxId, WalletId } from "./names.js"
import { txKinds, type JsonValue, type Leg, type Transaction } from "./state.js"
import { decodeTransaction, transactionJson } from "./transaction.js"
import { cards, day, newcomerSigner, Session, spareSigners, t0, users, cardOf } from "../test/federation.js"

type Raw = Record<string, unknown>

/** The canonical text by the generic canonicalizer, which must agree with the fast one. */
const canonical = (tx: Transaction): string => {
  const text = canonicalJson(tx)
  if (!text.ok) throw new Error(`no canonical form: ${text.reason} at ${text.path}`)
  return text.value
}

/** Both serializers agree, and the decoder gives the transaction back from the text. */
const roundTrips = (tx: Transaction): void => {
  const text = transactionJson(tx)
  expect(text).toBe(canonical(tx))
  const decoded = decodeTransaction(JSON.parse(text))
  expect(decoded).toEqual({ ok: true, value: tx })
}

// Transactions as the engine makes them: random command sequences on the test federation.

/** Small amounts to spend, large ones to bring in, so that most spending commands succeed. */
const amount = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: limits.amountMax }) },
)
const income = fc.integer({ min: 1_000, max: 100_000 })
const card = fc.constantFrom(...cards)
const holder = fc.constantFrom(...cards.map((uid) => `card:${uid}`), ...users)
const asset = fc.constantFrom("fed", "raf-eur", "raf-gift", "raf-member", "mana-time", "mana-pts")
const ref = fc.constantFrom("pi_1", "pi_2", "ch_\"quoted\"", "a\\b", "x~y")
const request = fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), { nil: undefined })
// Keys the session can sign with: a validator joins only with its own approval.
const validatorKey = fc.constantFrom(newcomerSigner.id, ...spareSigners.map((signer) => signer.id))
const bar = fc.constantFrom({ place: "raffinerie", reader: "bar-1" }, { place: "manapany", reader: "mana-bar" })

const command: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("refill"), wallet: holder, amount: income, ref, request }, { requiredKeys: ["kind", "wallet", "amount", "ref"] }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("mint"), asset, to: holder, amount: income, ref }, { requiredKeys: ["kind", "asset", "to", "amount"] }) },
  { weight: 6, arbitrary: fc.tuple(bar, card, amount, request).map(([at, uid, n, id]) => ({ kind: "sale", ...at, card: uid, amount: n, ...(id === undefined ? {} : { request: id }) })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("topup"), place: fc.constant("raffinerie"), reader: fc.constant("desk-1"), card, amount: income, asset: fc.constantFrom("raf-eur", "raf-gift") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refund"), place: fc.constant("raffinerie"), reader: fc.constant("desk-1"), card }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("transfer"), from: holder, to: holder, asset: fc.constantFrom("fed", "raf-gift"), amount }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fusion"), card, user: fc.constantFrom(...users) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("subscribe"), place: fc.constant("raffinerie"), wallet: holder, asset: fc.constant("raf-member"), periodMs: fc.constantFrom(day, 30 * day), amount }, { requiredKeys: ["kind", "place", "wallet", "asset", "periodMs"] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("exchange"), wallet: holder, asset: fc.constantFrom("raf-eur", "mana-time"), direction: fc.constantFrom("to_fed", "from_fed"), amount }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("demurrage"), wallet: holder, asset: fc.constantFrom("fed", "mana-time", "mana-pts") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deposit"), place: fc.constantFrom("raffinerie", "manapany"), amount, ref }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("void"), card, reason: fc.constantFrom("lost", "voided"), place: fc.constant("raffinerie") }, { requiredKeys: ["kind", "card", "reason"] }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("badge"), place: fc.constant("raffinerie"), card }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("validators"), add: validatorKey, threshold: fc.integer({ min: 1, max: 3 }) }, { requiredKeys: ["kind", "add"] }) },
)
const commands = fc.array(fc.tuple(command, fc.integer({ min: 0, max: 60 * day })), { minLength: 1, maxLength: 60 })

// Transactions of any form the contract allows, including what the test federation never produces.

const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/)
/** A card's pseudonym: 16 bytes as hex (PROTOCOL.md section 9.4). */
const uid = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString("hex"))
const uuid = fc.uuid().map((id) => id.toLowerCase())
const wallet: fc.Arbitrary<WalletId> = fc
  .oneof(
    uid.map((u) => `card:${u}`),
    uuid.map((u) => `user:${u}`),
    name.map((n) => `place:${n}`),
    name.map((n) => `fund:${n}`),
    name.map((n) => `issuance:${n}`),
  )
  .map((id) => id as WalletId)
const time = fc.integer({ min: 0, max: 8.64e15 }).map((ms) => ms as TimeMs)
const leg: fc.Arbitrary<Leg> = fc.oneof(
  fc.record({ asset: name, from: wallet, to: wallet, amount: fc.integer({ min: 1, max: limits.amountMax }) }),
  fc.record({ asset: name, from: wallet, to: wallet, amount: fc.constant(0), until: time }),
) as fc.Arbitrary<Leg>
/** Strings that need escaping or are outside ASCII: RFC 8785 writes them as JSON.stringify does. */
const awkward = fc.constantFrom("\"", "\\", "\n\t\r\b\f", "\u0000\u001f\u007f", "\u2028\u2029", "é", "😀", "</script>", "\ud83d\ude00x")
const memoText = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), awkward)
/**
 * Memos as a peer receives them, so after one JSON round trip: JSON has no negative zero, and a -0
 * comes back as 0 (with the same canonical text, "0").
 */
const memo: fc.Arbitrary<JsonValue> = fc
  .oneof(
    fc.jsonValue({ stringUnit: "binary", maxDepth: 4 }) as fc.Arbitrary<JsonValue>,
    fc.dictionary(memoText, fc.oneof(memoText, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.dictionary(memoText, memoText)), { maxKeys: 5 }),
  )
  .map((value) => JSON.parse(JSON.stringify(value)) as JsonValue)
const anyTransaction: fc.Arbitrary<Transaction> = fc
  .record(
    {
      id: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      kind: fc.constantFrom(...txKinds),
      time,
      place: name,
      reader: name,
      card: uid,
      request: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      ref: fc.stringMatching(/^[\x21-\x7e]{1,255}$/),
      memo,
      legs: fc.array(leg, { maxLength: 8 }),
    },
    { requiredKeys: ["id", "kind", "time", "legs"] },
  )
  .map((tx) => tx as unknown as Transaction)

describe("transactionJson", () => {
  it("writes the RFC 8785 text of every transaction the engine makes, and decodeTransaction reads it back", () => {
    const kindsMade = new Set<string>()
    let membershipLegs = 0
    fc.assert(
      fc.property(commands, (steps) => {
        const session = new Session(undefined, t0)
        for (const [raw, delay] of steps) {
          session.now += delay
          const outcome = session.run(raw)
          if (!outcome.ok || outcome.tx === null) continue
          roundTrips(outcome.tx)
          kindsMade.add(outcome.tx.kind)
          membershipLegs += outcome.tx.legs.filter((l) => l.until !== undefined).length
        }
      }),
      { numRuns: 300 },
    )
    // The sequences reach the kinds with optional fields, memos and membership legs.
    for (const kind of ["refill", "mint", "sale", "topup", "transfer", "fusion", "subscribe", "void", "validators"]) {
      expect(kindsMade).toContain(kind)
    }
    expect(membershipLegs).toBeGreaterThan(0)
  })

  it("makes membership legs, memos, refs and requests along the way (the property above is not vacuous)", () => {
    const session = new Session(undefined, t0)
    const txs = [
      session.must({ kind: "refill", wallet: `card:${cardOf("04a1b2c3")}`, amount: 5_000, ref: "pi_\"1\"\\" }),
      session.must({ kind: "subscribe", place: "raffinerie", wallet: `card:${cardOf("04a1b2c3")}`, asset: "raf-member", periodMs: day, amount: 100 }),
      session.must({ kind: "void", card: cardOf("deadbeef"), reason: "lost" }),
      session.must({ kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 10, request: "Req_1-x" }),
      session.must({ kind: "validators", add: newcomerSigner.id, threshold: 2 }),
    ].map((outcome) => (outcome.ok ? outcome.tx : null) as Transaction)
    expect(txs[1]?.legs.some((l) => l.until !== undefined && l.amount === 0)).toBe(true)
    expect(txs[2]?.memo).toBeDefined()
    expect(txs[4]?.memo).toEqual({ keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", newcomerSigner.id], threshold: 2 })
    for (const tx of txs) roundTrips(tx)
  })

  it("agrees with the generic canonicalizer on transactions of every form, memos with nested objects, unicode and escapes", () => {
    fc.assert(fc.property(anyTransaction, roundTrips), { numRuns: 1_000 })
  })

  it("writes the keys in sorted order, with the leg's until last", () => {
    const tx: Transaction = {
      id: "t1" as TxId,
      kind: "subscribe",
      time: 5 as TimeMs,
      place: "raffinerie" as PlaceId,
      reader: "desk-1" as ReaderId,
      card: "0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d" as CardId,
      request: "r",
      ref: "x",
      memo: { z: 1, a: [true, null, "é\n"] },
      legs: [{ asset: "raf-member" as AssetId, from: "issuance:raf-member" as WalletId, to: "card:0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d" as WalletId, amount: 0, until: 9 as TimeMs }],
    }
    expect(transactionJson(tx)).toBe(
      '{"card":"0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d","id":"t1","kind":"subscribe","legs":[{"amount":0,"asset":"raf-member","from":"issuance:raf-member","to":"card:0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d","until":9}],' +
        '"memo":{"a":[true,null,"é\\n"],"z":1},"place":"raffinerie","reader":"desk-1","ref":"x","request":"r","time":5}',
    )
  })

  it("refuses to write a memo that has no canonical form", () => {
    const tx = { id: "t1", kind: "void", time: 1, legs: [], memo: { bad: "\ud800" } } as unknown as Transaction
    expect(() => transactionJson(tx)).toThrow(/no canonical form/)
  })
})

/** A well-formed transaction as a peer sends it, to change one thing in. */
const sent = (): Raw => ({
  id: "tx-1",
  kind: "sale",
  time: t0,
  place: "raffinerie",
  reader: "bar-1",
  card: cardOf("04a1b2c3"),
  request: "req-1",
  legs: [{ asset: "fed", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie", amount: 250 }],
})
const withLeg = (leg: Raw): Raw => ({ ...sent(), legs: [leg] })
const goodLeg = (): Raw => ({ asset: "fed", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie", amount: 250 })

const refused = (raw: unknown, field: string | RegExp): void => {
  const decoded = decodeTransaction(raw)
  expect(decoded.ok, JSON.stringify(raw)?.slice(0, 200)).toBe(false)
  if (!decoded.ok) expect(decoded.field).toMatch(field)
}

describe("decodeTransaction", () => {
  it("accepts a well-formed transaction as it is", () => {
    expect(decodeTransaction(sent())).toEqual({ ok: true, value: sent() })
  })

  it("refuses a field it does not know, at the top level and in a leg", () => {
    refused({ ...sent(), extra: 1 }, "tx.extra")
    refused({ ...sent(), signatures: [] }, "tx.signatures")
    refused(withLeg({ ...goodLeg(), note: "x" }), "tx.legs[0].note")
    refused(withLeg({ ...goodLeg(), Amount: 250 }), "tx.legs[0].Amount")
  })

  it("refuses amounts that are not integers in 0..10^12", () => {
    for (const amount of [-1, 1.5, limits.amountMax + 1, 2 ** 53, Number.NaN, "250", null, undefined, 1e21]) {
      refused(withLeg({ ...goodLeg(), amount }), "tx.legs[0].amount")
    }
    expect(decodeTransaction(withLeg({ ...goodLeg(), amount: limits.amountMax })).ok).toBe(true)
  })

  it("refuses malformed wallet ids", () => {
    for (const bad of ["card:04a1b2", "card:", "wallet:x", "place:Raffinerie", "user:not-a-uuid", "fund", ":fed", "issuance:", 7]) {
      refused(withLeg({ ...goodLeg(), from: bad }), "tx.legs[0].from")
      refused(withLeg({ ...goodLeg(), to: bad }), "tx.legs[0].to")
    }
  })

  it("refuses a card uid in capitals, which would hash differently from the one committed", () => {
    refused({ ...sent(), card: "04A1B2C3" }, "tx.card")
    refused({ ...sent(), card: "04a1b2c" }, "tx.card")
  })

  it("refuses a wallet id in capitals in a leg, for the same reason", () => {
    refused(withLeg({ ...goodLeg(), from: `card:${cardOf("04a1b2c3").toUpperCase()}` }), "tx.legs[0].from")
    refused(withLeg({ ...goodLeg(), from: "card:04a1b2c3" }), "tx.legs[0].from")
    refused(withLeg({ ...goodLeg(), to: "user:00000000-0000-4000-8000-00000000000A" }), "tx.legs[0].to")
  })

  it("refuses a kind outside the list", () => {
    for (const kind of ["Sale", "burn", "", 1, undefined]) refused({ ...sent(), kind }, "tx.kind")
  })

  it("refuses malformed ids, times and optional fields", () => {
    refused({ ...sent(), id: "" }, "tx.id")
    refused({ ...sent(), id: "a".repeat(65) }, "tx.id")
    refused({ ...sent(), id: "a b" }, "tx.id")
    refused({ ...sent(), time: -1 }, "tx.time")
    refused({ ...sent(), time: 1.5 }, "tx.time")
    refused({ ...sent(), place: "La Raffinerie" }, "tx.place")
    refused({ ...sent(), reader: "" }, "tx.reader")
    refused({ ...sent(), request: "a/b" }, "tx.request")
    refused({ ...sent(), ref: "with space" }, "tx.ref")
    refused({ ...sent(), legs: undefined }, "tx.legs")
    refused({ ...sent(), legs: {} }, "tx.legs")
    refused({ ...sent(), legs: [null] }, "tx.legs[0]")
    refused([sent()], "tx")
  })

  it("takes 1024 legs and refuses 1025", () => {
    const legs = Array.from({ length: limits.legsPerTxMax }, goodLeg)
    expect(decodeTransaction({ ...sent(), legs }).ok).toBe(true)
    refused({ ...sent(), legs: [...legs, goodLeg()] }, "tx.legs")
  })

  it("refuses a memo with no canonical form", () => {
    refused({ ...sent(), memo: { text: "\ud800" } }, "tx.memo")
    refused({ ...sent(), memo: [Number.POSITIVE_INFINITY] }, "tx.memo")
    refused({ ...sent(), memo: new Map() }, "tx.memo")
    const deep: Raw = {}
    let inner = deep
    for (let level = 0; level < 200; level++) inner = inner["x"] = {}
    refused({ ...sent(), memo: deep }, "tx.memo")
    expect(decodeTransaction({ ...sent(), memo: { nested: { list: [1, "é", null] } } }).ok).toBe(true)
  })

  it("accepts a membership leg that moves 0 with an until, and refuses a bad until", () => {
    const membership = { asset: "raf-member", from: "issuance:raf-member", to: `card:${cardOf("04a1b2c3")}`, amount: 0, until: t0 + day }
    const decoded = decodeTransaction({ ...sent(), kind: "subscribe", legs: [membership] })
    expect(decoded).toEqual({ ok: true, value: { ...sent(), kind: "subscribe", legs: [membership] } })
    refused(withLeg({ ...membership, until: -5 }), "tx.legs[0].until")
    refused(withLeg({ ...membership, until: "soon" }), "tx.legs[0].until")
  })

  it("accepts badge and void with no legs", () => {
    expect(decodeTransaction({ ...sent(), kind: "badge", legs: [] }).ok).toBe(true)
    expect(decodeTransaction({ id: "v", kind: "void", time: 0, legs: [], memo: { status: "blocked" } }).ok).toBe(true)
  })
})
