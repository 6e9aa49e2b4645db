/**
 * Money entering and leaving circulation outside the bars: `mint` (an issuer creates an asset into
 * a wallet), `refill` (fed minted against a paid external payment, once per reference), `deposit`
 * (a place's fed burnt when the federation pays it out in euros), and the online refund of a refill
 * (PROTOCOL.md section 9.5) in three steps: `withdraw` (the fed leaves the wallet for
 * `fund:refunds` while the processor is asked), then `payback` (the processor refunded: burnt, its
 * refund's reference in `ref`) or `restore` (it refused: put back).
 */
import { issuanceWallet, placeWallet, refundsFund } from "./names.js"
import { findAsset, findPlace, holderWallet } from "./holders.js"
import { applied, fail, type Failure, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import type { CommandOf } from "./command.js"
import { withinSupply } from "./cashdesk.js"
import * as limits from "./limits.js"
import { balanceOf, refundable, type LedgerState, type Payment } from "./state.js"

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

/** The refill's payment a refund command names. */
const findPayment = (state: LedgerState, ref: string): Payment | Failure<"unknown_payment"> =>
  state.payments.get(ref) ?? fail("unknown_payment", `no refill was paid by ${ref}`, "payment")

export const withdrawStatuses = [
  "ok", "bad_request", "amount_out_of_range", "conflict", "unknown_payment", "refund_pending", "refund_exceeds_payment",
  "insufficient_funds",
] as const
export type WithdrawStatus = (typeof withdrawStatuses)[number]

/**
 * A holder asks for fed back to the payment that brought it: the amount leaves the wallet the refill
 * credited for `fund:refunds`, where it waits for the processor. Never more than what remains of the
 * payment, one withdrawal per payment at a time. A blocked card may ask: its money goes back to the
 * payment it came from, to nobody else.
 */
export const withdraw = (state: LedgerState, cmd: CommandOf<"withdraw">, ctx: Context): Outcome<WithdrawStatus> => {
  const payment = findPayment(state, cmd.payment)
  if (isFailure(payment)) return payment
  if (payment.pending !== undefined) {
    return fail("refund_pending", `a refund of ${cmd.payment} waits for the processor (transaction ${payment.pending.tx})`, "payment")
  }
  const left = refundable(payment)
  if (cmd.amount > left) return fail("refund_exceeds_payment", `${left} of payment ${cmd.payment} may still be refunded`, "amount")
  const balance = balanceOf(state, payment.wallet, state.fed)
  if (balance < cmd.amount) return fail("insufficient_funds", `${payment.wallet} holds ${balance} fed of ${cmd.amount}`, "amount")
  const leg = { asset: state.fed, from: payment.wallet, to: refundsFund, amount: cmd.amount }
  return applied(transaction(ctx, "withdraw", { ...cmd, memo: { payment: cmd.payment } }, [leg]))
}

export const paybackStatuses = ["ok", "bad_request", "conflict", "unknown_payment", "no_refund_pending", "duplicate_ref"] as const
export type PaybackStatus = (typeof paybackStatuses)[number]

/**
 * The processor refunded a payment's pending withdrawal: its fed is burnt out of `fund:refunds`, and
 * `ref` names the processor's refund, which payment checkers verify (section 9.5).
 */
export const payback = (state: LedgerState, cmd: CommandOf<"payback">, ctx: Context): Outcome<PaybackStatus> => {
  const payment = findPayment(state, cmd.payment)
  if (isFailure(payment)) return payment
  if (payment.pending === undefined) return fail("no_refund_pending", `no refund of ${cmd.payment} waits for the processor`, "payment")
  const duplicate = usedRef(state, cmd.ref)
  if (duplicate !== undefined) return duplicate
  const leg = { asset: state.fed, from: refundsFund, to: issuanceWallet(state.fed), amount: payment.pending.amount }
  return applied(transaction(ctx, "payback", { ...cmd, memo: { payment: cmd.payment } }, [leg]))
}

export const restoreStatuses = ["ok", "bad_request", "conflict", "unknown_payment", "no_refund_pending"] as const
export type RestoreStatus = (typeof restoreStatuses)[number]

/** The processor refused a payment's pending withdrawal: its fed goes back to the wallet it left. */
export const restore = (state: LedgerState, cmd: CommandOf<"restore">, ctx: Context): Outcome<RestoreStatus> => {
  const payment = findPayment(state, cmd.payment)
  if (isFailure(payment)) return payment
  if (payment.pending === undefined) return fail("no_refund_pending", `no refund of ${cmd.payment} waits for the processor`, "payment")
  const leg = { asset: state.fed, from: refundsFund, to: payment.wallet, amount: payment.pending.amount }
  return applied(transaction(ctx, "restore", { ...cmd, memo: { payment: cmd.payment } }, [leg]))
}
