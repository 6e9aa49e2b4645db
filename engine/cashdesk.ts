/**
 * The cash desk's commands: `topup` (a place's own asset minted onto a card against cash or as a
 * gift) and `refund` (the card's refundable money paid back in cash: the place's own `local_fiat`
 * burnt, its `fed` handed to the place, which the federation pays back).
 */
import { issuanceWallet, placeWallet, type WalletId } from "./names.js"
import { authorize, findAsset, findPlace, legsMoving, usableCard } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import * as limits from "./limits.js"
import { balanceOf, type AssetKind, type LedgerState, type Leg, type Place } from "./state.js"

const toppable: ReadonlySet<AssetKind> = new Set(["local_fiat", "gift", "time", "loyalty"])

/** Ordered by precedence: the first failing check is the one reported. */
export const topupStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "forbidden", "unknown_place", "unknown_card",
  "card_blocked", "unknown_asset", "asset_not_accepted", "supply_limit", "wallet_full",
] as const
export type TopupStatus = (typeof topupStatuses)[number]

/** Minting within the supply bound: `issuance:` never goes below −supplyMax. */
export const withinSupply = (state: LedgerState, asset: Leg["asset"], amount: number): boolean =>
  balanceOf(state, issuanceWallet(asset), asset) - amount >= -limits.supplyMax

export const topup = (state: LedgerState, cmd: CommandOf<"topup">, ctx: Context): Outcome<TopupStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, true)
  if (denied !== undefined) return denied
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const card = usableCard(state, cmd.card)
  if (isFailure(card)) return card
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  if (!toppable.has(asset.kind) || asset.issuer !== place.id) {
    return fail("asset_not_accepted", `${asset.id} is not a local_fiat, gift, time or loyalty asset of ${place.id}`, "asset")
  }
  if (!withinSupply(state, asset.id, cmd.amount)) {
    return fail("supply_limit", `the supply of ${asset.id} would exceed ${limits.supplyMax}`, "amount")
  }
  const leg: Leg = { asset: asset.id, from: issuanceWallet(asset.id), to: card.wallet, amount: cmd.amount }
  return applied(transaction(ctx, "topup", { ...cmd, card: card.pseudonym }, [leg]))
}

/**
 * The legs paying a wallet back in cash at a place: its whole balance of the place's own
 * `local_fiat` burnt, and its whole `fed` balance to the place if the place accepts `fed`. Gift,
 * time and loyalty assets are never refunded.
 */
export const cashRefundLegs = (state: LedgerState, place: Place, wallet: WalletId): Leg[] => {
  const legs: Leg[] = []
  const balances = state.wallets.get(wallet)?.balances
  if (balances === undefined) return legs
  for (const [assetId, amount] of [...balances].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const asset = state.assets.get(assetId)
    if (asset === undefined || amount <= 0) continue
    if (asset.kind === "local_fiat" && asset.issuer === place.id) {
      legs.push(...legsMoving(assetId, wallet, issuanceWallet(assetId), amount))
    } else if (asset.kind === "fed" && place.accepts.includes(assetId)) {
      legs.push(...legsMoving(assetId, wallet, placeWallet(place.id), amount))
    }
  }
  return legs
}

export const refundStatuses = [
  "ok", "bad_request", "conflict", "forbidden", "unknown_place", "unknown_card", "card_blocked", "nothing_to_refund",
  "too_many_legs",
] as const
export type RefundStatus = (typeof refundStatuses)[number]

export const refund = (state: LedgerState, cmd: CommandOf<"refund">, ctx: Context): Outcome<RefundStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, true)
  if (denied !== undefined) return denied
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const card = usableCard(state, cmd.card)
  if (isFailure(card)) return card
  const legs = cashRefundLegs(state, place, card.wallet)
  if (legs.length === 0) return fail("nothing_to_refund", `card ${card.pseudonym} holds nothing refundable at ${place.id}`)
  return applied(transaction(ctx, "refund", { ...cmd, card: card.pseudonym }, legs))
}
