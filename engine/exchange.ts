/**
 * `exchange`: a local asset against fed at the asset's fixed integer rate (`local` units are worth
 * `fed` units), with the issuing place as counterparty.
 * - `to_fed`: the holder gives `amount` of the local asset, which is burnt, and receives
 *   floor(amount × fed / local) fed from the issuing place's wallet.
 * - `from_fed`: the holder gives `amount` fed to the issuing place and receives
 *   floor(amount × local / fed) of the local asset, minted.
 * Rounding is always down, on what the holder (the one who asks) receives, so that nobody gains by
 * splitting an exchange into small ones.
 */
import { issuanceWallet, placeWallet } from "./names.js"
import { findAsset, personWallet } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { withinSupply } from "./cashdesk.js"
import * as limits from "./limits.js"
import { balanceOf, type LedgerState, type Leg } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const exchangeStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_card", "card_blocked", "unknown_asset",
  "asset_not_exchangeable", "amount_too_small", "amount_too_large", "insufficient_funds", "insufficient_reserve",
  "supply_limit", "wallet_full",
] as const
export type ExchangeStatus = (typeof exchangeStatuses)[number]

/** amount × num / den rounded down; both terms are at most exchangeRateTermMax, so this is exact. */
const convert = (amount: number, num: number, den: number): number => Math.floor((amount * num) / den)

export const exchange = (state: LedgerState, cmd: CommandOf<"exchange">, ctx: Context): Outcome<ExchangeStatus> => {
  const holder = personWallet(state, cmd.wallet, "wallet")
  if (isFailure(holder)) return holder
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  const rate = asset.exchange
  if (rate === undefined || asset.issuer === undefined || asset.kind === "fed" || asset.kind === "membership") {
    return fail("asset_not_exchangeable", `${asset.id} has no exchange rate against fed`, "asset")
  }
  const toFed = cmd.direction === "to_fed"
  const received = toFed ? convert(cmd.amount, rate.fed, rate.local) : convert(cmd.amount, rate.local, rate.fed)
  if (received === 0) return fail("amount_too_small", `${cmd.amount} is worth less than one unit`, "amount")
  if (received > limits.amountMax) {
    return fail("amount_too_large", `${cmd.amount} is worth more than ${limits.amountMax}`, "amount")
  }
  const given = toFed ? asset.id : state.fed
  const held = balanceOf(state, holder, given)
  if (held < cmd.amount) return fail("insufficient_funds", `${holder} holds ${held} ${given} of ${cmd.amount}`, "amount")
  const place = placeWallet(asset.issuer)
  if (toFed && balanceOf(state, place, state.fed) < received) {
    return fail("insufficient_reserve", `${place} holds less than ${received} fed`, "amount")
  }
  if (!toFed && !withinSupply(state, asset.id, received)) {
    return fail("supply_limit", `the supply of ${asset.id} would exceed ${limits.supplyMax}`, "amount")
  }
  const legs: Leg[] = toFed
    ? [
        { asset: asset.id, from: holder, to: issuanceWallet(asset.id), amount: cmd.amount },
        { asset: state.fed, from: place, to: holder, amount: received },
      ]
    : [
        { asset: state.fed, from: holder, to: place, amount: cmd.amount },
        { asset: asset.id, from: issuanceWallet(asset.id), to: holder, amount: received },
      ]
  return applied(transaction(ctx, "exchange", cmd, legs))
}
