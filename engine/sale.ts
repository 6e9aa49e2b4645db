/**
 * The bar's commands: `sale` (a price paid from the assets the place accepts), `check` (balances and
 * memberships, read only) and `badge` (a presence recorded, with the card's memberships).
 */
import type { AssetId, WalletId } from "./names.js"
import { placeWallet } from "./names.js"
import { authorize, findAsset, findPlace, usableCard } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Failure, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { balanceOf, euroKinds, type LedgerState, type Leg, type Place } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const saleStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "forbidden", "unknown_place", "unknown_card",
  "card_blocked", "unknown_asset", "asset_not_accepted", "insufficient_funds",
] as const
export type SaleStatus = (typeof saleStatuses)[number]

/**
 * The legs paying `amount` euro cents from a wallet to a place: the euro-valued assets the place
 * accepts, in its order, as much as possible from each before the next. Fails when they fall short.
 */
export const euroCascade = (
  state: LedgerState,
  place: Place,
  wallet: WalletId,
  amount: number,
): Leg[] | Failure<"asset_not_accepted" | "insufficient_funds"> => {
  const legs: Leg[] = []
  let left = amount
  let euroAccepted = false
  for (const asset of place.accepts) {
    const kind = state.assets.get(asset)?.kind
    if (kind === undefined || !euroKinds.has(kind)) continue
    euroAccepted = true
    const take = Math.min(balanceOf(state, wallet, asset), left)
    if (take > 0) legs.push({ asset, from: wallet, to: placeWallet(place.id), amount: take })
    left -= take
    if (left === 0) return legs
  }
  if (!euroAccepted) return fail("asset_not_accepted", `${place.id} accepts no euro-valued asset`, "asset")
  return fail("insufficient_funds", `the accepted assets cover ${amount - left} of ${amount}`, "amount")
}

const explicitAssetLegs = (
  state: LedgerState,
  place: Place,
  wallet: WalletId,
  assetId: AssetId,
  amount: number,
): Leg[] | Failure<"unknown_asset" | "asset_not_accepted" | "insufficient_funds"> => {
  const asset = findAsset(state, assetId)
  if (isFailure(asset)) return asset
  if (asset.kind === "membership" || !place.accepts.includes(asset.id)) {
    return fail("asset_not_accepted", `${place.id} does not accept ${asset.id}`, "asset")
  }
  const balance = balanceOf(state, wallet, asset.id)
  if (balance < amount) return fail("insufficient_funds", `the card holds ${balance} of ${amount}`, "amount")
  return [{ asset: asset.id, from: wallet, to: placeWallet(place.id), amount }]
}

export const sale = (state: LedgerState, cmd: CommandOf<"sale">, ctx: Context): Outcome<SaleStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, false)
  if (denied !== undefined) return denied
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const card = usableCard(state, cmd.card)
  if (isFailure(card)) return card
  const legs =
    cmd.asset === undefined
      ? euroCascade(state, place, card.wallet, cmd.amount)
      : explicitAssetLegs(state, place, card.wallet, cmd.asset, cmd.amount)
  if (isFailure(legs)) return legs
  return applied(transaction(ctx, "sale", { ...cmd, card: card.pseudonym }, legs))
}

export const checkStatuses = ["ok", "bad_request", "forbidden", "unknown_place", "unknown_card", "card_blocked"] as const
export type CheckStatus = (typeof checkStatuses)[number]

/** Read only: the caller reads balances and memberships from the state; no transaction. */
export const check = (state: LedgerState, cmd: CommandOf<"check">): Outcome<CheckStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, false)
  if (denied !== undefined) return denied
  const place = cmd.place === undefined ? undefined : findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const card = usableCard(state, cmd.card)
  if (isFailure(card)) return card
  return applied(null)
}

export const badgeStatuses = [
  "ok", "bad_request", "conflict", "forbidden", "unknown_place", "unknown_card", "card_blocked",
] as const
export type BadgeStatus = (typeof badgeStatuses)[number]

export const badge = (state: LedgerState, cmd: CommandOf<"badge">, ctx: Context): Outcome<BadgeStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, false)
  if (denied !== undefined) return denied
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const card = usableCard(state, cmd.card)
  if (isFailure(card)) return card
  return applied(transaction(ctx, "badge", { ...cmd, card: card.pseudonym }, []))
}
