/**
 * Every status of every command, reached by a scenario that starts from the test federation
 * (test/scenarios.ts holds them, one table per command kind), checked against that command's list
 * in `statusesOf`, so that a status added to a list without a scenario, or a scenario for a status
 * the list lacks, fails. An `ok` scenario checks its effect; a failing one checks that nothing in
 * the ledger moved, registry included. Then pairs of checks failing at once show that the earlier
 * one in the list is the one reported.
 */
import { describe, expect, it } from "vitest"
import { commandKinds, type CommandKind } from "./command.js"
import { statusesOf, type Executed } from "./execute.js"
import * as limits from "./limits.js"
import { genesisDocument, Session, stateOf, t0 } from "../test/federation.js"
import { ledgerContents, type LedgerContents } from "../test/ledger-contents.js"
import {
  block,
  cardW,
  fedIdleMs,
  fedPeriodMs,
  fill,
  full,
  fuse,
  give,
  hugeCard,
  mana,
  mintWholeSupply,
  newUid,
  other,
  otherW,
  placeEarnsFed,
  raw,
  refill,
  revoke,
  scenarios,
  sessionOf,
  staffRights,
  stewardKeys,
  title,
  uid,
  uid10,
  uid7,
  unknownUid,
  usedRequest,
  user,
  wide,
  type GenesisDocument,
  type Raw,
  type Scenario,
} from "../test/scenarios.js"

const play = (scenario: Pick<Scenario, "genesis" | "fromBlock0" | "scene" | "command">): { s: Session; before: LedgerContents; outcome: Executed } => {
  const s = sessionOf(scenario.genesis, scenario.fromBlock0 === true)
  scenario.scene?.(s)
  const before = ledgerContents(s.state)
  return { s, before, outcome: s.run(scenario.command) }
}

describe.each(commandKinds)("%s statuses", (kind) => {
  const table = scenarios[kind]

  it.each(table.map((scenario) => [title(scenario), scenario] as const))("%s", (_, scenario) => {
    expect(scenario.command["kind"]).toBe(kind)
    const { s, before, outcome } = play(scenario)
    expect(outcome.status, outcome.ok ? "ok" : `${outcome.status} on ${outcome.field}: ${outcome.message}`).toBe(scenario.status)
    if (outcome.ok) {
      expect(scenario.effect, "an ok scenario checks its effect").toBeDefined()
      scenario.effect?.(s, outcome.tx)
    } else {
      expect(ledgerContents(s.state), "a failure changes nothing").toEqual(before)
      if (scenario.field !== undefined) expect(outcome.field).toBe(scenario.field)
    }
  })

  it("reaches exactly the statuses of statusesOf", () => {
    expect(new Set(table.map((scenario) => scenario.status))).toEqual(new Set(statusesOf[kind]))
  })
})

describe("the largest transactions", () => {
  it("demurrage of the largest balance commands can produce stays within legsPerTxMax", () => {
    const { outcome } = play({
      scene: (s) => {
        // The whole fed supply on one card, idle for the most periods one melt takes: nearly all of
        // it melts, split between two funds.
        mintWholeSupply(s, "fed", cardW)
        s.now = t0 + fedIdleMs + limits.demurragePeriodsMax * fedPeriodMs
      },
      command: raw.demurrage(),
    })
    expect(outcome.status).toBe("ok")
    const legs = outcome.ok ? (outcome.tx?.legs.length ?? 0) : 0
    expect(legs).toBeGreaterThanOrEqual(limits.supplyMax / limits.amountMax)
    expect(legs).toBeLessThanOrEqual(limits.legsPerTxMax)
  })
})

interface Pair {
  readonly kind: CommandKind
  readonly genesis?: GenesisDocument
  readonly scene?: (s: Session) => void
  /** Fails both checks. */
  readonly command: Raw
  readonly first: string
  readonly second: string
  /** The same command with the first check passing: it must fail the second. */
  readonly withoutFirst: Raw
}

const pairs: readonly Pair[] = [
  { kind: "sale", scene: (s) => block(s, uid), command: raw.sale({ asset: "nope" }), first: "card_blocked", second: "unknown_asset", withoutFirst: raw.sale({ card: other, asset: "nope" }) },
  { kind: "sale", command: raw.sale({ reader: "mana-bar", card: unknownUid }), first: "forbidden", second: "unknown_card", withoutFirst: raw.sale({ reader: "bar-1", card: unknownUid }) },
  { kind: "sale", command: raw.sale({ card: "bad", amount: 0 }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.sale({ amount: 0 }) },
  { kind: "sale", scene: usedRequest("mana-bar"), command: raw.sale({ request: "dup", reader: "mana-bar" }), first: "conflict", second: "forbidden", withoutFirst: raw.sale({ request: "new", reader: "mana-bar" }) },
  { kind: "topup", command: raw.topup({ reader: "bar-1", asset: "nope" }), first: "forbidden", second: "unknown_asset", withoutFirst: raw.topup({ asset: "nope" }) },
  { kind: "refund", scene: (s) => block(s, uid), command: raw.refund(), first: "card_blocked", second: "nothing_to_refund", withoutFirst: raw.refund({ card: other }) },
  { kind: "transfer", command: raw.transfer({ to: cardW, asset: "nope" }), first: "same_wallet", second: "unknown_asset", withoutFirst: raw.transfer({ asset: "nope" }) },
  { kind: "fusion", scene: (s) => { fuse(s, uid, user); fuse(s, uid7, user); block(s, uid) }, command: raw.fusion(), first: "card_blocked", second: "already_fused", withoutFirst: raw.fusion({ card: uid7 }) },
  { kind: "subscribe", command: raw.subscribe({ asset: "raf-gift", amount: 500 }), first: "asset_not_accepted", second: "insufficient_funds", withoutFirst: raw.subscribe({ amount: 500 }) },
  { kind: "refill", scene: (s) => { s.must(raw.refill({ wallet: otherW })); mintWholeSupply(s, "fed", otherW) }, command: raw.refill(), first: "duplicate_ref", second: "supply_limit", withoutFirst: raw.refill({ ref: "pi_2" }) },
  { kind: "deposit", scene: (s) => { placeEarnsFed(s, "raffinerie", 100); s.must(raw.deposit()) }, command: raw.deposit(), first: "duplicate_ref", second: "insufficient_funds", withoutFirst: raw.deposit({ ref: "bank-2" }) },
  { kind: "exchange", scene: (s) => give(s, `card:${uid10}`, "mana-time", 3), command: raw.exchange(), first: "insufficient_funds", second: "insufficient_reserve", withoutFirst: raw.exchange({ wallet: `card:${uid10}` }) },
  { kind: "demurrage", scene: (s) => refill(s, cardW, 100), command: raw.demurrage({ asset: "raf-eur" }), first: "no_demurrage", second: "not_idle", withoutFirst: raw.demurrage() },
  { kind: "void", scene: (s) => block(s, uid), command: raw.void({ place: "nowhere" }), first: "already_void", second: "unknown_place", withoutFirst: raw.void({ reason: "voided", place: "nowhere" }) },
  { kind: "mint", scene: (s) => block(s, uid), command: raw.mint({ asset: "raf-member" }), first: "asset_not_mintable", second: "card_blocked", withoutFirst: raw.mint() },
  { kind: "topup", genesis: wide, scene: (s) => { fill(s, cardW, full); mintWholeSupply(s, "raf-eur", otherW) }, command: raw.topup({ amount: 1 }), first: "supply_limit", second: "wallet_full", withoutFirst: raw.topup({ asset: "raf-gift" }) },
  { kind: "fusion", genesis: wide, scene: (s) => { fill(s, user, full); hugeCard(s); refill(s, `card:${uid7}`, 100) }, command: raw.fusion(), first: "too_many_legs", second: "wallet_full", withoutFirst: raw.fusion({ card: uid7 }) },
  // A malformed or unknown field is reported before an out-of-range amount, whatever their order.
  { kind: "sale", command: raw.sale({ amount: 0, asset: "Not-An-Id" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.sale({ amount: 0 }) },
  { kind: "topup", command: raw.topup({ amount: 0, asset: "Not-An-Id" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.topup({ amount: 0 }) },
  { kind: "refill", command: raw.refill({ amount: 0, ref: "" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.refill({ amount: 0 }) },
  { kind: "deposit", command: raw.deposit({ amount: 0, ref: "" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.deposit({ amount: 0 }) },
  { kind: "mint", command: raw.mint({ amount: 0, ref: "" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.mint({ amount: 0 }) },
  { kind: "sale", command: raw.sale({ amount: 0, colour: "red" }), first: "bad_request", second: "amount_out_of_range", withoutFirst: raw.sale({ amount: 0 }) },
  // The registry's commands.
  { kind: "place", command: raw.place({ accepts: ["nope", "nope"] }), first: "bad_request", second: "unknown_asset", withoutFirst: raw.place({ accepts: ["nope"] }) },
  { kind: "asset", command: raw.asset({ id: "raf-gift", name: "Cadeau", issuer: "nowhere" }), first: "unknown_place", second: "asset_fixed", withoutFirst: raw.asset({ id: "raf-gift", name: "Cadeau", issuer: "manapany" }) },
  // A token given before is refused before the place is looked up, as any malformed field is.
  { kind: "reader", command: raw.reader({ id: "bar-2", tokenSha256: "a".repeat(64), place: "nowhere" }), first: "bad_request", second: "unknown_place", withoutFirst: raw.reader({ id: "bar-2", place: "nowhere" }) },
  { kind: "reader", command: raw.reader({ id: "bar-2", place: "nowhere" }), first: "unknown_place", second: "reader_exists", withoutFirst: raw.reader({ id: "bar-2" }) },
  { kind: "reader", scene: (s) => revoke(s, "bar-1"), command: { kind: "reader", id: "bar-1", revoke: true, role: "bar" }, first: "bad_request", second: "unknown_reader", withoutFirst: { kind: "reader", id: "bar-1", revoke: true } },
  { kind: "cards", command: raw.cards({ cards: [{ card: newUid, staff: { ...staffRights, places: ["nowhere"] } }, { card: newUid }] }), first: "bad_request", second: "unknown_place", withoutFirst: raw.cards({ cards: [{ card: newUid, staff: { ...staffRights, places: ["nowhere"] } }] }) },
  { kind: "block", command: raw.block({ reader: "ghost", place: "nowhere" }), first: "forbidden", second: "unknown_place", withoutFirst: raw.block({ place: "nowhere" }) },
  { kind: "block", command: raw.block({ place: "nowhere", card: unknownUid }), first: "unknown_place", second: "unknown_card", withoutFirst: raw.block({ card: unknownUid }) },
  { kind: "stewards", command: raw.stewards({ keys: [stewardKeys[0], stewardKeys[0]], threshold: 3 }), first: "bad_request", second: "threshold_out_of_range", withoutFirst: raw.stewards({ threshold: 3 }) },
  // transfer looks both wallets up before it checks either card's status.
  { kind: "transfer", scene: (s) => block(s, uid), command: raw.transfer({ to: `card:${unknownUid}` }), first: "unknown_card", second: "card_blocked", withoutFirst: raw.transfer() },
]

describe("precedence: of two failing checks, the earlier in the list is reported", () => {
  it.each(pairs.map((pair) => [`${pair.kind}: ${pair.first} before ${pair.second}`, pair] as const))("%s", (_, pair) => {
    const list = statusesOf[pair.kind]
    expect(list.indexOf(pair.first)).toBeGreaterThan(0)
    expect(list.indexOf(pair.second)).toBeGreaterThan(list.indexOf(pair.first))
    expect(play(pair).outcome.status).toBe(pair.first)
    expect(play({ ...pair, command: pair.withoutFirst }).outcome.status).toBe(pair.second)
  })
})

describe("exchange rounding with a rate that does not divide", () => {
  // The fixture's mana-time rate (1 minute = 20 fed) never rounds to_fed, and no command changes a
  // rate, so this federation is the fixture's with 3 minutes worth 2 fed cents.
  const session = (): Session => {
    const assets = genesisDocument.assets.map((asset) => (asset.id === "mana-time" ? { ...asset, exchange: { fed: 2, local: 3 } } : asset))
    return new Session(stateOf({ ...genesisDocument, assets }))
  }

  it("to_fed: 5 minutes are worth floor(10 / 3) = 3 fed cents", () => {
    const s = session()
    give(s, cardW, "mana-time", 5)
    give(s, mana, "fed", 10)
    const outcome = s.run(raw.exchange({ amount: 5 }))
    expect(outcome.ok && outcome.tx?.legs).toEqual([
      { asset: "mana-time", from: cardW, to: "issuance:mana-time", amount: 5 },
      { asset: "fed", from: mana, to: cardW, amount: 3 },
    ])
  })

  it("from_fed: 5 fed cents buy floor(15 / 2) = 7 minutes", () => {
    const s = session()
    refill(s, cardW, 5)
    const outcome = s.run(raw.exchange({ direction: "from_fed", amount: 5 }))
    expect(outcome.ok && outcome.tx?.legs).toEqual([
      { asset: "fed", from: cardW, to: mana, amount: 5 },
      { asset: "mana-time", from: "issuance:mana-time", to: cardW, amount: 7 },
    ])
  })

  it("to_fed: one minute is worth less than a cent", () => {
    const s = session()
    give(s, cardW, "mana-time", 1)
    expect(s.run(raw.exchange({ amount: 1 })).status).toBe("amount_too_small")
  })
})
