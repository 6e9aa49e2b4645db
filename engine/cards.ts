/**
 * Card lifecycle: `fusion` (an anonymous card's wallet moves into its holder's user wallet, and the
 * card then pays from that wallet) and `void` (a card reported lost is blocked, or voided for good,
 * optionally paying its refundable money back in cash at a place).
 */
import type { CardId, WalletId } from "./names.js"
import { cardWallet } from "./names.js"
import { findPlace, legsMoving } from "./holders.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import { cashRefundLegs } from "./cashdesk.js"
import type { CommandOf } from "./command.js"
import type { Card, LedgerState, Leg } from "./state.js"
import { asTime } from "./apply.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const fusionStatuses = [
  "ok", "bad_request", "conflict", "unknown_card", "card_blocked", "already_fused", "too_many_legs", "wallet_full",
] as const
export type FusionStatus = (typeof fusionStatuses)[number]

/** Every balance and membership of `from` moved to `to`; a membership keeps the later end. */
const fusionLegs = (state: LedgerState, from: WalletId, to: WalletId): Leg[] => {
  const source = state.wallets.get(from)
  if (source === undefined) return []
  const target = state.wallets.get(to)
  const legs: Leg[] = []
  for (const [asset, amount] of [...source.balances].sort(([a], [b]) => (a < b ? -1 : 1))) {
    legs.push(...legsMoving(asset, from, to, amount))
  }
  for (const [asset, until] of [...source.memberships].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const later = Math.max(until, target?.memberships.get(asset) ?? 0)
    legs.push({ asset, from, to, amount: 0, until: asTime(later) })
  }
  return legs
}

export const fusion = (state: LedgerState, cmd: CommandOf<"fusion">, ctx: Context): Outcome<FusionStatus> => {
  const card = state.cards.get(cmd.card)
  if (card === undefined) return fail("unknown_card", `no card ${cmd.card}`, "card")
  if (card.status !== "active") return fail("card_blocked", `card ${cmd.card} is ${card.status}`, "card")
  if (card.wallet !== cardWallet(card.pseudonym)) {
    return fail("already_fused", `card ${card.pseudonym} already pays from ${card.wallet}`, "card")
  }
  const legs = fusionLegs(state, card.wallet, cmd.user)
  return applied(transaction(ctx, "fusion", { ...cmd, memo: { wallet: cmd.user } }, legs))
}

export const voidStatuses = [
  "ok", "bad_request", "conflict", "unknown_card", "already_void", "unknown_place", "too_many_legs",
] as const
export type VoidStatus = (typeof voidStatuses)[number]

const statusRank: Record<Card["status"], number> = { active: 0, blocked: 1, voided: 2 }

export const voidCard = (state: LedgerState, cmd: CommandOf<"void">, ctx: Context): Outcome<VoidStatus> => {
  const card = state.cards.get(cmd.card)
  if (card === undefined) return fail("unknown_card", `no card ${cmd.card}`, "card")
  const status = cmd.reason === "lost" ? "blocked" : "voided"
  if (statusRank[card.status] >= statusRank[status]) {
    return fail("already_void", `card ${cmd.card} is already ${card.status}`, "card")
  }
  let legs: Leg[] = []
  if (cmd.place !== undefined) {
    const place = findPlace(state, cmd.place)
    if (isFailure(place)) return place
    // A fused card pays from its holder's user wallet, which outlives the card: only an anonymous
    // card's own wallet is paid back when the card is voided.
    if (card.wallet === cardWallet(card.pseudonym)) legs = cashRefundLegs(state, place, card.wallet)
  }
  return applied(transaction(ctx, "void", { ...cmd, card: card.pseudonym as CardId, memo: { status } }, legs))
}

