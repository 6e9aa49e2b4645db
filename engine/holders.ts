/**
 * The checks every command shares: the reader may act for the place, the place, card and asset
 * exist, a card is usable, and a holder's wallet is found through its card. Each returns the thing
 * or the failure to report, so that commands read as a list of checks in order of precedence.
 */
import * as limits from "./limits.js"
import type { AssetId, CardId, PlaceId, ReaderId, WalletId } from "./names.js"
import { commonFund, maintenanceFund, walletKind, walletRest } from "./names.js"
import { fail, isFailure, type Failure } from "./outcome.js"
import type { Asset, Card, LedgerState, Leg, Place, Wallet } from "./state.js"

/** A reader acts only for its own place, and only a cash desk may top up or refund. */
export const authorize = (
  state: LedgerState,
  reader: ReaderId | undefined,
  place: PlaceId | undefined,
  needsCashdesk: boolean,
): Failure<"forbidden"> | undefined => {
  if (reader === undefined) return undefined
  const known = state.readers.get(reader)
  if (known === undefined || known.revoked === true) return fail("forbidden", `reader ${reader} is not registered`, "reader")
  if (place !== undefined && known.place !== place) {
    return fail("forbidden", `reader ${reader} belongs to ${known.place}, not ${place}`, "place")
  }
  if (needsCashdesk && known.role !== "cashdesk") {
    return fail("forbidden", `reader ${reader} is a ${known.role} reader, not a cash desk`, "reader")
  }
  return undefined
}

export const findPlace = (state: LedgerState, id: PlaceId): Place | Failure<"unknown_place"> =>
  state.places.get(id) ?? fail("unknown_place", `no place ${id}`, "place")

export const findAsset = (state: LedgerState, id: AssetId): Asset | Failure<"unknown_asset"> =>
  state.assets.get(id) ?? fail("unknown_asset", `no asset ${id}`, "asset")

/** A card that exists and is active. */
export const usableCard = (
  state: LedgerState,
  id: CardId,
  field = "card",
): Card | Failure<"unknown_card" | "card_blocked"> => {
  const card = state.cards.get(id)
  if (card === undefined) return fail("unknown_card", `no card ${id}`, field)
  if (card.status !== "active") return fail("card_blocked", `card ${id} is ${card.status}`, field)
  return card
}

/** Funds that exist in every federation; other fund names are unknown wallets. */
export const knownFunds: ReadonlySet<string> = new Set([commonFund, maintenanceFund])

/**
 * Why a wallet named in a command does not exist, if it does not: a place wallet of an unknown place,
 * a fund other than the known funds, a card wallet of an unknown card. User wallets always exist.
 */
export const unknownHolder = (
  state: LedgerState,
  wallet: WalletId,
  field: string,
): Failure<"unknown_wallet" | "unknown_card"> | undefined => {
  const kind = walletKind(wallet)
  if (kind === "place" && !state.places.has(walletRest(wallet) as PlaceId)) {
    return fail("unknown_wallet", `no place ${walletRest(wallet)}`, field)
  }
  if (kind === "fund" && !knownFunds.has(wallet)) return fail("unknown_wallet", `no fund ${walletRest(wallet)}`, field)
  if (kind === "card" && !state.cards.has(walletRest(wallet) as CardId)) {
    return fail("unknown_card", `no card ${walletRest(wallet)}`, field)
  }
  return undefined
}

/**
 * The wallet that holds a holder's money: a card wallet is reached through its card (which must be
 * usable, and may have been fused into a user's wallet); other wallets are themselves, once known.
 */
export const holderWallet = (
  state: LedgerState,
  wallet: WalletId,
  field: string,
): WalletId | Failure<"unknown_wallet" | "unknown_card" | "card_blocked"> => {
  return unknownHolder(state, wallet, field) ?? personWallet(state, wallet, field)
}

/**
 * The wallet of a person named by a card or user wallet: a card wallet is reached through its card,
 * which must be usable and may have been fused into a user's wallet.
 */
export const personWallet = (
  state: LedgerState,
  wallet: WalletId,
  field: string,
): WalletId | Failure<"unknown_card" | "card_blocked"> => {
  if (walletKind(wallet) !== "card") return wallet
  const card = usableCard(state, walletRest(wallet) as CardId, field)
  return isFailure(card) ? card : card.wallet
}

/** Legs moving `total` of an asset, split so that no leg exceeds the contract's amount bound. */
export const legsMoving = (asset: AssetId, from: WalletId, to: WalletId, total: number): Leg[] => {
  const legs: Leg[] = []
  for (let left = total; left > 0; left -= limits.amountMax) {
    legs.push({ asset, from, to, amount: Math.min(left, limits.amountMax) })
  }
  return legs
}

/** Wallets a card pays from (its own, or the user wallet it was fused into): the ones replies list. */
const paysForCard = (wallet: WalletId): boolean => wallet.startsWith("card:") || wallet.startsWith("user:")

/** Assets a wallet holds: its non-zero balances and its memberships (a membership asset is never a balance). */
const assetsHeld = (wallet: Wallet | undefined): number => (wallet === undefined ? 0 : wallet.balances.size + wallet.memberships.size)

/**
 * The assets a wallet would hold once these legs applied, counted as `applyTransaction` would leave
 * them: a balance brought from zero is one more, a balance taken to zero one less, a membership leg
 * adds to its receiver and takes from its sender (unless `issuance:`). Only counts come out of the
 * maps built here, so their order does not matter.
 */
const assetsHeldAfter = (state: LedgerState, id: WalletId, legs: readonly Leg[]): number => {
  const wallet = state.wallets.get(id)
  const deltas = new Map<AssetId, number>()
  const memberships = new Map<AssetId, boolean>()
  for (const leg of legs) {
    if (leg.until !== undefined) {
      if (leg.to === id) memberships.set(leg.asset, true)
      else if (leg.from === id && walletKind(leg.from) !== "issuance") memberships.set(leg.asset, false)
      continue
    }
    if (leg.to === id) deltas.set(leg.asset, (deltas.get(leg.asset) ?? 0) + leg.amount)
    if (leg.from === id) deltas.set(leg.asset, (deltas.get(leg.asset) ?? 0) - leg.amount)
  }
  let held = assetsHeld(wallet)
  for (const [asset, delta] of deltas) {
    const before = wallet?.balances.get(asset) ?? 0
    if (before === 0 && before + delta !== 0) held++
    else if (before !== 0 && before + delta === 0) held--
  }
  for (const [asset, gained] of memberships) {
    const before = wallet?.memberships.has(asset) ?? false
    if (gained && !before) held++
    else if (!gained && before) held--
  }
  return held
}

/**
 * `wallet_full` when these legs would make a wallet a card pays from hold more than walletAssetsMax
 * assets, and more than it holds now (a wallet over the bound may still spend and receive what it
 * holds). The bound keeps every reply about a card within the protocol's reply size. A wallet far
 * from the bound is passed without counting, so that a tap pays only a comparison.
 */
export const walletFull = (state: LedgerState, legs: readonly Leg[]): Failure<"wallet_full"> | undefined => {
  let counted: Set<WalletId> | undefined
  for (const leg of legs) {
    if (!paysForCard(leg.to)) continue
    const held = assetsHeld(state.wallets.get(leg.to))
    // Even if every leg brought this wallet a new asset, it would stay within the bound.
    if (held + legs.length <= limits.walletAssetsMax) continue
    counted ??= new Set()
    if (counted.has(leg.to)) continue
    counted.add(leg.to)
    const after = assetsHeldAfter(state, leg.to, legs)
    if (after > limits.walletAssetsMax && after > held) {
      return fail("wallet_full", `${leg.to} would hold ${after} assets, more than ${limits.walletAssetsMax} (balances and memberships)`)
    }
  }
  return undefined
}
