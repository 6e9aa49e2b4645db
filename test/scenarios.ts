/**
 * Every status of every command, reached by a scenario that starts from the test federation: one
 * table per command kind, in the order of that command's statuses. The statuses test plays each
 * scenario and checks the status, the field at fault and the effect; the agreement test seals what
 * each scenario commits in blocks and has a replica re-execute them. A scene builds its ledger with
 * commands only, never by writing the state, so that it is a ledger a node could have built.
 */
import { expect } from "vitest"
import type { CommandKind } from "../engine/command.js"
import * as limits from "../engine/limits.js"
import type { Transaction } from "../engine/state.js"
import { card as pseudonymOf, cards, day, genesisDocument, ledgerDocumentOf, newcomerSigner, Session, spareSigners, stateOf, t0, users } from "./federation.js"
import { decodeGenesis, ledgerFromGenesis } from "../engine/genesis.js"

/** A genesis document of the fixture's shape, as given to the node and carried in block 0. */
export type GenesisDocument = typeof genesisDocument

export type Raw = Record<string, unknown>

export interface Scenario {
  readonly status: string
  /** The genesis document of the federation to start from, when it is not the fixture's. */
  readonly genesis?: GenesisDocument
  /** Start right after block 0, the genesis's cards not yet registered (PROTOCOL.md section 9.4). */
  readonly fromBlock0?: true
  /** What the scenario shows, when it is not just the status. */
  readonly name?: string
  readonly scene?: (s: Session) => void
  readonly command: Raw
  /** The field a failure must name, where it matters. */
  readonly field?: string
  /** For `ok`: the effect the command must have had. */
  readonly effect?: (s: Session, tx: Transaction | null) => void
}

// The cast of the fixture.
export const [uid, uid7, uid10, other, spare] = cards
export const unknownUid = pseudonymOf("00000000")
export const [user, user2] = users
export const cardW = `card:${uid}`
export const otherW = `card:${other}`
export const genesisValidator = genesisDocument.validators.keys[0]
export const newValidator = newcomerSigner.id as string
export const raf = "place:raffinerie"
export const mana = "place:manapany"
/** Registry values the fixture does not hold yet. */
export const newUid = pseudonymOf("0a0b0c0d")
export const newToken = "f".repeat(64)
export const stewardKeys = spareSigners.slice(0, 2).map((signer) => signer.id as string)
export const observerKey = "M".repeat(43)
export const staffRights = { places: ["raffinerie"], roles: ["bar", "manager"], until: t0 + 30 * day }
export const payout = { iban: "FR7630006000011234567890189", name: "SCIC L'Épicerie" }

// Scene steps, each made of commands that must succeed.
let refsUsed = 0
const freshRef = (): string => `scene-ref-${++refsUsed}`
/** An issuer minting onto a wallet: the shortest way to give a holder a balance. */
export const give = (s: Session, to: string, asset: string, amount: number): void => {
  s.must({ kind: "mint", asset, to, amount })
}
export const refill = (s: Session, wallet: string, amount: number): void => {
  s.must({ kind: "refill", wallet, amount, ref: freshRef() })
}
/** The card refilled 1000 fed by the payment `pi_1`, which online refunds name. */
export const paid = (s: Session): void => {
  s.must(raw.refill())
}
export const block = (s: Session, card: string): void => {
  s.must({ kind: "void", card, reason: "lost" })
}
export const fuse = (s: Session, card: string, into: string): void => {
  s.must({ kind: "fusion", card, user: into })
}
/** A reader revoked by the operator. */
export const revoke = (s: Session, reader: string): void => {
  s.must({ kind: "reader", id: reader, revoke: true })
}
/** A place earns fed the way places do: a sale paid in fed. */
export const placeEarnsFed = (s: Session, place: string, amount: number): void => {
  refill(s, `card:${spare}`, amount)
  s.must({ kind: "sale", place, card: spare, amount })
}
/**
 * The request id `dup` used once already by this reader (or by no reader), in a badge: the key is
 * reader and request id, whatever the command, and failures are recorded too.
 */
export const usedRequest =
  (reader?: unknown) =>
  (s: Session): void => {
    s.run({ kind: "badge", place: "raffinerie", card: uid, request: "dup", ...(reader === undefined ? {} : { reader }) })
  }
/**
 * An asset's supply filled to its bound onto a wallet, at most amountMax per mint as the contract
 * allows (1000 mints from nothing), so that one more unit would exceed it.
 */
export const mintWholeSupply = (s: Session, asset: string, to: string): void => {
  for (let left = limits.supplyMax + s.balance(`issuance:${asset}`, asset); left > 0; left -= limits.amountMax) {
    give(s, to, asset, Math.min(left, limits.amountMax))
  }
}
/**
 * A card whose refundable money takes legsPerTxMax + 1 legs to move: its place's whole local_fiat
 * supply (1000 legs of amountMax) and 25 × amountMax of fed.
 */
export const hugeCard = (s: Session): void => {
  mintWholeSupply(s, "raf-eur", cardW)
  for (let leg = 0; leg < limits.legsPerTxMax + 1 - limits.supplyMax / limits.amountMax; leg++) {
    give(s, cardW, "fed", limits.amountMax)
  }
}

/**
 * The fixture's federation with walletAssetsMax more gift assets of raffinerie (`raf-g0`, …, which
 * raffinerie does not accept), enough to fill a wallet to its bound of assets.
 */
export const fillerAssets = Array.from({ length: limits.walletAssetsMax }, (_, n) => `raf-g${n}`)
export const wide: GenesisDocument = {
  ...genesisDocument,
  assets: [...genesisDocument.assets, ...fillerAssets.map((id) => ({ id, kind: "gift", issuer: "raffinerie", name: id }))],
}
/** A wallet given `count` filler assets more, one unit of each. */
export const fill = (s: Session, wallet: string, count: number): void => {
  for (const asset of fillerAssets.slice(0, count)) give(s, wallet, asset, 1)
}
export const assetsHeld = (s: Session, wallet: string): number => {
  const held = s.state.wallets.get(wallet as never)
  return (held?.balances.size ?? 0) + (held?.memberships.size ?? 0)
}
export const full = limits.walletAssetsMax

export const membershipUntil = (s: Session, wallet: string, asset: string): number | undefined =>
  s.state.wallets.get(wallet as never)?.memberships.get(asset as never)

export const cardOf = (s: Session, card: string) => s.state.cards.get(card as never)

// Raw commands with valid defaults, so that each scenario shows only what it changes.
export const raw = {
  sale: (f: Raw = {}): Raw => ({ kind: "sale", place: "raffinerie", card: uid, amount: 100, ...f }),
  check: (f: Raw = {}): Raw => ({ kind: "check", card: uid, ...f }),
  badge: (f: Raw = {}): Raw => ({ kind: "badge", place: "raffinerie", card: uid, ...f }),
  topup: (f: Raw = {}): Raw => ({ kind: "topup", reader: "desk-1", place: "raffinerie", card: uid, amount: 500, asset: "raf-eur", ...f }),
  refund: (f: Raw = {}): Raw => ({ kind: "refund", reader: "desk-1", place: "raffinerie", card: uid, ...f }),
  transfer: (f: Raw = {}): Raw => ({ kind: "transfer", from: cardW, to: user, asset: "fed", amount: 200, ...f }),
  fusion: (f: Raw = {}): Raw => ({ kind: "fusion", card: uid, user, ...f }),
  subscribe: (f: Raw = {}): Raw => ({ kind: "subscribe", place: "raffinerie", wallet: cardW, asset: "raf-member", periodMs: 30 * day, ...f }),
  refill: (f: Raw = {}): Raw => ({ kind: "refill", wallet: cardW, amount: 1000, ref: "pi_1", ...f }),
  deposit: (f: Raw = {}): Raw => ({ kind: "deposit", place: "raffinerie", amount: 100, ref: "bank-1", ...f }),
  withdraw: (f: Raw = {}): Raw => ({ kind: "withdraw", payment: "pi_1", amount: 400, ...f }),
  payback: (f: Raw = {}): Raw => ({ kind: "payback", payment: "pi_1", ref: "re_1", ...f }),
  restore: (f: Raw = {}): Raw => ({ kind: "restore", payment: "pi_1", ...f }),
  exchange: (f: Raw = {}): Raw => ({ kind: "exchange", wallet: cardW, asset: "mana-time", direction: "to_fed", amount: 3, ...f }),
  demurrage: (f: Raw = {}): Raw => ({ kind: "demurrage", wallet: cardW, asset: "fed", ...f }),
  void: (f: Raw = {}): Raw => ({ kind: "void", card: uid, reason: "lost", ...f }),
  mint: (f: Raw = {}): Raw => ({ kind: "mint", asset: "raf-gift", to: cardW, amount: 100, ...f }),
  validators: (f: Raw = {}): Raw => ({ kind: "validators", add: newValidator, ...f }),
  place: (f: Raw = {}): Raw => ({ kind: "place", id: "epicerie", name: "L'Épicerie", accepts: ["fed"], ...f }),
  asset: (f: Raw = {}): Raw => ({ kind: "asset", id: "raf-bon", assetKind: "gift", name: "Bon d'achat", issuer: "raffinerie", ...f }),
  reader: (f: Raw = {}): Raw => ({ kind: "reader", id: "bar-3", place: "raffinerie", role: "bar", tokenSha256: newToken, ...f }),
  cards: (f: Raw = {}): Raw => ({ kind: "cards", cards: [{ card: newUid }], ...f }),
  block: (f: Raw = {}): Raw => ({ kind: "block", card: uid, reason: "lost", ...f }),
  stewards: (f: Raw = {}): Raw => ({ kind: "stewards", keys: stewardKeys, threshold: 2, ...f }),
  observers: (f: Raw = {}): Raw => ({ kind: "observers", keys: [observerKey], ...f }),
  rules: (f: Raw = {}): Raw => ({ kind: "rules", version: 1, from: 10, ...f }),
} satisfies Record<CommandKind, (f?: Raw) => Raw>

/** The request id of an earlier, different request of the same reader. */
export const conflictOf = (command: Raw): Scenario => ({
  status: "conflict",
  scene: usedRequest(command["reader"]),
  command: { ...command, request: "dup" },
  field: "id",
})

// Demurrage policies of the fixture: fed melts 2 % per 30 days after 180 idle days, split 0/9/1;
// mana-time melts 10 minutes per 7 days after 30 idle days, split 1/1/1; mana-pts melt all after
// 365 idle days, all to the place.
export const fedIdleMs = 180 * day
export const fedPeriodMs = 30 * day
export const timeIdleMs = 30 * day
export const timePeriodMs = 7 * day

export const scenarios: { readonly [K in CommandKind]: readonly Scenario[] } = {
  sale: [
    {
      status: "ok",
      name: "the euro cascade follows the place's accepts order, emptying each asset before the next",
      scene: (s) => {
        give(s, cardW, "raf-gift", 100)
        give(s, cardW, "raf-eur", 50)
        refill(s, cardW, 1000)
      },
      command: raw.sale({ reader: "bar-1", amount: 300 }),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("sale")
        expect(tx?.legs).toEqual([
          { asset: "raf-gift", from: cardW, to: raf, amount: 100 },
          { asset: "raf-eur", from: cardW, to: raf, amount: 50 },
          { asset: "fed", from: cardW, to: raf, amount: 150 },
        ])
        expect([s.balance(cardW, "raf-gift"), s.balance(cardW, "raf-eur"), s.balance(cardW, "fed")]).toEqual([0, 0, 850])
        expect(s.balance(raf, "fed")).toBe(150)
      },
    },
    {
      status: "ok",
      name: "an explicit asset is paid from that asset alone, skipping the cascade",
      scene: (s) => {
        give(s, cardW, "raf-gift", 100)
        give(s, cardW, "raf-eur", 100)
      },
      command: raw.sale({ amount: 60, asset: "raf-eur" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([{ asset: "raf-eur", from: cardW, to: raf, amount: 60 }])
        expect([s.balance(cardW, "raf-gift"), s.balance(cardW, "raf-eur")]).toEqual([100, 40])
      },
    },
    {
      status: "ok",
      name: "a time currency is paid only when named",
      scene: (s) => give(s, cardW, "mana-time", 30),
      command: raw.sale({ reader: "mana-bar", place: "manapany", amount: 20, asset: "mana-time" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([{ asset: "mana-time", from: cardW, to: mana, amount: 20 }])
        expect(s.balance(mana, "mana-time")).toBe(20)
      },
    },
    {
      status: "ok",
      name: "a fused card pays from its user's wallet",
      scene: (s) => {
        refill(s, cardW, 500)
        fuse(s, uid, user)
      },
      command: raw.sale({ amount: 200 }),
      effect: (s, tx) => {
        expect(tx?.card).toBe(uid)
        expect(tx?.legs).toEqual([{ asset: "fed", from: user, to: raf, amount: 200 }])
        expect([s.balance(user, "fed"), s.balance(cardW, "fed")]).toEqual([300, 0])
      },
    },
    { status: "bad_request", command: raw.sale({ amount: 1.5 }), field: "amount" },
    { status: "bad_request", name: "a malformed asset id", command: raw.sale({ asset: "Raf-Eur" }), field: "asset" },
    { status: "amount_out_of_range", command: raw.sale({ amount: 0 }), field: "amount" },
    conflictOf(raw.sale()),
    { status: "forbidden", name: "a reader of one place selling for another", command: raw.sale({ reader: "bar-1", place: "manapany" }), field: "place" },
    { status: "forbidden", name: "an unregistered reader", command: raw.sale({ reader: "ghost" }), field: "reader" },
    { status: "unknown_place", command: raw.sale({ place: "nowhere" }), field: "place" },
    { status: "unknown_card", command: raw.sale({ card: unknownUid }), field: "card" },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.sale(), field: "card" },
    { status: "unknown_asset", command: raw.sale({ asset: "nope" }), field: "asset" },
    { status: "asset_not_accepted", name: "the place accepts no euro-valued asset", scene: (s) => give(s, cardW, "mana-time", 500), command: raw.sale({ place: "kiosque" }) },
    { status: "asset_not_accepted", name: "a membership named as the asset", command: raw.sale({ asset: "raf-member" }), field: "asset" },
    { status: "asset_not_accepted", name: "an asset of another place", scene: (s) => give(s, cardW, "mana-time", 500), command: raw.sale({ asset: "mana-time" }) },
    {
      status: "insufficient_funds",
      name: "the cascade falls short: all legs or none",
      scene: (s) => {
        give(s, cardW, "raf-gift", 100)
        refill(s, cardW, 50)
      },
      command: raw.sale({ amount: 200 }),
      field: "amount",
    },
    { status: "insufficient_funds", name: "an explicit asset falls short", scene: (s) => give(s, cardW, "raf-eur", 10), command: raw.sale({ asset: "raf-eur", amount: 11 }) },
  ],

  check: [
    {
      status: "ok",
      scene: (s) => refill(s, cardW, 100),
      command: raw.check({ reader: "bar-1", place: "raffinerie" }),
      effect: (s, tx) => {
        expect(tx).toBeNull()
        expect(s.balance(cardW, "fed")).toBe(100)
      },
    },
    { status: "bad_request", command: raw.check({ card: "xyz" }), field: "card" },
    { status: "forbidden", command: raw.check({ reader: "bar-1", place: "manapany" }), field: "place" },
    { status: "unknown_place", command: raw.check({ place: "nowhere" }), field: "place" },
    { status: "unknown_card", command: raw.check({ card: unknownUid }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.check() },
  ],

  badge: [
    {
      status: "ok",
      command: raw.badge({ reader: "bar-2" }),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "badge", card: uid, place: "raffinerie", reader: "bar-2", legs: [] })
        expect(s.state.wallets.get(cardW as never)?.lastActivityMs).toBe(t0)
      },
    },
    { status: "bad_request", command: raw.badge({ place: undefined }), field: "place" },
    conflictOf(raw.badge({ card: other })),
    { status: "forbidden", command: raw.badge({ reader: "mana-bar" }), field: "place" },
    { status: "unknown_place", command: raw.badge({ place: "nowhere" }) },
    { status: "unknown_card", command: raw.badge({ card: unknownUid }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.badge() },
  ],

  topup: [
    {
      status: "ok",
      command: raw.topup(),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("topup")
        expect(tx?.legs).toEqual([{ asset: "raf-eur", from: "issuance:raf-eur", to: cardW, amount: 500 }])
        expect([s.balance(cardW, "raf-eur"), s.balance("issuance:raf-eur", "raf-eur")]).toEqual([500, -500])
      },
    },
    {
      status: "ok",
      name: "a time currency topped up by its place's cash desk",
      command: raw.topup({ reader: "mana-desk", place: "manapany", asset: "mana-time", amount: 90 }),
      effect: (s) => expect(s.balance(cardW, "mana-time")).toBe(90),
    },
    { status: "bad_request", command: raw.topup({ asset: undefined }), field: "asset" },
    { status: "amount_out_of_range", command: raw.topup({ amount: limits.amountMax + 1 }), field: "amount" },
    conflictOf(raw.topup()),
    { status: "forbidden", name: "a bar reader may not top up", command: raw.topup({ reader: "bar-1" }), field: "reader" },
    { status: "unknown_place", command: raw.topup({ reader: undefined, place: "nowhere" }) },
    { status: "unknown_card", command: raw.topup({ card: unknownUid }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.topup() },
    { status: "unknown_asset", command: raw.topup({ asset: "nope" }) },
    { status: "asset_not_accepted", name: "another place's asset", command: raw.topup({ asset: "mana-time" }), field: "asset" },
    { status: "asset_not_accepted", name: "fed is never topped up in cash", command: raw.topup({ asset: "fed" }) },
    { status: "asset_not_accepted", name: "a membership", command: raw.topup({ asset: "raf-member" }) },
    { status: "supply_limit", scene: (s) => mintWholeSupply(s, "raf-eur", otherW), command: raw.topup({ amount: 1 }), field: "amount" },
    {
      status: "ok",
      name: "the last asset a card may hold",
      genesis: wide,
      scene: (s) => fill(s, cardW, full - 1),
      command: raw.topup(),
      effect: (s) => {
        expect(s.balance(cardW, "raf-eur")).toBe(500)
        expect(assetsHeld(s, cardW)).toBe(full)
      },
    },
    {
      status: "ok",
      name: "a full card takes more of an asset it holds",
      genesis: wide,
      scene: (s) => {
        fill(s, cardW, full - 1)
        s.must(raw.topup({ amount: 100 }))
      },
      command: raw.topup(),
      effect: (s) => expect([s.balance(cardW, "raf-eur"), assetsHeld(s, cardW)]).toEqual([600, full]),
    },
    { status: "wallet_full", name: "one asset more than a card may hold", genesis: wide, scene: (s) => fill(s, cardW, full), command: raw.topup() },
  ],

  refund: [
    {
      status: "ok",
      name: "the place's local_fiat is burnt and fed goes to the place; gift, time and loyalty stay",
      scene: (s) => {
        s.must(raw.topup({ amount: 300 }))
        s.must(raw.topup({ asset: "raf-gift", amount: 100 }))
        refill(s, cardW, 500)
        give(s, cardW, "mana-time", 5)
        give(s, cardW, "mana-pts", 7)
      },
      command: raw.refund(),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("refund")
        expect(tx?.legs).toEqual([
          { asset: "fed", from: cardW, to: raf, amount: 500 },
          { asset: "raf-eur", from: cardW, to: "issuance:raf-eur", amount: 300 },
        ])
        expect(s.balance("issuance:raf-eur", "raf-eur")).toBe(0)
        expect(s.balance(raf, "fed")).toBe(500)
        expect([s.balance(cardW, "raf-gift"), s.balance(cardW, "mana-time"), s.balance(cardW, "mana-pts")]).toEqual([100, 5, 7])
        expect([s.balance(cardW, "fed"), s.balance(cardW, "raf-eur")]).toEqual([0, 0])
      },
    },
    {
      status: "ok",
      name: "another place refunds only fed, never the first place's local_fiat",
      scene: (s) => {
        s.must(raw.topup({ amount: 300 }))
        refill(s, cardW, 40)
      },
      command: raw.refund({ reader: "mana-desk", place: "manapany" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([{ asset: "fed", from: cardW, to: mana, amount: 40 }])
        expect(s.balance(cardW, "raf-eur")).toBe(300)
      },
    },
    { status: "bad_request", command: raw.refund({ card: "04a1b2c3d" }), field: "card" },
    conflictOf(raw.refund()),
    { status: "forbidden", name: "a bar reader may not refund", scene: (s) => refill(s, cardW, 10), command: raw.refund({ reader: "bar-1" }), field: "reader" },
    { status: "unknown_place", command: raw.refund({ reader: undefined, place: "nowhere" }) },
    { status: "unknown_card", command: raw.refund({ card: unknownUid }) },
    { status: "card_blocked", scene: (s) => { refill(s, cardW, 10); block(s, uid) }, command: raw.refund() },
    { status: "nothing_to_refund", name: "gift only", scene: (s) => give(s, cardW, "raf-gift", 100), command: raw.refund() },
    { status: "nothing_to_refund", name: "fed at a place that does not accept fed", scene: (s) => refill(s, cardW, 100), command: raw.refund({ reader: undefined, place: "kiosque" }) },
    { status: "too_many_legs", scene: hugeCard, command: raw.refund() },
  ],

  transfer: [
    {
      status: "ok",
      scene: (s) => refill(s, cardW, 500),
      command: raw.transfer(),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("transfer")
        expect(tx?.legs).toEqual([{ asset: "fed", from: cardW, to: user, amount: 200 }])
        expect([s.balance(cardW, "fed"), s.balance(user, "fed")]).toEqual([300, 200])
      },
    },
    {
      status: "ok",
      name: "to a fused card lands in its user's wallet",
      scene: (s) => {
        refill(s, otherW, 500)
        fuse(s, uid, user2)
      },
      command: raw.transfer({ from: otherW, to: cardW }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([{ asset: "fed", from: otherW, to: user2, amount: 200 }])
        expect(s.balance(user2, "fed")).toBe(200)
      },
    },
    { status: "bad_request", name: "nobody transfers out of issuance:", command: raw.transfer({ from: "issuance:fed" }), field: "from" },
    { status: "bad_request", name: "online refunds alone move fund:refunds", scene: (s) => { paid(s); s.must(raw.withdraw()) }, command: raw.transfer({ from: "fund:refunds", asset: "fed", amount: 1 }), field: "from" },
    { status: "amount_out_of_range", command: raw.transfer({ amount: -1 }), field: "amount" },
    conflictOf(raw.transfer()),
    { status: "unknown_wallet", name: "to a place that does not exist", command: raw.transfer({ to: "place:nowhere" }), field: "to" },
    { status: "unknown_card", command: raw.transfer({ to: `card:${unknownUid}` }), field: "to" },
    { status: "card_blocked", scene: (s) => { refill(s, cardW, 500); block(s, uid) }, command: raw.transfer(), field: "from" },
    { status: "same_wallet", scene: (s) => refill(s, cardW, 500), command: raw.transfer({ to: cardW }), field: "to" },
    { status: "same_wallet", name: "a card and the user it is fused into", scene: (s) => { refill(s, cardW, 500); fuse(s, uid, user) }, command: raw.transfer({ from: user, to: cardW }) },
    { status: "unknown_asset", command: raw.transfer({ asset: "nope" }) },
    { status: "asset_not_transferable", scene: (s) => s.must(raw.subscribe()), command: raw.transfer({ asset: "raf-member", amount: 1 }) },
    { status: "insufficient_funds", scene: (s) => refill(s, cardW, 199), command: raw.transfer() },
    {
      status: "wallet_full",
      name: "to a card holding as many assets as it may",
      genesis: wide,
      scene: (s) => {
        refill(s, otherW, 500)
        fill(s, cardW, full)
      },
      command: raw.transfer({ from: otherW, to: cardW }),
    },
    {
      status: "wallet_full",
      name: "to a full user wallet (cards fused into it pay from it)",
      genesis: wide,
      scene: (s) => {
        refill(s, cardW, 500)
        fill(s, user, full)
      },
      command: raw.transfer(),
    },
  ],

  fusion: [
    {
      status: "ok",
      name: "every balance and membership moves to the user wallet; a membership keeps the later end",
      scene: (s) => {
        refill(s, cardW, 500)
        give(s, cardW, "raf-gift", 100)
        s.must(raw.subscribe({ periodMs: 30 * day }))
        s.must(raw.subscribe({ wallet: user, periodMs: 60 * day }))
        give(s, cardW, "mana-time", 3)
      },
      command: raw.fusion(),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("fusion")
        expect(tx?.legs).toEqual([
          { asset: "fed", from: cardW, to: user, amount: 500 },
          { asset: "mana-time", from: cardW, to: user, amount: 3 },
          { asset: "raf-gift", from: cardW, to: user, amount: 100 },
          { asset: "raf-member", from: cardW, to: user, amount: 0, until: t0 + 60 * day },
        ])
        expect([s.balance(user, "fed"), s.balance(user, "raf-gift"), s.balance(user, "mana-time")]).toEqual([500, 100, 3])
        expect(s.state.wallets.get(cardW as never)?.balances.size).toBe(0)
        expect(membershipUntil(s, cardW, "raf-member")).toBeUndefined()
        expect(membershipUntil(s, user, "raf-member")).toBe(t0 + 60 * day)
        expect(cardOf(s, uid)?.wallet).toBe(user)
        // Later taps on the card debit the user wallet.
        s.must(raw.sale({ amount: 120 }))
        expect([s.balance(user, "raf-gift"), s.balance(user, "fed")]).toEqual([0, 480])
      },
    },
    { status: "bad_request", name: "user must be a user: wallet", command: raw.fusion({ user: "user:not-a-uuid" }), field: "user" },
    conflictOf(raw.fusion()),
    { status: "unknown_card", command: raw.fusion({ card: unknownUid }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.fusion() },
    { status: "already_fused", scene: (s) => fuse(s, uid, user2), command: raw.fusion(), field: "card" },
    { status: "too_many_legs", scene: hugeCard, command: raw.fusion() },
    {
      status: "ok",
      name: "into a full user wallet, of assets it holds already",
      genesis: wide,
      scene: (s) => {
        fill(s, user, full)
        fill(s, cardW, 3)
      },
      command: raw.fusion(),
      effect: (s) => expect([s.balance(user, "raf-g2"), assetsHeld(s, user), assetsHeld(s, cardW)]).toEqual([2, full, 0]),
    },
    {
      status: "wallet_full",
      name: "the card's assets and the user's together are more than a wallet may hold",
      genesis: wide,
      scene: (s) => {
        fill(s, user, full - 1)
        s.must(raw.subscribe())
        refill(s, cardW, 100)
      },
      command: raw.fusion(),
    },
  ],

  subscribe: [
    {
      status: "ok",
      name: "an early renewal, paid by cascade, extends from the current end",
      scene: (s) => {
        give(s, cardW, "raf-gift", 100)
        refill(s, cardW, 1000)
        s.must(raw.subscribe())
        s.now = t0 + 10 * day
      },
      command: raw.subscribe({ amount: 500 }),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("subscribe")
        expect(tx?.legs).toEqual([
          { asset: "raf-gift", from: cardW, to: raf, amount: 100 },
          { asset: "fed", from: cardW, to: raf, amount: 400 },
          { asset: "raf-member", from: "issuance:raf-member", to: cardW, amount: 0, until: t0 + 60 * day },
        ])
        expect(membershipUntil(s, cardW, "raf-member")).toBe(t0 + 60 * day)
        expect(s.balance(cardW, "fed")).toBe(600)
      },
    },
    {
      status: "ok",
      name: "a late renewal starts from now, not from the lapsed end",
      scene: (s) => {
        s.must(raw.subscribe())
        s.now = t0 + 100 * day
      },
      command: raw.subscribe({ reader: "bar-1" }),
      effect: (s) => expect(membershipUntil(s, cardW, "raf-member")).toBe(t0 + 130 * day),
    },
    { status: "bad_request", command: raw.subscribe({ periodMs: 0 }), field: "periodMs" },
    { status: "amount_out_of_range", command: raw.subscribe({ amount: 0 }), field: "amount" },
    conflictOf(raw.subscribe()),
    { status: "forbidden", command: raw.subscribe({ reader: "mana-bar" }), field: "place" },
    { status: "unknown_place", command: raw.subscribe({ place: "nowhere" }) },
    { status: "unknown_card", command: raw.subscribe({ wallet: `card:${unknownUid}` }), field: "wallet" },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.subscribe() },
    { status: "unknown_asset", command: raw.subscribe({ asset: "nope" }) },
    { status: "asset_not_accepted", name: "another place's membership", command: raw.subscribe({ place: "manapany" }), field: "asset" },
    { status: "asset_not_accepted", name: "not a membership", command: raw.subscribe({ asset: "raf-gift" }) },
    { status: "insufficient_funds", scene: (s) => refill(s, cardW, 499), command: raw.subscribe({ amount: 500 }) },
    {
      status: "ok",
      name: "paid with all that is left of an asset, on a full card: the membership takes its place",
      genesis: wide,
      scene: (s) => {
        refill(s, cardW, 500)
        fill(s, cardW, full - 1)
      },
      command: raw.subscribe({ amount: 500 }),
      effect: (s) => {
        expect([s.balance(cardW, "fed"), membershipUntil(s, cardW, "raf-member")]).toEqual([0, t0 + 30 * day])
        expect(assetsHeld(s, cardW)).toBe(full)
      },
    },
    { status: "wallet_full", genesis: wide, scene: (s) => fill(s, cardW, full), command: raw.subscribe() },
  ],

  refill: [
    {
      status: "ok",
      command: raw.refill(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "refill", ref: "pi_1", legs: [{ asset: "fed", from: "issuance:fed", to: cardW, amount: 1000 }] })
        expect(s.balance(cardW, "fed")).toBe(1000)
        expect(s.state.backing.received).toBe(1000)
        expect(s.state.refs.has("pi_1")).toBe(true)
      },
    },
    {
      status: "ok",
      name: "into a place's wallet",
      command: raw.refill({ wallet: raf }),
      effect: (s) => expect(s.balance(raf, "fed")).toBe(1000),
    },
    { status: "bad_request", name: "a fund is not refilled", command: raw.refill({ wallet: "fund:common" }), field: "wallet" },
    { status: "amount_out_of_range", command: raw.refill({ amount: 2 ** 60 }), field: "amount" },
    conflictOf(raw.refill()),
    { status: "unknown_wallet", name: "a place that does not exist", command: raw.refill({ wallet: "place:nowhere" }), field: "wallet" },
    { status: "unknown_card", command: raw.refill({ wallet: `card:${unknownUid}` }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.refill() },
    { status: "duplicate_ref", name: "the same ref twice", scene: (s) => s.must(raw.refill({ wallet: otherW })), command: raw.refill(), field: "ref" },
    { status: "supply_limit", scene: (s) => mintWholeSupply(s, "fed", otherW), command: raw.refill({ amount: 1 }) },
    { status: "wallet_full", genesis: wide, scene: (s) => fill(s, cardW, full), command: raw.refill() },
  ],

  deposit: [
    {
      status: "ok",
      name: "the place's fed is burnt",
      scene: (s) => placeEarnsFed(s, "raffinerie", 250),
      command: raw.deposit(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "deposit", ref: "bank-1", legs: [{ asset: "fed", from: raf, to: "issuance:fed", amount: 100 }] })
        expect([s.balance(raf, "fed"), s.balance("issuance:fed", "fed")]).toEqual([150, -150])
        expect(s.state.backing.paidOut).toBe(100)
      },
    },
    { status: "bad_request", command: raw.deposit({ ref: "has space" }), field: "ref" },
    { status: "amount_out_of_range", command: raw.deposit({ amount: 1e13 }), field: "amount" },
    conflictOf(raw.deposit()),
    { status: "unknown_place", command: raw.deposit({ place: "nowhere" }) },
    { status: "duplicate_ref", scene: (s) => { placeEarnsFed(s, "raffinerie", 250); s.must(raw.deposit()) }, command: raw.deposit() },
    { status: "insufficient_funds", scene: (s) => placeEarnsFed(s, "raffinerie", 99), command: raw.deposit() },
  ],

  withdraw: [
    {
      status: "ok",
      name: "the fed leaves the wallet the refill credited for fund:refunds, and the refund waits",
      scene: paid,
      command: raw.withdraw(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "withdraw", memo: { payment: "pi_1" }, legs: [{ asset: "fed", from: cardW, to: "fund:refunds", amount: 400 }] })
        expect([s.balance(cardW, "fed"), s.balance("fund:refunds", "fed")]).toEqual([600, 400])
        expect(s.state.payments.get("pi_1")).toEqual({ wallet: cardW, paid: 1000, refunded: 0, pending: { tx: tx?.id, amount: 400 } })
        expect(s.state.backing.refunded).toBe(0)
      },
    },
    {
      status: "ok",
      name: "a blocked card's money goes back to the payment it came from",
      scene: (s) => {
        paid(s)
        block(s, uid)
      },
      command: raw.withdraw(),
      effect: (s) => expect(s.balance("fund:refunds", "fed")).toBe(400),
    },
    { status: "bad_request", command: raw.withdraw({ payment: "has space" }), field: "payment" },
    { status: "amount_out_of_range", command: raw.withdraw({ amount: 0 }), field: "amount" },
    conflictOf(raw.withdraw()),
    { status: "unknown_payment", name: "a bank mint's reference is no refill", scene: (s) => s.must({ kind: "mint", asset: "fed", to: cardW, amount: 1000, ref: "pi_1" }), command: raw.withdraw(), field: "payment" },
    { status: "refund_pending", scene: (s) => { paid(s); s.must(raw.withdraw({ amount: 100 })) }, command: raw.withdraw({ amount: 100 }), field: "payment" },
    {
      status: "refund_exceeds_payment",
      name: "more than what remains of the payment once some was refunded",
      scene: (s) => {
        paid(s)
        refill(s, cardW, 5000)
        s.must(raw.withdraw({ amount: 700 }))
        s.must(raw.payback())
      },
      command: raw.withdraw({ amount: 301 }),
      field: "amount",
    },
    { status: "insufficient_funds", name: "what was paid was spent", scene: (s) => { paid(s); s.must({ kind: "sale", place: "raffinerie", card: uid, amount: 700 }) }, command: raw.withdraw(), field: "amount" },
  ],

  payback: [
    {
      status: "ok",
      name: "the processor refunded: the pending fed is burnt and counted refunded",
      scene: (s) => {
        paid(s)
        s.must(raw.withdraw())
      },
      command: raw.payback(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "payback", ref: "re_1", memo: { payment: "pi_1" }, legs: [{ asset: "fed", from: "fund:refunds", to: "issuance:fed", amount: 400 }] })
        expect([s.balance(cardW, "fed"), s.balance("fund:refunds", "fed"), s.balance("issuance:fed", "fed")]).toEqual([600, 0, -600])
        expect(s.state.payments.get("pi_1")).toEqual({ wallet: cardW, paid: 1000, refunded: 400, pending: undefined })
        expect(s.state.backing).toMatchObject({ received: 1000, refunded: 400 })
        expect(s.state.refs.has("re_1")).toBe(true)
      },
    },
    { status: "bad_request", command: raw.payback({ ref: "" }), field: "ref" },
    conflictOf(raw.payback()),
    { status: "unknown_payment", command: raw.payback(), field: "payment" },
    { status: "no_refund_pending", name: "nothing was withdrawn", scene: paid, command: raw.payback(), field: "payment" },
    { status: "no_refund_pending", name: "the refund was restored", scene: (s) => { paid(s); s.must(raw.withdraw()); s.must(raw.restore()) }, command: raw.payback(), field: "payment" },
    { status: "duplicate_ref", name: "a refund's reference is used once", scene: (s) => { paid(s); s.must(raw.withdraw({ amount: 1 })); s.must(raw.payback()); s.must(raw.withdraw({ amount: 1 })) }, command: raw.payback(), field: "ref" },
  ],

  restore: [
    {
      status: "ok",
      name: "the processor refused: the pending fed goes back, and may be asked again",
      scene: (s) => {
        paid(s)
        s.must(raw.withdraw())
      },
      command: raw.restore(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "restore", memo: { payment: "pi_1" }, legs: [{ asset: "fed", from: "fund:refunds", to: cardW, amount: 400 }] })
        expect([s.balance(cardW, "fed"), s.balance("fund:refunds", "fed")]).toEqual([1000, 0])
        expect(s.state.payments.get("pi_1")).toEqual({ wallet: cardW, paid: 1000, refunded: 0, pending: undefined })
        expect(s.run(raw.withdraw({ amount: 1000, request: "again" })).status).toBe("ok")
      },
    },
    { status: "bad_request", command: raw.restore({ payment: 7 }), field: "payment" },
    conflictOf(raw.restore()),
    { status: "unknown_payment", command: raw.restore(), field: "payment" },
    { status: "no_refund_pending", scene: paid, command: raw.restore(), field: "payment" },
  ],

  exchange: [
    {
      status: "ok",
      name: "to_fed: minutes burnt, 20 fed cents a minute from the issuing place",
      scene: (s) => {
        give(s, cardW, "mana-time", 5)
        placeEarnsFed(s, "manapany", 100)
      },
      command: raw.exchange(),
      effect: (s, tx) => {
        expect(tx?.kind).toBe("exchange")
        expect(tx?.legs).toEqual([
          { asset: "mana-time", from: cardW, to: "issuance:mana-time", amount: 3 },
          { asset: "fed", from: mana, to: cardW, amount: 60 },
        ])
        expect([s.balance(cardW, "mana-time"), s.balance(cardW, "fed"), s.balance(mana, "fed")]).toEqual([2, 60, 40])
      },
    },
    {
      status: "ok",
      name: "from_fed: what the holder receives is rounded down (45 cents buy 2 minutes)",
      scene: (s) => refill(s, cardW, 50),
      command: raw.exchange({ direction: "from_fed", amount: 45 }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([
          { asset: "fed", from: cardW, to: mana, amount: 45 },
          { asset: "mana-time", from: "issuance:mana-time", to: cardW, amount: 2 },
        ])
        expect([s.balance(cardW, "fed"), s.balance(cardW, "mana-time"), s.balance(mana, "fed")]).toEqual([5, 2, 45])
      },
    },
    { status: "bad_request", command: raw.exchange({ direction: "sideways" }), field: "direction" },
    { status: "amount_out_of_range", command: raw.exchange({ amount: 0 }), field: "amount" },
    {
      status: "amount_too_large",
      name: "what the amount is worth exceeds 10^12",
      scene: (s) => give(s, cardW, "mana-time", limits.amountMax / 10),
      command: raw.exchange({ amount: limits.amountMax / 10 }),
      field: "amount",
    },
    conflictOf(raw.exchange()),
    { status: "unknown_card", command: raw.exchange({ wallet: `card:${unknownUid}` }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.exchange() },
    { status: "unknown_asset", command: raw.exchange({ asset: "nope" }) },
    { status: "asset_not_exchangeable", name: "no rate", command: raw.exchange({ asset: "raf-gift" }), field: "asset" },
    { status: "asset_not_exchangeable", name: "fed itself", command: raw.exchange({ asset: "fed" }) },
    { status: "amount_too_small", name: "19 fed cents are worth less than a minute", scene: (s) => refill(s, cardW, 100), command: raw.exchange({ direction: "from_fed", amount: 19 }) },
    { status: "insufficient_funds", scene: (s) => give(s, cardW, "mana-time", 2), command: raw.exchange() },
    { status: "insufficient_reserve", name: "the issuing place holds too little fed", scene: (s) => { give(s, cardW, "mana-time", 3); placeEarnsFed(s, "manapany", 59) }, command: raw.exchange() },
    {
      status: "supply_limit",
      scene: (s) => {
        mintWholeSupply(s, "raf-eur", otherW)
        refill(s, cardW, 10)
      },
      command: raw.exchange({ asset: "raf-eur", direction: "from_fed", amount: 1 }),
    },
    {
      status: "ok",
      name: "all of an asset for fed, on a full card: fed takes its place",
      genesis: wide,
      scene: (s) => {
        give(s, cardW, "mana-time", 3)
        fill(s, cardW, full - 1)
        placeEarnsFed(s, "manapany", 100)
      },
      command: raw.exchange(),
      effect: (s) => expect([s.balance(cardW, "mana-time"), s.balance(cardW, "fed"), assetsHeld(s, cardW)]).toEqual([0, 60, full]),
    },
    {
      status: "wallet_full",
      name: "part of an asset for fed, on a full card",
      genesis: wide,
      scene: (s) => {
        give(s, cardW, "mana-time", 5)
        fill(s, cardW, full - 1)
        placeEarnsFed(s, "manapany", 100)
      },
      command: raw.exchange(),
    },
  ],

  demurrage: [
    {
      status: "ok",
      name: "percent: 2 % a period, compounding over 3 periods; fed's place share goes to the common fund",
      scene: (s) => {
        refill(s, cardW, 10_000)
        s.now = t0 + fedIdleMs + 3 * fedPeriodMs
      },
      command: raw.demurrage(),
      // 10000 -> 200 -> 196 -> 192 (9604 × 2 % = 192.08): 588 melted, not the 600 of simple interest.
      // Split 0/9/1: maintenance floor(588 / 10) = 58, the rest, 530, to the common fund.
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "demurrage", memo: { wallet: cardW, asset: "fed", meltedUntil: t0 + fedIdleMs + 3 * fedPeriodMs } })
        expect(tx?.legs).toEqual([
          { asset: "fed", from: cardW, to: "fund:common", amount: 530 },
          { asset: "fed", from: cardW, to: "fund:maintenance", amount: 58 },
        ])
        expect(s.balance(cardW, "fed")).toBe(9412)
        // Melting is not activity: the wallet stays idle.
        expect(s.state.wallets.get(cardW as never)?.lastActivityMs).toBe(t0)
      },
    },
    {
      status: "ok",
      name: "fixed: 10 minutes a period, split 1/1/1 with the remainder to the common fund",
      scene: (s) => {
        give(s, cardW, "mana-time", 100)
        s.now = t0 + timeIdleMs + 2 * timePeriodMs
      },
      command: raw.demurrage({ asset: "mana-time" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([
          { asset: "mana-time", from: cardW, to: "fund:common", amount: 8 },
          { asset: "mana-time", from: cardW, to: "fund:maintenance", amount: 6 },
          { asset: "mana-time", from: cardW, to: mana, amount: 6 },
        ])
        expect(s.balance(cardW, "mana-time")).toBe(80)
      },
    },
    {
      status: "ok",
      name: "all: the whole balance, all to the place",
      scene: (s) => {
        give(s, cardW, "mana-pts", 50)
        s.now = t0 + 365 * day + day
      },
      command: raw.demurrage({ asset: "mana-pts" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([{ asset: "mana-pts", from: cardW, to: mana, amount: 50 }])
        expect(s.balance(cardW, "mana-pts")).toBe(0)
      },
    },
    {
      status: "ok",
      name: "a part period is carried to the next melt",
      scene: (s) => {
        give(s, cardW, "mana-time", 100)
        s.now = t0 + timeIdleMs + 2.5 * timePeriodMs
        s.must(raw.demurrage({ asset: "mana-time" }))
        s.now = t0 + timeIdleMs + 3 * timePeriodMs
      },
      command: raw.demurrage({ asset: "mana-time" }),
      effect: (s, tx) => {
        expect(tx?.legs.reduce((sum, leg) => sum + leg.amount, 0)).toBe(10)
        expect(s.balance(cardW, "mana-time")).toBe(70)
        expect(s.state.wallets.get(cardW as never)?.meltedUntilMs.get("mana-time" as never)).toBe(t0 + timeIdleMs + 3 * timePeriodMs)
      },
    },
    { status: "bad_request", name: "a fund does not melt", command: raw.demurrage({ wallet: "fund:common" }), field: "wallet" },
    conflictOf(raw.demurrage()),
    { status: "unknown_asset", command: raw.demurrage({ asset: "nope" }) },
    { status: "no_demurrage", command: raw.demurrage({ asset: "raf-eur" }), field: "asset" },
    {
      status: "not_idle",
      name: "idle exactly idleMs is not yet idle",
      scene: (s) => {
        refill(s, cardW, 10_000)
        s.now = t0 + fedIdleMs
      },
      command: raw.demurrage(),
      field: "wallet",
    },
    {
      status: "nothing_to_melt",
      name: "idle, but not one whole period yet",
      scene: (s) => {
        refill(s, cardW, 10_000)
        s.now = t0 + fedIdleMs + fedPeriodMs - 1
      },
      command: raw.demurrage(),
    },
    {
      status: "nothing_to_melt",
      name: "melting twice at the same time",
      scene: (s) => {
        refill(s, cardW, 10_000)
        s.now = t0 + fedIdleMs + 3 * fedPeriodMs
        s.must(raw.demurrage())
      },
      command: raw.demurrage(),
    },
    {
      status: "nothing_to_melt",
      name: "a place's own share does not melt into itself",
      scene: (s) => {
        give(s, mana, "mana-pts", 50)
        s.now = t0 + 400 * day
      },
      command: raw.demurrage({ wallet: mana, asset: "mana-pts" }),
    },
  ],

  void: [
    {
      status: "ok",
      name: "lost: the card is blocked",
      scene: (s) => refill(s, cardW, 100),
      command: raw.void(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "void", card: uid, legs: [], memo: { status: "blocked" } })
        expect(cardOf(s, uid)?.status).toBe("blocked")
        expect(s.balance(cardW, "fed")).toBe(100)
        expect(s.run(raw.sale()).status).toBe("card_blocked")
      },
    },
    {
      status: "ok",
      name: "a blocked card then voided",
      scene: (s) => block(s, uid),
      command: raw.void({ reason: "voided" }),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ memo: { status: "voided" }, legs: [] })
        expect(cardOf(s, uid)?.status).toBe("voided")
      },
    },
    {
      status: "ok",
      name: "voided with a refund place: its local_fiat burnt, fed to the place, gift kept",
      scene: (s) => {
        s.must(raw.topup({ amount: 300 }))
        give(s, cardW, "raf-gift", 50)
        refill(s, cardW, 200)
      },
      command: raw.void({ reason: "voided", place: "raffinerie" }),
      effect: (s, tx) => {
        expect(tx?.legs).toEqual([
          { asset: "fed", from: cardW, to: raf, amount: 200 },
          { asset: "raf-eur", from: cardW, to: "issuance:raf-eur", amount: 300 },
        ])
        expect(cardOf(s, uid)?.status).toBe("voided")
        expect(s.balance(cardW, "raf-gift")).toBe(50)
      },
    },
    { status: "bad_request", command: raw.void({ reason: "stolen" }), field: "reason" },
    conflictOf(raw.void()),
    { status: "unknown_card", command: raw.void({ card: unknownUid }) },
    { status: "already_void", name: "lost twice", scene: (s) => block(s, uid), command: raw.void(), field: "card" },
    { status: "already_void", name: "voided, then reported lost", scene: (s) => s.must(raw.void({ reason: "voided" })), command: raw.void() },
    { status: "unknown_place", command: raw.void({ place: "nowhere" }) },
    { status: "too_many_legs", scene: hugeCard, command: raw.void({ place: "raffinerie" }) },
  ],

  mint: [
    {
      status: "ok",
      command: raw.mint({ ref: "gift-1" }),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "mint", ref: "gift-1", legs: [{ asset: "raf-gift", from: "issuance:raf-gift", to: cardW, amount: 100 }] })
        expect([s.balance(cardW, "raf-gift"), s.balance("issuance:raf-gift", "raf-gift")]).toEqual([100, -100])
        expect(s.state.backing.received).toBe(0)
      },
    },
    {
      status: "ok",
      name: "minted fed counts as euros received",
      command: raw.mint({ asset: "fed", to: "fund:common" }),
      effect: (s) => {
        expect(s.balance("fund:common", "fed")).toBe(100)
        expect(s.state.backing.received).toBe(100)
      },
    },
    { status: "bad_request", command: raw.mint({ to: "issuance:raf-gift" }), field: "to" },
    { status: "amount_out_of_range", command: raw.mint({ amount: Number.MAX_SAFE_INTEGER + 2 }), field: "amount" },
    conflictOf(raw.mint()),
    { status: "unknown_asset", command: raw.mint({ asset: "nope" }) },
    { status: "asset_not_mintable", command: raw.mint({ asset: "raf-member" }), field: "asset" },
    { status: "unknown_wallet", name: "a place that does not exist", command: raw.mint({ to: "place:nowhere" }), field: "to" },
    { status: "unknown_wallet", name: "a fund that does not exist", command: raw.mint({ to: "fund:nowhere" }), field: "to" },
    { status: "unknown_card", command: raw.mint({ to: `card:${unknownUid}` }) },
    { status: "card_blocked", scene: (s) => block(s, uid), command: raw.mint() },
    { status: "duplicate_ref", name: "refills and mints share their refs", scene: (s) => s.must(raw.refill({ wallet: otherW })), command: raw.mint({ ref: "pi_1" }), field: "ref" },
    { status: "supply_limit", scene: (s) => mintWholeSupply(s, "raf-gift", otherW), command: raw.mint({ amount: 1 }) },
    {
      status: "ok",
      name: "a place's wallet holds any number of assets",
      genesis: wide,
      scene: (s) => fill(s, raf, full),
      command: raw.mint({ to: raf }),
      effect: (s) => expect(assetsHeld(s, raf)).toBe(full + 1),
    },
    { status: "wallet_full", genesis: wide, scene: (s) => fill(s, cardW, full), command: raw.mint() },
  ],
  validators: [
    {
      status: "ok",
      name: "adding a key keeps the threshold and carries the whole new set",
      command: raw.validators(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "validators", legs: [], memo: { keys: [genesisValidator, newValidator], threshold: 1 } })
        expect(s.state.validators).toEqual({ keys: [genesisValidator, newValidator], threshold: 1 })
      },
    },
    {
      status: "ok",
      name: "removing a key lowers a threshold that no longer fits",
      scene: (s) => s.must(raw.validators({ threshold: 2 })),
      command: raw.validators({ add: undefined, remove: genesisValidator }),
      effect: (s) => expect(s.state.validators).toEqual({ keys: [newValidator], threshold: 1 }),
    },
    { status: "bad_request", name: "a change that changes nothing", command: raw.validators({ add: undefined }) },
    { status: "bad_request", name: "a key that is no validator id", command: raw.validators({ add: "short" }), field: "add" },
    { status: "bad_request", name: "adding and removing one key", command: raw.validators({ remove: newValidator }), field: "remove" },
    { status: "bad_request", name: "a threshold of 0", command: raw.validators({ threshold: 0 }), field: "threshold" },
    conflictOf(raw.validators()),
    { status: "already_member", command: raw.validators({ add: genesisValidator }), field: "add" },
    { status: "not_member", command: raw.validators({ add: undefined, remove: newValidator }), field: "remove" },
    { status: "threshold_out_of_range", name: "above the number of keys", command: raw.validators({ threshold: 3 }), field: "threshold" },
    { status: "threshold_out_of_range", name: "removing the last key", command: raw.validators({ add: undefined, remove: genesisValidator }), field: "threshold" },
  ],

  place: [
    {
      status: "ok",
      name: "a new place: its wallet is known at once and its sales are paid from what it accepts",
      scene: (s) => refill(s, cardW, 100),
      command: raw.place(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "place", legs: [] })
        expect(s.state.places.get("epicerie" as never)).toEqual({ id: "epicerie", name: "L'Épicerie", accepts: ["fed"] })
        s.must(raw.sale({ place: "epicerie", amount: 30 }))
        expect([s.balance("place:epicerie", "fed"), s.balance(cardW, "fed")]).toEqual([30, 70])
      },
    },
    {
      status: "ok",
      name: "with a membership required, tills that need staff and a payout account",
      command: raw.place({ membershipRequired: "raf-member", staffRequired: true, payout }),
      effect: (s) => {
        expect(s.state.places.get("epicerie" as never)).toEqual({
          id: "epicerie",
          name: "L'Épicerie",
          accepts: ["fed"],
          membershipRequired: "raf-member",
          staffRequired: true,
          payout,
        })
      },
    },
    {
      status: "ok",
      name: "a place redefined keeps its wallet, and what it accepts changes at once",
      scene: (s) => {
        placeEarnsFed(s, "raffinerie", 100)
        give(s, cardW, "raf-gift", 50)
      },
      command: raw.place({ id: "raffinerie", name: "La Raffinerie", accepts: ["fed"] }),
      effect: (s) => {
        expect(s.state.places.get("raffinerie" as never)?.accepts).toEqual(["fed"])
        expect(s.balance(raf, "fed")).toBe(100)
        expect(s.run(raw.sale({ asset: "raf-gift", amount: 10 })).status).toBe("asset_not_accepted")
      },
    },
    { status: "bad_request", name: "an asset accepted twice", command: raw.place({ accepts: ["fed", "fed"] }), field: "accepts[1]" },
    { status: "bad_request", name: "an empty name", command: raw.place({ name: "" }), field: "name" },
    { status: "bad_request", name: "an IBAN written with spaces", command: raw.place({ payout: { ...payout, iban: "FR76 3000 6000 0112 3456 7890 189" } }), field: "payout.iban" },
    { status: "bad_request", name: "an IBAN whose check digits are wrong", command: raw.place({ payout: { ...payout, iban: "FR7730006000011234567890189" } }), field: "payout.iban" },
    conflictOf(raw.place()),
    { status: "unknown_asset", name: "an accepted asset that does not exist", command: raw.place({ accepts: ["fed", "nope"] }), field: "accepts[1]" },
    { status: "unknown_asset", name: "a required membership that is no membership asset", command: raw.place({ membershipRequired: "raf-gift" }), field: "membershipRequired" },
  ],

  asset: [
    {
      status: "ok",
      name: "a new gift asset of a place, minted at once",
      command: raw.asset(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "asset", legs: [] })
        expect(s.state.assets.get("raf-bon" as never)).toEqual({ id: "raf-bon", kind: "gift", name: "Bon d'achat", issuer: "raffinerie" })
        s.must(raw.mint({ asset: "raf-bon" }))
        expect(s.balance(cardW, "raf-bon")).toBe(100)
      },
    },
    {
      status: "ok",
      name: "a new rate and no policy: exchanges use the rate at once, and the asset no longer melts",
      scene: (s) => {
        give(s, cardW, "mana-time", 5)
        placeEarnsFed(s, "manapany", 100)
      },
      command: raw.asset({ id: "mana-time", assetKind: "time", name: "Temps", issuer: "manapany", exchange: { fed: 10, local: 1 } }),
      effect: (s) => {
        expect(s.state.assets.get("mana-time" as never)).toEqual({ id: "mana-time", kind: "time", name: "Temps", issuer: "manapany", exchange: { fed: 10, local: 1 } })
        const exchanged = s.must(raw.exchange())
        expect(exchanged.ok && exchanged.tx?.legs[1]).toEqual({ asset: "fed", from: mana, to: cardW, amount: 30 })
        s.now = t0 + 400 * day
        expect(s.run(raw.demurrage({ asset: "mana-time" })).status).toBe("no_demurrage")
      },
    },
    {
      status: "ok",
      name: "a demurrage policy given to an asset of a place registered just before",
      scene: (s) => s.must(raw.place()),
      command: raw.asset({ id: "epi-pts", assetKind: "loyalty", name: "Points", issuer: "epicerie", demurrage: { idleMs: day, periodMs: day, rule: { kind: "all" }, shares: { place: 1, fund: 0, maintenance: 0 } } }),
      effect: (s) => {
        expect(s.state.assets.get("epi-pts" as never)).toMatchObject({ kind: "loyalty", issuer: "epicerie", demurrage: { idleMs: day, rule: { kind: "all" } } })
        give(s, cardW, "epi-pts", 40)
        s.now = t0 + 3 * day
        s.must(raw.demurrage({ asset: "epi-pts" }))
        expect([s.balance(cardW, "epi-pts"), s.balance("place:epicerie", "epi-pts")]).toEqual([0, 40])
      },
    },
    {
      status: "ok",
      name: "the fed asset renamed, its policy dropped; it stays the federation's fed",
      command: raw.asset({ id: "fed", assetKind: "fed", name: "Euro", issuer: undefined }),
      effect: (s) => {
        expect(s.state.assets.get("fed" as never)).toEqual({ id: "fed", kind: "fed", name: "Euro" })
        expect(s.state.fed).toBe("fed")
      },
    },
    { status: "bad_request", name: "the fed asset has no issuer", command: raw.asset({ id: "fed", assetKind: "fed" }), field: "issuer" },
    { status: "bad_request", name: "any other asset has one", command: raw.asset({ issuer: undefined }), field: "issuer" },
    { status: "bad_request", name: "a kind that is none", command: raw.asset({ assetKind: "voucher" }), field: "assetKind" },
    { status: "bad_request", name: "a rate of 0", command: raw.asset({ exchange: { fed: 0, local: 1 } }), field: "exchange.fed" },
    conflictOf(raw.asset()),
    { status: "unknown_place", command: raw.asset({ issuer: "nowhere" }), field: "issuer" },
    { status: "asset_fixed", name: "its kind never changes", command: raw.asset({ id: "raf-gift", assetKind: "loyalty", name: "Cadeau" }), field: "assetKind" },
    { status: "asset_fixed", name: "its issuer never changes", command: raw.asset({ id: "raf-gift", issuer: "manapany", name: "Cadeau" }), field: "issuer" },
    { status: "asset_fixed", name: "a second fed asset", command: raw.asset({ id: "fed-2", assetKind: "fed", issuer: undefined }), field: "assetKind" },
  ],

  reader: [
    {
      status: "ok",
      name: "a new bar reader acts for its place only",
      command: raw.reader(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "reader", legs: [] })
        expect(s.state.readers.get("bar-3" as never)).toEqual({ id: "bar-3", place: "raffinerie", role: "bar", tokenSha256: newToken })
        s.must(raw.badge({ reader: "bar-3" }))
        expect(s.run(raw.badge({ reader: "bar-3", place: "manapany" })).status).toBe("forbidden")
        expect(s.run(raw.topup({ reader: "bar-3" })).status).toBe("forbidden")
      },
    },
    {
      status: "ok",
      name: "a new cash desk tops up",
      command: raw.reader({ id: "desk-2", role: "cashdesk" }),
      effect: (s) => {
        s.must(raw.topup({ reader: "desk-2" }))
        expect(s.balance(cardW, "raf-eur")).toBe(500)
      },
    },
    {
      status: "ok",
      name: "revoked: it stays known, and is refused forbidden at once",
      command: { kind: "reader", id: "bar-1", revoke: true },
      effect: (s) => {
        expect(s.state.readers.get("bar-1" as never)).toEqual({ id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: "a".repeat(64), revoked: true })
        const refused = s.run(raw.badge({ reader: "bar-1" }))
        expect([refused.status, refused.ok ? undefined : refused.field]).toEqual(["forbidden", "reader"])
        expect(s.run(raw.block({ reader: "bar-1", place: "raffinerie" })).status).toBe("forbidden")
      },
    },
    {
      status: "ok",
      name: "a revoked id registered again, for another place, with a new token",
      scene: (s) => revoke(s, "bar-1"),
      command: raw.reader({ id: "bar-1", place: "manapany" }),
      effect: (s) => {
        expect(s.state.readers.get("bar-1" as never)).toEqual({ id: "bar-1", place: "manapany", role: "bar", tokenSha256: newToken })
        s.must(raw.badge({ reader: "bar-1", place: "manapany" }))
        expect(s.run(raw.badge({ reader: "bar-1" })).status).toBe("forbidden")
      },
    },
    { status: "bad_request", name: "a revocation that names a place", command: { kind: "reader", id: "bar-1", revoke: true, place: "raffinerie" }, field: "place" },
    { status: "bad_request", name: "revoke is true or absent", command: { kind: "reader", id: "bar-1", revoke: false }, field: "revoke" },
    { status: "bad_request", name: "a new reader without its token", command: raw.reader({ tokenSha256: undefined }), field: "tokenSha256" },
    { status: "bad_request", name: "a token in capitals", command: raw.reader({ tokenSha256: "F".repeat(64) }), field: "tokenSha256" },
    { status: "bad_request", name: "a manager is a staff card, not a reader", command: raw.reader({ role: "manager" }), field: "role" },
    { status: "bad_request", name: "the token of another reader", command: raw.reader({ tokenSha256: "c".repeat(64) }), field: "tokenSha256" },
    { status: "bad_request", name: "the token of a revoked reader", scene: (s) => revoke(s, "bar-1"), command: raw.reader({ tokenSha256: "a".repeat(64) }), field: "tokenSha256" },
    conflictOf(raw.reader()),
    { status: "unknown_place", command: raw.reader({ place: "nowhere" }), field: "place" },
    { status: "reader_exists", command: raw.reader({ id: "bar-2" }), field: "id" },
    { status: "unknown_reader", name: "revoking a reader never registered", command: { kind: "reader", id: "ghost", revoke: true }, field: "id" },
    { status: "unknown_reader", name: "revoking twice", scene: (s) => revoke(s, "bar-1"), command: { kind: "reader", id: "bar-1", revoke: true }, field: "id" },
  ],

  cards: [
    {
      status: "ok",
      name: "a new card is usable at once; a known card listed again stays as it is, blocked or not",
      scene: (s) => {
        refill(s, cardW, 100)
        block(s, uid)
      },
      command: raw.cards({ cards: [{ card: newUid }, { card: uid }] }),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "cards", legs: [] })
        expect(cardOf(s, newUid)).toMatchObject({ pseudonym: newUid, status: "active", wallet: `card:${newUid}`, staff: undefined })
        s.must(raw.refill({ wallet: `card:${newUid}`, ref: "pi_new" }))
        s.must(raw.sale({ card: newUid, amount: 10 }))
        expect(cardOf(s, uid)).toMatchObject({ status: "blocked", staff: undefined })
        expect(s.balance(cardW, "fed")).toBe(100)
      },
    },
    {
      status: "ok",
      name: "staff rights given to a card that holds money, which stays",
      scene: (s) => refill(s, cardW, 100),
      command: raw.cards({ cards: [{ card: uid, staff: staffRights }] }),
      effect: (s) => {
        expect(cardOf(s, uid)?.staff).toEqual(staffRights)
        expect([cardOf(s, uid)?.status, s.balance(cardW, "fed")]).toEqual(["active", 100])
      },
    },
    {
      status: "ok",
      name: "a staff entry again replaces the rights whole",
      scene: (s) => s.must(raw.cards({ cards: [{ card: uid, staff: staffRights }] })),
      command: raw.cards({ cards: [{ card: uid, staff: { places: ["manapany"], roles: ["cashdesk"], until: t0 + day } }] }),
      effect: (s) => expect(cardOf(s, uid)?.staff).toEqual({ places: ["manapany"], roles: ["cashdesk"], until: t0 + day }),
    },
    {
      status: "ok",
      name: "staff rights revoked with null",
      scene: (s) => s.must(raw.cards({ cards: [{ card: uid, staff: staffRights }] })),
      command: raw.cards({ cards: [{ card: uid, staff: null }] }),
      effect: (s) => expect(cardOf(s, uid)?.staff).toBeUndefined(),
    },
    {
      status: "ok",
      name: "an entry without staff leaves a card's rights as they are",
      scene: (s) => s.must(raw.cards({ cards: [{ card: uid, staff: staffRights }] })),
      command: raw.cards({ cards: [{ card: uid }, { card: newUid, staff: staffRights }] }),
      effect: (s) => {
        expect(cardOf(s, uid)?.staff).toEqual(staffRights)
        expect(cardOf(s, newUid)?.staff).toEqual(staffRights)
      },
    },
    { status: "bad_request", name: "no card", command: raw.cards({ cards: [] }), field: "cards" },
    { status: "bad_request", name: "a card listed twice", command: raw.cards({ cards: [{ card: newUid }, { card: newUid, staff: null }] }), field: "cards[1].card" },
    { status: "bad_request", name: "a card by its uid, not its pseudonym", command: raw.cards({ cards: [{ card: "0a0b0c0d" }] }), field: "cards[0].card" },
    { status: "bad_request", name: "a pseudonym in capitals", command: raw.cards({ cards: [{ card: newUid.toUpperCase() }] }), field: "cards[0].card" },
    {
      status: "ok",
      name: "the genesis's cards, in two transactions without approvals, once block 0 commits to them",
      fromBlock0: true,
      scene: (s) => s.must({ kind: "cards", cards: [...cards].sort().slice(0, 2).map((card) => ({ card })) }),
      command: { kind: "cards", cards: [...cards].sort().slice(2).map((card) => ({ card })) },
      effect: (s, tx) => {
        expect(tx?.approvals).toBeUndefined()
        expect([...s.state.cards.keys()].sort()).toEqual([...cards].sort())
        // From now on, cards are a steward's to add.
        expect(s.runWith(raw.cards({ request: "later" }), undefined).status).toBe("approvals_missing")
      },
    },
    {
      status: "forbidden",
      name: "genesis cards that are not the ones block 0 commits to",
      fromBlock0: true,
      command: { kind: "cards", cards: [...cards.slice(1), newUid].map((card) => ({ card })) },
      field: "cards",
    },
    {
      status: "forbidden",
      name: "more genesis cards than block 0 commits to",
      fromBlock0: true,
      command: { kind: "cards", cards: [...cards, newUid].map((card) => ({ card })) },
      field: "cards",
    },
    {
      status: "forbidden",
      name: "a genesis card with staff rights",
      fromBlock0: true,
      command: { kind: "cards", cards: [{ card: uid, staff: staffRights }] },
      field: "cards[0].staff",
    },
    {
      status: "forbidden",
      name: "a genesis card registered twice",
      fromBlock0: true,
      scene: (s) => s.must({ kind: "cards", cards: [{ card: uid }] }),
      command: { kind: "cards", cards: [{ card: uid }] },
      field: "cards[0].card",
    },
    { status: "bad_request", name: "a role that is none", command: raw.cards({ cards: [{ card: uid, staff: { ...staffRights, roles: ["admin"] } }] }), field: "cards[0].staff.roles[0]" },
    { status: "bad_request", name: "staff rights without an end", command: raw.cards({ cards: [{ card: uid, staff: { places: ["raffinerie"], roles: ["bar"] } }] }), field: "cards[0].staff.until" },
    { status: "bad_request", name: "staff rights for no place", command: raw.cards({ cards: [{ card: uid, staff: { ...staffRights, places: [] } }] }), field: "cards[0].staff.places" },
    conflictOf(raw.cards()),
    { status: "unknown_place", command: raw.cards({ cards: [{ card: newUid }, { card: uid, staff: { ...staffRights, places: ["raffinerie", "nowhere"] } }] }), field: "cards[1].staff.places[1]" },
  ],

  block: [
    {
      status: "ok",
      name: "lost: the card is blocked, its money stays, and it is refused card_blocked",
      scene: (s) => refill(s, cardW, 100),
      command: raw.block(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "block", card: uid, legs: [] })
        expect(cardOf(s, uid)?.status).toBe("blocked")
        expect(s.balance(cardW, "fed")).toBe(100)
        expect(s.run(raw.sale({ amount: 10 })).status).toBe("card_blocked")
        expect(s.run(raw.check()).status).toBe("card_blocked")
      },
    },
    {
      status: "ok",
      name: "by a reader of the place",
      command: raw.block({ reader: "bar-1", place: "raffinerie" }),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "block", card: uid, reader: "bar-1", place: "raffinerie", legs: [] })
        expect(cardOf(s, uid)?.status).toBe("blocked")
      },
    },
    {
      status: "ok",
      name: "voided for good, no money moving",
      scene: (s) => refill(s, cardW, 100),
      command: raw.block({ reason: "voided" }),
      effect: (s) => {
        expect([cardOf(s, uid)?.status, s.balance(cardW, "fed")]).toEqual(["voided", 100])
        expect(s.run(raw.void({ reason: "voided", place: "raffinerie" })).status).toBe("already_void")
      },
    },
    {
      status: "ok",
      name: "a blocked card then voided",
      scene: (s) => block(s, uid),
      command: raw.block({ reason: "voided" }),
      effect: (s) => expect(cardOf(s, uid)?.status).toBe("voided"),
    },
    { status: "bad_request", command: raw.block({ reason: "stolen" }), field: "reason" },
    { status: "bad_request", name: "a reader names its place", command: raw.block({ reader: "bar-1" }), field: "place" },
    conflictOf(raw.block()),
    { status: "forbidden", name: "a reader of another place", command: raw.block({ reader: "mana-bar", place: "raffinerie" }), field: "place" },
    { status: "forbidden", name: "a revoked reader", scene: (s) => revoke(s, "bar-1"), command: raw.block({ reader: "bar-1", place: "raffinerie" }), field: "reader" },
    { status: "unknown_place", command: raw.block({ place: "nowhere" }), field: "place" },
    { status: "unknown_card", command: raw.block({ card: unknownUid }), field: "card" },
    { status: "already_void", name: "lost twice", scene: (s) => block(s, uid), command: raw.block(), field: "card" },
    { status: "already_void", name: "voided, then reported lost", scene: (s) => s.must(raw.block({ reason: "voided" })), command: raw.block(), field: "card" },
  ],

  stewards: [
    {
      status: "ok",
      command: raw.stewards(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "stewards", legs: [] })
        expect(s.state.stewards).toEqual({ keys: stewardKeys, threshold: 2 })
      },
    },
    {
      status: "ok",
      name: "a new set replaces the whole set",
      scene: (s) => s.must(raw.stewards()),
      command: raw.stewards({ keys: [observerKey], threshold: 1 }),
      effect: (s) => expect(s.state.stewards).toEqual({ keys: [observerKey], threshold: 1 }),
    },
    { status: "bad_request", name: "no key", command: raw.stewards({ keys: [] }), field: "keys" },
    { status: "bad_request", name: "a key twice", command: raw.stewards({ keys: [observerKey, observerKey], threshold: 1 }), field: "keys[1]" },
    { status: "bad_request", name: "a key that is no key", command: raw.stewards({ keys: ["not-a-key"], threshold: 1 }), field: "keys[0]" },
    { status: "bad_request", name: "a threshold of 0", command: raw.stewards({ threshold: 0 }), field: "threshold" },
    conflictOf(raw.stewards()),
    { status: "threshold_out_of_range", command: raw.stewards({ threshold: 3 }), field: "threshold" },
  ],

  observers: [
    {
      status: "ok",
      command: raw.observers(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "observers", legs: [] })
        expect(s.state.observers).toEqual([observerKey])
      },
    },
    {
      status: "ok",
      name: "an empty list leaves no observer",
      scene: (s) => s.must(raw.observers({ keys: stewardKeys })),
      command: raw.observers({ keys: [] }),
      effect: (s) => expect(s.state.observers).toEqual([]),
    },
    { status: "bad_request", name: "a key twice", command: raw.observers({ keys: [observerKey, observerKey] }), field: "keys[1]" },
    { status: "bad_request", name: "a key that is no key", command: raw.observers({ keys: ["not-a-key"] }), field: "keys[0]" },
    conflictOf(raw.observers()),
  ],

  rules: [
    {
      status: "ok",
      command: raw.rules(),
      effect: (s, tx) => {
        expect(tx).toMatchObject({ kind: "rules", legs: [] })
        expect(s.state.rules).toEqual({ version: 1, from: 10 })
      },
    },
    { status: "bad_request", name: "a version this engine does not implement", command: raw.rules({ version: 2 }), field: "version" },
    { status: "bad_request", name: "a height below 0", command: raw.rules({ from: -1 }), field: "from" },
    conflictOf(raw.rules()),
  ],
}

/** A session on the federation of a genesis document (the fixture's by default). */
export const sessionOf = (document: GenesisDocument = genesisDocument, fromBlock0 = false): Session => {
  if (!fromBlock0) return new Session(stateOf(document))
  const decoded = decodeGenesis(ledgerDocumentOf(document))
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return new Session(ledgerFromGenesis(decoded.value))
}

export const title = (scenario: Scenario): string => (scenario.name === undefined ? scenario.status : `${scenario.status}: ${scenario.name}`)

/** Every scenario of every kind, with its kind. */
export const allScenarios = (): Array<{ readonly kind: CommandKind; readonly scenario: Scenario }> =>
  (Object.keys(scenarios) as CommandKind[]).flatMap((kind) => scenarios[kind].map((scenario) => ({ kind, scenario })))
