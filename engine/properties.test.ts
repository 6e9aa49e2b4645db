/**
 * Properties of the engine over hundreds of random command sequences, against a deliberately simple
 * model: a flat map of balances that predicts sales, top-ups, refills, transfers, mints and
 * deposits by its own naive rules, and follows the engine's legs for the other commands.
 * fast-check prints the seed and the shrunk sequence of any failure.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { replay, stateBalances } from "./apply.js"
import type { Executed } from "./execute.js"
import type { LedgerState, Transaction } from "./state.js"
import { cards, day, genesisDocument, ledgerSnapshot, Session, t0, users, cardOf } from "../test/federation.js"

type Raw = Record<string, unknown>

const placeReaders: Record<string, readonly string[]> = {
  raffinerie: ["bar-1", "bar-2", "desk-1"],
  manapany: ["mana-bar", "mana-desk"],
  kiosque: [],
}
const assets = genesisDocument.assets.map((asset) => asset.id)
const holders = [...cards.map((uid) => `card:${uid}`), ...users]

const amount = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 5_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_000_000_000_000 }) },
)
const card = fc.constantFrom(...cards)
const place = fc.constantFrom("raffinerie", "raffinerie", "raffinerie", "manapany", "manapany", "kiosque")
const asset = fc.constantFrom(...assets)
const holder = fc.constantFrom(...holders)
/** Most requests carry an id; the sequence gives each a fresh one, or repeats an earlier one. */
const request = fc.option(fc.constant("fresh"), { nil: undefined, freq: 4 })

const readerKinds = new Set(["sale", "check", "badge", "topup", "refund", "subscribe"])

/** For reader commands: a reader of the place most of the time, sometimes of another place, sometimes none. */
const withOrigin = (command: fc.Arbitrary<Raw>): fc.Arbitrary<Raw> =>
  fc.tuple(command, request, fc.nat(9), fc.constantFrom("bar-1", "desk-1", "mana-bar", "mana-desk")).map(
    ([raw, id, dice, stranger]) => {
      if (!readerKinds.has(String(raw["kind"]))) return id === undefined ? raw : { ...raw, request: id }
      const own = placeReaders[String(raw["place"])] ?? []
      const reader = dice < 7 ? own[dice % Math.max(own.length, 1)] : dice === 7 ? stranger : undefined
      return { ...raw, ...(id === undefined ? {} : { request: id }), ...(reader === undefined ? {} : { reader }) }
    },
  )

const command: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 10, arbitrary: withOrigin(fc.record({ kind: fc.constant("sale"), place, card, amount }, { requiredKeys: ["kind", "place", "card", "amount"] })) },
  { weight: 2, arbitrary: withOrigin(fc.record({ kind: fc.constant("sale"), place, card, amount, asset })) },
  { weight: 6, arbitrary: withOrigin(fc.record({ kind: fc.constant("topup"), place, card, amount, asset })) },
  { weight: 4, arbitrary: withOrigin(fc.record({ kind: fc.constant("refill"), wallet: holder, amount, ref: fc.constantFrom("pi_1", "pi_2", "pi_3", "pi_4") })) },
  { weight: 2, arbitrary: withOrigin(fc.record({ kind: fc.constant("refund"), place, card })) },
  { weight: 3, arbitrary: withOrigin(fc.record({ kind: fc.constant("transfer"), from: holder, to: holder, asset, amount })) },
  { weight: 1, arbitrary: withOrigin(fc.record({ kind: fc.constant("fusion"), card, user: fc.constantFrom(...users) })) },
  { weight: 1, arbitrary: withOrigin(fc.record({ kind: fc.constant("subscribe"), place, wallet: holder, asset: fc.constant("raf-member"), periodMs: fc.constantFrom(day, 30 * day), amount })) },
  { weight: 1, arbitrary: withOrigin(fc.record({ kind: fc.constant("deposit"), place, amount, ref: fc.constantFrom("bank-1", "bank-2") })) },
  { weight: 2, arbitrary: withOrigin(fc.record({ kind: fc.constant("exchange"), wallet: holder, asset, direction: fc.constantFrom("to_fed", "from_fed"), amount })) },
  { weight: 2, arbitrary: withOrigin(fc.record({ kind: fc.constant("demurrage"), wallet: fc.oneof(holder, place.map((p) => `place:${p}`)), asset })) },
  { weight: 1, arbitrary: withOrigin(fc.record({ kind: fc.constant("void"), card, reason: fc.constantFrom("lost", "voided"), place }, { requiredKeys: ["kind", "card", "reason"] })) },
  { weight: 3, arbitrary: withOrigin(fc.record({ kind: fc.constant("mint"), asset, to: holder, amount })) },
  { weight: 1, arbitrary: withOrigin(fc.record({ kind: fc.constant("badge"), place, card })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("check"), card }) },
)

/**
 * Each step: a new command, the exact retry of an earlier one, or an earlier request id reused for
 * a different command; and how long after the previous step it comes (up to 60 days).
 */
type Step = { raw: Raw } | { retry: number } | { reuse: number; raw: Raw }
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: command.map((raw) => ({ raw })) },
  { weight: 2, arbitrary: fc.nat().map((retry) => ({ retry })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), command).map(([reuse, raw]) => ({ reuse, raw })) },
)
const steps = fc.array(fc.tuple(step, fc.integer({ min: 0, max: 60 * day })), { minLength: 1, maxLength: 80, size: "+1" })

/** The raw commands of a sequence of steps: fresh ids numbered, retries and reuses resolved. */
const commandsOf = (sequence: ReadonlyArray<readonly [Step, number]>): Array<[Raw, number]> => {
  const out: Array<[Raw, number]> = []
  sequence.forEach(([s, delay], index) => {
    const earlier = out.filter(([raw]) => raw["request"] !== undefined)
    if ("retry" in s || "reuse" in s) {
      const target = earlier[("retry" in s ? s.retry : s.reuse) % Math.max(earlier.length, 1)]?.[0]
      if (target === undefined) return
      if ("retry" in s) out.push([target, delay])
      else {
        const reader = readerKinds.has(String(s.raw["kind"])) ? target["reader"] : undefined
        out.push([{ ...s.raw, request: target["request"], ...(reader === undefined ? {} : { reader }) }, delay])
      }
      return
    }
    out.push([s.raw["request"] === undefined ? s.raw : { ...s.raw, request: `q${index}` }, delay])
  })
  return out
}
const sequence = steps.map(commandsOf)

const snapshot = ledgerSnapshot

/** The simple model: balances as "wallet asset" -> amount, with naive rules for the money commands. */
class Model {
  readonly balances = new Map<string, number>()
  readonly cardWallet = new Map<string, string>(cards.map((uid) => [uid, `card:${uid}`]))
  readonly blocked = new Set<string>()

  get(wallet: string, asset: string): number {
    return this.balances.get(`${wallet} ${asset}`) ?? 0
  }
  move(asset: string, from: string, to: string, amount: number): void {
    this.balances.set(`${from} ${asset}`, this.get(from, asset) - amount)
    this.balances.set(`${to} ${asset}`, this.get(to, asset) + amount)
  }
  nonZero(): Map<string, number> {
    return new Map([...this.balances].filter(([, amount]) => amount !== 0))
  }
  follow(tx: Transaction): void {
    for (const leg of tx.legs) this.move(leg.asset, leg.from, leg.to, leg.amount)
    const memo = (tx.memo ?? {}) as Record<string, string>
    if (tx.kind === "fusion" && tx.card !== undefined) this.cardWallet.set(tx.card, memo["wallet"] ?? "")
    if (tx.kind === "void" && tx.card !== undefined) this.blocked.add(tx.card)
  }

  readonly requests = new Map<string, string>()

  /** Idempotency as the contract says: the same request again is a replay, a different one a conflict. */
  predictRequest(raw: Raw): "replay" | "conflict" | undefined {
    if (raw["request"] === undefined || raw["kind"] === "check") return undefined
    const key = `${raw["reader"] ?? "-"}/${raw["request"]}`
    // Same content whatever the order of its fields, as the engine decodes it.
    const content = JSON.stringify(Object.entries(raw).sort(([a], [b]) => (a < b ? -1 : 1)))
    const first = this.requests.get(key)
    if (first === undefined) this.requests.set(key, content)
    return first === undefined ? undefined : first === content ? "replay" : "conflict"
  }

  /** The model's own sale: the euro assets the place accepts, in order, as much as possible from each. */
  predictSale(raw: Raw): boolean | undefined {
    if (raw["kind"] !== "sale" || raw["asset"] !== undefined) return undefined
    const reader = raw["reader"]
    if (reader !== undefined && !(placeReaders[String(raw["place"])] ?? []).includes(String(reader))) return false
    const uid = String(raw["card"])
    if (this.blocked.has(uid)) return false
    const wallet = this.cardWallet.get(uid) ?? ""
    const euro = ["raf-gift", "raf-eur", "fed"]
    const accepts = genesisDocument.places.find((p) => p.id === raw["place"])?.accepts.filter((a) => euro.includes(a)) ?? []
    let left = Number(raw["amount"])
    if (accepts.reduce((sum, a) => sum + this.get(wallet, a), 0) < left) return false
    for (const a of accepts) {
      const take = Math.min(this.get(wallet, a), left)
      this.move(a, wallet, `place:${raw["place"]}`, take)
      left -= take
    }
    return true
  }
}

const conservedAndNonNegative = (state: LedgerState): void => {
  const sums = new Map<string, number>()
  for (const [wallet, held] of stateBalances(state)) {
    for (const [asset, amount] of held) {
      sums.set(asset, (sums.get(asset) ?? 0) + amount)
      if (!wallet.startsWith("issuance:")) expect(amount, `${wallet} ${asset}`).toBeGreaterThanOrEqual(0)
      else expect(wallet).toBe(`issuance:${asset}`)
    }
  }
  for (const [asset, sum] of sums) expect(sum, `sum of ${asset}`).toBe(0)
}

describe("engine properties", () => {
  it("conserves every asset, keeps wallets non-negative, agrees with the model, and replays to its own balances", () => {
    fc.assert(
      fc.property(sequence, (steps) => {
        const session = new Session(undefined, t0)
        const model = new Model()
        const txs: Transaction[] = []
        for (const [raw, delay] of steps) {
          session.now += delay
          const before = snapshot(session.state)
          const request = model.predictRequest(raw)
          const predicted = request === undefined ? model.predictSale(raw) : undefined
          const outcome = session.run(raw)
          if (request === "replay") expect(outcome.replayed).toBe(true)
          if (request === "conflict") expect(outcome.status).toBe("conflict")
          if (predicted !== undefined) expect(outcome.status === "ok", JSON.stringify(raw)).toBe(predicted)
          if (outcome.ok && outcome.tx !== null && !outcome.replayed) {
            txs.push(outcome.tx)
            if (predicted === undefined) model.follow(outcome.tx)
          } else {
            expect(snapshot(session.state), `${outcome.status} changed the state`).toBe(before)
          }
          conservedAndNonNegative(session.state)
          expect(new Map([...model.nonZero()])).toEqual(flatten(session.state))
        }
        const replayed = replay(txs)
        expect(replayed.ok).toBe(true)
        if (replayed.ok) expect(replayed.balances).toEqual(stateBalances(session.state))
      }),
      {
        numRuns: 400,
        // A retry whose fields come in another order is the same request (found by a run in CI).
        examples: [[[
          [{ kind: "topup", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1, asset: "fed", request: "q0", reader: "bar-1" }, 0],
          [{ kind: "topup", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1, asset: "fed", reader: "bar-1", request: "q0" }, 0],
        ]]],
      },
    )
  })

  it("applies a sale with all its legs or none, paying exactly the amount from the card to the place", () => {
    fc.assert(
      fc.property(sequence, command.filter((raw) => raw["kind"] === "sale"), (steps, sale) => {
        const session = new Session(undefined, t0)
        for (const [raw, delay] of steps) {
          session.now += delay
          session.run(raw)
        }
        const before = stateBalances(session.state)
        const outcome = session.run({ ...sale, request: "final-sale" })
        const after = stateBalances(session.state)
        if (!outcome.ok || outcome.tx === null) {
          expect(after).toEqual(before)
          return
        }
        const legs = outcome.tx.legs
        expect(legs.reduce((sum, leg) => sum + leg.amount, 0)).toBe(sale["amount"])
        const wallet = session.state.cards.get(String(sale["card"]) as never)?.wallet
        for (const leg of legs) {
          expect(leg.from).toBe(wallet)
          expect(leg.to).toBe(`place:${sale["place"]}`)
        }
        const expected = replay([outcome.tx], before)
        expect(expected.ok && expected.balances).toEqual(after)
      }),
      { numRuns: 300 },
    )
  })

  it("answers the same request twice with the first outcome and changes nothing the second time", () => {
    fc.assert(
      fc.property(sequence, command.filter((raw) => raw["kind"] !== "check"), (steps, repeated) => {
        const session = new Session(undefined, t0)
        for (const [raw, delay] of steps) {
          session.now += delay
          session.run(raw)
        }
        const raw = { ...repeated, request: "twice" }
        const first = session.run(raw)
        const before = snapshot(session.state)
        session.now += day
        const second: Executed = session.run(raw)
        expect(snapshot(session.state)).toBe(before)
        if (first.status === "bad_request" || first.status === "amount_out_of_range") return
        expect(second.replayed).toBe(true)
        expect({ ...second, replayed: false }).toEqual(first)
        const different = session.run(changeOneField(raw))
        expect(different.status).toBe("conflict")
        expect(snapshot(session.state)).toBe(before)
      }),
      { numRuns: 300 },
    )
  })
})

const flatten = (state: LedgerState): Map<string, number> => {
  const flat = new Map<string, number>()
  for (const [wallet, held] of stateBalances(state)) for (const [asset, amount] of held) flat.set(`${wallet} ${asset}`, amount)
  return flat
}

/** The same request id with one field changed. */
const changeOneField = (raw: Raw): Raw => {
  if (raw["card"] !== undefined) return { ...raw, card: raw["card"] === cards[0] ? cards[1] : cards[0] }
  if (raw["amount"] !== undefined) return { ...raw, amount: raw["amount"] === 1 ? 2 : 1 }
  return { ...raw, asset: raw["asset"] === "fed" ? "raf-eur" : "fed" }
}
