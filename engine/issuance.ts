/**
 * Money entering and leaving circulation outside the bars: `mint` (an issuer creates an asset into
 * a wallet), `refill` (fed minted against a paid external payment, once per reference) and `deposit`
 * (a place's fed burnt when the federation pays it out in euros).
 */
import { issuanceWallet, placeWallet } from "./names.js"
import { findAsset, findPlace, holderWallet } from "./holders.js"
import { applied, fail, type Failure, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { withinSupply } from "./cashdesk.js"
import * as limits from "./limits.js"
import { balanceOf, type LedgerState } from "./state.js"

const usedRef = (state: LedgerState, ref: string | undefined): Failure<"duplicate_ref"> | undefined =>
  ref !== undefined && state.refs.has(ref) ? fail("duplicate_ref", `reference ${ref} was already used`, "ref") : undefined

const supplyFailure = (asset: string): Failure<"supply_limit"> =>
  fail("supply_limit", `the supply of ${asset} would exceed ${limits.supplyMax}`, "amount")

/** Ordered by precedence: the first failing check is the one reported. */
export const mintStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_asset", "asset_not_mintable", "unknown_wallet", "unknown_card",
  "card_blocked", "duplicate_ref", "supply_limit", "wallet_full",
] as const
export type MintStatus = (typeof mintStatuses)[number]

export const mint = (state: LedgerState, cmd: CommandOf<"mint">, ctx: Context): Outcome<MintStatus> => {
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  if (asset.kind === "membership") {
    return fail("asset_not_mintable", `${asset.id} is a membership: subscribe extends it`, "asset")
  }
  const to = holderWallet(state, cmd.to, "to")
  if (isFailure(to)) return to
  const duplicate = usedRef(state, cmd.ref)
  if (duplicate !== undefined) return duplicate
  if (!withinSupply(state, asset.id, cmd.amount)) return supplyFailure(asset.id)
  const leg = { asset: asset.id, from: issuanceWallet(asset.id), to, amount: cmd.amount }
  return applied(transaction(ctx, "mint", cmd, [leg]))
}

export const refillStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_wallet", "unknown_card", "card_blocked",
  "duplicate_ref", "supply_limit", "wallet_full",
] as const
export type RefillStatus = (typeof refillStatuses)[number]

export const refill = (state: LedgerState, cmd: CommandOf<"refill">, ctx: Context): Outcome<RefillStatus> => {
  const to = holderWallet(state, cmd.wallet, "wallet")
  if (isFailure(to)) return to
  const duplicate = usedRef(state, cmd.ref)
  if (duplicate !== undefined) return duplicate
  if (!withinSupply(state, state.fed, cmd.amount)) return supplyFailure(state.fed)
  const leg = { asset: state.fed, from: issuanceWallet(state.fed), to, amount: cmd.amount }
  return applied(transaction(ctx, "refill", cmd, [leg]))
}

export const depositStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_place", "duplicate_ref", "insufficient_funds",
] as const
export type DepositStatus = (typeof depositStatuses)[number]

export const deposit = (state: LedgerState, cmd: CommandOf<"deposit">, ctx: Context): Outcome<DepositStatus> => {
  const place = findPlace(state, cmd.place)
  if (isFailure(place)) return place
  const duplicate = usedRef(state, cmd.ref)
  if (duplicate !== undefined) return duplicate
  const from = placeWallet(place.id)
  const balance = balanceOf(state, from, state.fed)
  if (balance < cmd.amount) return fail("insufficient_funds", `${from} holds ${balance} fed of ${cmd.amount}`, "amount")
  const leg = { asset: state.fed, from, to: issuanceWallet(state.fed), amount: cmd.amount }
  return applied(transaction(ctx, "deposit", cmd, [leg]))
}
