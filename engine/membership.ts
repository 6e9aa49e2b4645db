/**
 * `subscribe`: a membership of a place extended by a period, optionally paid in euros from the
 * assets the place accepts. The new end is max(now, current end) + period, so that renewing early
 * loses nothing and renewing late does not backdate.
 */
import { issuanceWallet } from "./names.js"
import { authorize, findAsset, findPlace, personWallet } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { euroCascade } from "./sale.js"
import { asTime } from "./apply.js"
import type { LedgerState, Leg } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const subscribeStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "forbidden", "unknown_place", "unknown_card",
  "card_blocked", "unknown_asset", "asset_not_accepted", "insufficient_funds", "wallet_full",
] as const
export type SubscribeStatus = (typeof subscribeStatuses)[number]

export const subscribe = (state: LedgerState, cmd: CommandOf<"subscribe">, ctx: Context): Outcome<SubscribeStatus> => {
  const denied = authorize(state, cmd.reader, cmd.place, false)
  if (denied !== undefined) return denied
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const wallet = personWallet(state, cmd.wallet, "wallet")
  if (isFailure(wallet)) return wallet
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  if (asset.kind !== "membership" || asset.issuer !== place.id) {
    return fail("asset_not_accepted", `${asset.id} is not a membership of ${place.id}`, "asset")
  }
  const payment = cmd.amount === undefined ? [] : euroCascade(state, place, wallet, cmd.amount)
  if (isFailure(payment)) return payment
  const current = state.wallets.get(wallet)?.memberships.get(asset.id) ?? 0
  const until = asTime(Math.max(ctx.now, current) + cmd.periodMs)
  const membership: Leg = { asset: asset.id, from: issuanceWallet(asset.id), to: wallet, amount: 0, until }
  return applied(transaction(ctx, "subscribe", cmd, [...payment, membership]))
}
