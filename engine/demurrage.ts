/**
 * `demurrage`: money idle for longer than its asset's policy allows melts back to the commons.
 *
 * Periods: a wallet starts melting `idleMs` after its last activity; each full `periodMs` since then
 * (or since the end of the last melt) is one period; at most demurragePeriodsMax periods melt per
 * transaction, the rest carry to the next one, and the end of what was melted is recorded.
 * Amount: `percent` melts floor(balance × bp / 10000) per period, compounding on what is left
 * (rounded down: the holder keeps the fraction); `fixed` melts `amount` per period; `all` melts the
 * whole balance. Never more than the balance.
 * Split: the melted amount goes to the issuing place, the common fund and the maintenance fund in
 * proportion to the policy's integer shares, each share rounded down; the remainder of the division
 * goes to the common fund, as does the place's share of an asset with no issuer (fed).
 */
import { commonFund, maintenanceFund, placeWallet, type WalletId } from "./names.js"
import { findAsset, legsMoving } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import * as limits from "./limits.js"
import { balanceOf, type Asset, type DemurragePolicy, type LedgerState, type Leg } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const demurrageStatuses = [
  "ok", "bad_request", "conflict", "unknown_asset", "no_demurrage", "not_idle", "nothing_to_melt",
] as const
export type DemurrageStatus = (typeof demurrageStatuses)[number]

/** floor(balance × bp / 10000), exact for any balance up to supplyMax. */
const percentOf = (balance: number, basisPoints: number): number =>
  Math.floor(balance / 10_000) * basisPoints + Math.floor(((balance % 10_000) * basisPoints) / 10_000)

export const meltAmount = (policy: DemurragePolicy, balance: number, periods: number): number => {
  const rule = policy.rule
  if (rule.kind === "all") return balance
  if (rule.kind === "fixed") return Math.min(balance, rule.amount * periods)
  let left = balance
  for (let period = 0; period < periods; period++) {
    const melt = percentOf(left, rule.basisPoints)
    if (melt === 0) break
    left -= melt
  }
  return balance - left
}

/** The melted amount split by shares; the remainder goes to the common fund. */
export const meltSplit = (asset: Asset, policy: DemurragePolicy, melted: number): Array<[WalletId, number]> => {
  const { place, fund, maintenance } = policy.shares
  const total = BigInt(place + fund + maintenance)
  const part = (share: number): number => Number((BigInt(melted) * BigInt(share)) / total)
  const toPlace = asset.issuer === undefined ? 0 : part(place)
  const toMaintenance = part(maintenance)
  const parts: Array<[WalletId, number]> = [
    [commonFund, melted - toPlace - toMaintenance],
    [maintenanceFund, toMaintenance],
  ]
  if (asset.issuer !== undefined) parts.push([placeWallet(asset.issuer), toPlace])
  return parts
}

export const demurrage = (state: LedgerState, cmd: CommandOf<"demurrage">, ctx: Context): Outcome<DemurrageStatus> => {
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  const policy = asset.demurrage
  if (policy === undefined) return fail("no_demurrage", `${asset.id} has no demurrage policy`, "asset")
  const wallet = state.wallets.get(cmd.wallet)
  const idleSince = (wallet?.lastActivityMs ?? 0) + policy.idleMs
  if (ctx.now <= idleSince) return fail("not_idle", `${cmd.wallet} is active until ${idleSince}`, "wallet")
  const start = Math.max(idleSince, wallet?.meltedUntilMs.get(asset.id) ?? 0)
  const periods = Math.min(Math.floor((ctx.now - start) / policy.periodMs), limits.demurragePeriodsMax)
  const melted = periods === 0 ? 0 : meltAmount(policy, balanceOf(state, cmd.wallet, asset.id), periods)
  if (melted === 0) return fail("nothing_to_melt", `${cmd.wallet} has nothing of ${asset.id} to melt yet`, "wallet")
  const legs: Leg[] = meltSplit(asset, policy, melted)
    .filter(([to, amount]) => amount > 0 && to !== cmd.wallet)
    .flatMap(([to, amount]) => legsMoving(asset.id, cmd.wallet, to, amount))
  if (legs.length === 0) return fail("nothing_to_melt", `${cmd.wallet} would melt into itself`, "wallet")
  const memo = { wallet: cmd.wallet, asset: asset.id, meltedUntil: start + periods * policy.periodMs }
  return applied(transaction(ctx, "demurrage", { ...cmd, memo }, legs))
}
