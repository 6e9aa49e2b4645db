/** `transfer`: an amount of one asset from a holder's wallet to another wallet. */
import { findAsset, holderWallet, unknownHolder } from "./holders.js"
import { refundsFund } from "./names.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { balanceOf, type LedgerState } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const transferStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_wallet", "unknown_card", "card_blocked", "same_wallet",
  "unknown_asset", "asset_not_transferable", "insufficient_funds", "wallet_full",
] as const
export type TransferStatus = (typeof transferStatuses)[number]

export const transfer = (state: LedgerState, cmd: CommandOf<"transfer">, ctx: Context): Outcome<TransferStatus> => {
  // The refunds fund holds what online refunds owe the processor's answer: only they move it.
  if (cmd.from === refundsFund || cmd.to === refundsFund) {
    return fail("bad_request", `${refundsFund} is moved only by withdraw, payback and restore`, cmd.from === refundsFund ? "from" : "to")
  }
  const unknown = unknownHolder(state, cmd.from, "from") ?? unknownHolder(state, cmd.to, "to")
  if (unknown !== undefined) return unknown
  const from = holderWallet(state, cmd.from, "from")
  if (isFailure(from)) return from
  const to = holderWallet(state, cmd.to, "to")
  if (isFailure(to)) return to
  if (from === to) return fail("same_wallet", `${cmd.from} and ${cmd.to} are the same wallet`, "to")
  const asset = findAsset(state, cmd.asset)
  if (isFailure(asset)) return asset
  if (asset.kind === "membership") {
    return fail("asset_not_transferable", `${asset.id} is a membership: it holds a time, not an amount`, "asset")
  }
  const balance = balanceOf(state, from, asset.id)
  if (balance < cmd.amount) return fail("insufficient_funds", `${from} holds ${balance} of ${cmd.amount}`, "amount")
  return applied(transaction(ctx, "transfer", cmd, [{ asset: asset.id, from, to, amount: cmd.amount }]))
}
