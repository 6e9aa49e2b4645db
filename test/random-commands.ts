/**
 * Random commands of every kind that mean something in the test federation (its cards, places,
 * assets, readers, and the place, asset, reader and card the registry's commands add), drawn so
 * that most of them commit: sequences of them build ledgers where money, memberships, melting,
 * fused and blocked cards, staff rights and registry changes meet. For the properties that hold
 * whatever the ledger (undo, agreement of node and replicas); the fuzz test draws nonsense too.
 */
import fc from "fast-check"
import type { CommandKind } from "../engine/command.js"
import { card as pseudonymOf, cards, day, genesisDocument, spareSigners, t0, users, type Session } from "./federation.js"

type Raw = Record<string, unknown>

/** The card, place, asset and reader the registry's commands may add to the fixture. */
const newCard = pseudonymOf("0a0b0c0d")
const places = ["raffinerie", "manapany", "kiosque", "epicerie"] as const
const readersOf: Readonly<Record<string, readonly string[]>> = {
  raffinerie: ["bar-1", "bar-2", "desk-1"],
  manapany: ["mana-bar", "mana-desk"],
  kiosque: [],
  epicerie: ["bar-3"],
}
const cashDesksOf: Readonly<Record<string, readonly string[]>> = { raffinerie: ["desk-1"], manapany: ["mana-desk"] }

/** Two regulars hold and spend most of the money; the other cards come by now and then. */
const card = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(cards[0], cards[1]) }, { weight: 2, arbitrary: fc.constantFrom(...cards, newCard) })
const place = fc.oneof({ weight: 3, arbitrary: fc.constant("raffinerie") }, { weight: 2, arbitrary: fc.constant("manapany") }, { weight: 2, arbitrary: fc.constantFrom(...places) })
const asset = fc.constantFrom(...genesisDocument.assets.map((a) => a.id), "raf-bon", "epi-bon")
const holder = fc.oneof(card.map((uid) => `card:${uid}`), fc.constantFrom(...users))
/** What funds a wallet is larger than what is spent from it, so that spending mostly succeeds. */
const funding = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 100, max: 5_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_000_000_000 }) })
const spending = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) })
/** An asset named in a command: seldom one that may not exist. */
const namedAsset = fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: asset })
/** The assets a place tops up: its own, mostly. */
const ownAssets: Readonly<Record<string, readonly string[]>> = { raffinerie: ["raf-eur", "raf-gift"], manapany: ["mana-time", "mana-pts"] }
const toppedUp = fc.tuple(place, fc.nat(9), asset).map(([at, dice, any]) => ({ place: at, asset: dice < 8 ? (ownAssets[at]?.[dice % 2] ?? any) : any }))
/** Wallets that hold money most of the time. */
const moneyed = fc.constantFrom(`card:${cards[0]}`, `card:${cards[1]}`, `card:${cards[3]}`, users[0], "place:raffinerie", "place:manapany")
const ref = fc.integer({ min: 1, max: 40 }).map((n) => `ref-${n}`)
/** A refill's payment, as online refunds name it: the opening's, or one a random refill may have used. */
const payment = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("pi_opening", "pi_opening_2") }, { weight: 1, arbitrary: ref })
const refundRef = fc.integer({ min: 1, max: 40 }).map((n) => `re-${n}`)
const keys = spareSigners.map((signer) => signer.id as string)
const key = fc.constantFrom(...keys)
const policies = genesisDocument.assets.flatMap((a) => ("demurrage" in a ? [a.demurrage] : []))
/** Tokens drawn from a few: a reader registered with one already given is refused, as it must be. */
const token = fc.integer({ min: 1, max: 9 }).map((n) => String(n).repeat(64))
const staff = fc.oneof(
  fc.constant(null),
  fc.record({
    places: fc.uniqueArray(fc.constantFrom("raffinerie", "manapany"), { minLength: 1, maxLength: 2 }),
    roles: fc.uniqueArray(fc.constantFrom("bar", "cashdesk", "manager"), { minLength: 1, maxLength: 3 }),
    until: fc.integer({ min: t0, max: t0 + 400 * day }),
  }),
)

/** Most reader commands come from a reader of the place, some from none, a few from another place's. */
const withReader = (command: fc.Arbitrary<Raw>, readers = readersOf): fc.Arbitrary<Raw> =>
  fc.tuple(command, fc.nat(9)).map(([raw, dice]) => {
    const own = readers[String(raw["place"])] ?? []
    const reader = dice < 6 ? own[dice % Math.max(own.length, 1)] : dice === 6 ? "mana-desk" : undefined
    return reader === undefined ? raw : { ...raw, reader }
  })
const kindOf = <K extends CommandKind>(kind: K) => fc.constant(kind)

/** Asset commands that make sense in the fixture: a new gift, rates and policies changed, fed renamed. */
const assetCommand: fc.Arbitrary<Raw> = fc.oneof(
  fc.record({ kind: kindOf("asset"), id: fc.constant("raf-bon"), assetKind: fc.constant("gift"), name: fc.constant("Bon"), issuer: fc.constant("raffinerie"), exchange: fc.constantFrom({ fed: 1, local: 1 }, { fed: 1, local: 2 }) }, { requiredKeys: ["kind", "id", "assetKind", "name", "issuer"] }),
  fc.record({ kind: kindOf("asset"), id: fc.constant("epi-bon"), assetKind: fc.constant("gift"), name: fc.constant("Bon"), issuer: fc.constant("epicerie") }),
  fc.record({ kind: kindOf("asset"), id: fc.constant("mana-time"), assetKind: fc.constant("time"), name: fc.constant("Temps"), issuer: fc.constant("manapany"), exchange: fc.constantFrom({ fed: 20, local: 1 }, { fed: 7, local: 3 }), demurrage: fc.constantFrom(...policies) }, { requiredKeys: ["kind", "id", "assetKind", "name", "issuer"] }),
  fc.record({ kind: kindOf("asset"), id: fc.constant("fed"), assetKind: fc.constant("fed"), name: fc.constantFrom("Euro fédéré", "Euro"), demurrage: fc.constantFrom(...policies) }, { requiredKeys: ["kind", "id", "assetKind", "name"] }),
)

const readerCommand: fc.Arbitrary<Raw> = fc.oneof(
  fc.record({ kind: kindOf("reader"), id: fc.constantFrom("bar-3", "bar-1", "mana-bar"), place: fc.constantFrom("raffinerie", "epicerie", "manapany"), role: fc.constantFrom("bar", "cashdesk"), tokenSha256: token }),
  fc.record({ kind: kindOf("reader"), id: fc.constantFrom("bar-3", "bar-3", "bar-2", "mana-bar"), revoke: fc.constant(true) }),
)

const byKind: { readonly [K in CommandKind]: readonly [number, fc.Arbitrary<Raw>] } = {
  sale: [10, withReader(fc.record({ kind: kindOf("sale"), place: fc.oneof({ weight: 2, arbitrary: fc.constant("raffinerie") }, { weight: 1, arbitrary: place }), card, amount: spending, asset: namedAsset }, { requiredKeys: ["kind", "place", "card", "amount", "asset"] }))],
  check: [1, fc.record({ kind: kindOf("check"), card, place }, { requiredKeys: ["kind", "card"] })],
  badge: [2, withReader(fc.record({ kind: kindOf("badge"), place, card }))],
  topup: [8, withReader(fc.tuple(toppedUp, card, funding).map(([where, uid, amount]): Raw => ({ kind: "topup", ...where, card: uid, amount })), cashDesksOf)],
  refund: [2, withReader(fc.record({ kind: kindOf("refund"), place, card }), cashDesksOf)],
  transfer: [3, fc.record({ kind: kindOf("transfer"), from: holder, to: holder, asset, amount: spending })],
  fusion: [2, fc.record({ kind: kindOf("fusion"), card, user: fc.constantFrom(...users) })],
  subscribe: [3, withReader(fc.record({ kind: kindOf("subscribe"), place: fc.constant("raffinerie"), wallet: holder, asset: fc.constant("raf-member"), periodMs: fc.constantFrom(day, 30 * day), amount: spending }, { requiredKeys: ["kind", "place", "wallet", "asset", "periodMs"] }))],
  refill: [10, fc.record({ kind: kindOf("refill"), wallet: fc.oneof({ weight: 4, arbitrary: holder }, { weight: 1, arbitrary: place.map((p) => `place:${p}`) }), amount: funding, ref })],
  deposit: [1, fc.record({ kind: kindOf("deposit"), place, amount: spending, ref })],
  withdraw: [6, fc.record({ kind: kindOf("withdraw"), payment, amount: spending })],
  payback: [5, fc.record({ kind: kindOf("payback"), payment, ref: refundRef })],
  restore: [3, fc.record({ kind: kindOf("restore"), payment })],
  exchange: [3, fc.record({ kind: kindOf("exchange"), wallet: holder, asset: fc.constantFrom("mana-time", "mana-time", "raf-eur", "raf-bon"), direction: fc.constantFrom("to_fed", "from_fed"), amount: fc.integer({ min: 1, max: 60 }) })],
  demurrage: [4, fc.record({ kind: kindOf("demurrage"), wallet: fc.oneof({ weight: 3, arbitrary: moneyed }, { weight: 1, arbitrary: holder }), asset: fc.constantFrom("fed", "fed", "mana-time", "mana-time", "mana-pts", "raf-eur") })],
  void: [2, fc.record({ kind: kindOf("void"), card, reason: fc.constantFrom("lost", "voided"), place }, { requiredKeys: ["kind", "card", "reason"] })],
  mint: [5, fc.record({ kind: kindOf("mint"), asset, to: fc.oneof(holder, place.map((p) => `place:${p}`), fc.constant("fund:common")), amount: funding, ref }, { requiredKeys: ["kind", "asset", "to", "amount"] })],
  validators: [1, fc.record({ kind: kindOf("validators"), add: key, remove: fc.constantFrom(...genesisDocument.validators.keys, ...keys), threshold: fc.integer({ min: 1, max: 2 }) }, { requiredKeys: ["kind"] })],
  place: [2, fc.record({ kind: kindOf("place"), id: fc.constantFrom("epicerie", "epicerie", "epicerie", "raffinerie", "kiosque"), name: fc.constantFrom("L'Épicerie", "Le lieu"), accepts: fc.uniqueArray(fc.constantFrom("fed", "raf-gift", "raf-eur", "mana-time"), { maxLength: 3 }), membershipRequired: fc.constant("raf-member"), staffRequired: fc.boolean(), payout: fc.constant({ iban: "FR7630006000011234567890189", name: "SCIC" }) }, { requiredKeys: ["kind", "id", "name", "accepts"] })],
  asset: [2, assetCommand],
  reader: [2, readerCommand],
  cards: [2, fc.record({ kind: kindOf("cards"), cards: fc.uniqueArray(fc.record({ card, staff }, { requiredKeys: ["card"] }), { minLength: 1, maxLength: 3, selector: (entry) => entry.card }) })],
  block: [2, withReader(fc.record({ kind: kindOf("block"), card, reason: fc.constantFrom("lost", "voided"), place }, { requiredKeys: ["kind", "card", "reason"] }))],
  stewards: [1, fc.uniqueArray(key, { minLength: 1, maxLength: 4 }).chain((chosen) => fc.record({ kind: kindOf("stewards"), keys: fc.constant(chosen), threshold: fc.integer({ min: 1, max: chosen.length }) }))],
  observers: [1, fc.record({ kind: kindOf("observers"), keys: fc.uniqueArray(key, { maxLength: 4 }) })],
  rules: [1, fc.record({ kind: kindOf("rules"), version: fc.constant(1), from: fc.nat(1_000) })],
}

/** A command of any kind; some carry a request id, so that retries and reuses happen too. */
export const anyCommand: fc.Arbitrary<Raw> = fc
  .tuple(
    fc.oneof(...Object.values(byKind).map(([weight, arbitrary]) => ({ weight, arbitrary }))),
    fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("r1", "r2", "r3") }),
  )
  .map(([raw, request]) => (request === undefined || raw["kind"] === "check" ? raw : { ...raw, request }))

/** Time from one command to the next: often none, sometimes long enough for demurrage. */
export const delay = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 * day }), fc.integer({ min: 0, max: 200 * day }))

/** A sequence of commands, each with the time since the one before. */
export const commandSequence = (maxLength: number): fc.Arbitrary<Array<[Raw, number]>> =>
  fc.array(fc.tuple(anyCommand, delay), { minLength: 1, maxLength })

/**
 * An opening for the random commands: money on the regulars and at both places, a membership,
 * staff rights, a fused card and stewards, so that every kind of command has something to act on.
 */
export const open = (s: Session): void => {
  const [regular, second, fused, other] = cards
  s.must({ kind: "refill", wallet: `card:${regular}`, amount: 5_000, ref: "pi_opening" })
  s.must({ kind: "refill", wallet: `card:${second}`, amount: 3_000, ref: "pi_opening_2" })
  s.must({ kind: "topup", place: "raffinerie", card: regular, asset: "raf-eur", amount: 700 })
  s.must({ kind: "topup", place: "manapany", card: other, asset: "mana-time", amount: 90 })
  s.must({ kind: "sale", place: "raffinerie", card: second, amount: 500 })
  s.must({ kind: "sale", place: "manapany", card: second, amount: 300 })
  s.must({ kind: "subscribe", place: "raffinerie", wallet: `card:${regular}`, asset: "raf-member", periodMs: 30 * day, amount: 100 })
  s.must({ kind: "cards", cards: [{ card: other, staff: { places: ["raffinerie"], roles: ["bar"], until: t0 + day } }] })
  s.must({ kind: "fusion", card: fused, user: users[0] })
  s.must({ kind: "stewards", keys: [keys[0]], threshold: 1 })
}
