/**
 * The engine's entry point: `execute(state, command, ctx)` runs one decoded command. It answers a
 * retried request (same reader and request id) with its first outcome and changes nothing; answers
 * `conflict` when the id was used for a different request; otherwise decides with the command's
 * function and, when it is `ok`, applies the transaction to the state. Every request with an id is
 * recorded, failures included, so that a retry never sees a different answer.
 */
import { requestKey, type Command, type CommandKind } from "./command.js"
import { applyTransaction } from "./apply.js"
import { approvedKey, authorize, sortedApprovals } from "./authority.js"
import { walletFull } from "./holders.js"
import * as limits from "./limits.js"
import { applied, fail, type Context, type Outcome } from "./outcome.js"
import type { LedgerState, RequestRecord } from "./state.js"
import { badge, badgeStatuses, check, checkStatuses, sale, saleStatuses } from "./sale.js"
import { refund, refundStatuses, topup, topupStatuses } from "./cashdesk.js"
import { transfer, transferStatuses } from "./transfer.js"
import { fusion, fusionStatuses, voidCard, voidStatuses } from "./cards.js"
import { subscribe, subscribeStatuses } from "./membership.js"
import {
  deposit,
  depositStatuses,
  mint,
  mintStatuses,
  payback,
  paybackStatuses,
  refill,
  refillStatuses,
  restore,
  restoreStatuses,
  withdraw,
  withdrawStatuses,
} from "./issuance.js"
import { exchange, exchangeStatuses } from "./exchange.js"
import { demurrage, demurrageStatuses } from "./demurrage.js"
import { changeValidators, validatorsStatuses } from "./validators.js"
import {
  assetStatuses,
  blockCard,
  blockStatuses,
  cardsStatuses,
  changeObservers,
  changeReader,
  changeRules,
  changeStewards,
  keySetStatuses,
  observersStatuses,
  placeStatuses,
  putAsset,
  putCards,
  putPlace,
  readerStatuses,
  rulesStatuses,
  type Undo,
} from "./registry.js"
import type { Transaction } from "./state.js"

/** Every command's statuses, each list ordered by precedence. */
export const statusesOf: { readonly [K in CommandKind]: readonly string[] } = {
  sale: saleStatuses,
  check: checkStatuses,
  badge: badgeStatuses,
  topup: topupStatuses,
  refund: refundStatuses,
  transfer: transferStatuses,
  fusion: fusionStatuses,
  subscribe: subscribeStatuses,
  refill: refillStatuses,
  deposit: depositStatuses,
  withdraw: withdrawStatuses,
  payback: paybackStatuses,
  restore: restoreStatuses,
  exchange: exchangeStatuses,
  demurrage: demurrageStatuses,
  void: voidStatuses,
  mint: mintStatuses,
  validators: validatorsStatuses,
  place: placeStatuses,
  asset: assetStatuses,
  reader: readerStatuses,
  cards: cardsStatuses,
  block: blockStatuses,
  stewards: keySetStatuses,
  observers: observersStatuses,
  rules: rulesStatuses,
}

/** An outcome, and whether it is the recorded answer to an earlier identical request. */
export type Executed = Outcome & { readonly replayed: boolean }

export const decide = (state: LedgerState, command: Command, ctx: Context): Outcome => {
  switch (command.kind) {
    case "sale": return sale(state, command, ctx)
    case "check": return check(state, command)
    case "badge": return badge(state, command, ctx)
    case "topup": return topup(state, command, ctx)
    case "refund": return refund(state, command, ctx)
    case "transfer": return transfer(state, command, ctx)
    case "fusion": return fusion(state, command, ctx)
    case "subscribe": return subscribe(state, command, ctx)
    case "refill": return refill(state, command, ctx)
    case "deposit": return deposit(state, command, ctx)
    case "withdraw": return withdraw(state, command, ctx)
    case "payback": return payback(state, command, ctx)
    case "restore": return restore(state, command, ctx)
    case "exchange": return exchange(state, command, ctx)
    case "demurrage": return demurrage(state, command, ctx)
    case "void": return voidCard(state, command, ctx)
    case "mint": return mint(state, command, ctx)
    case "validators": return changeValidators(state, command, ctx)
    case "place": return putPlace(state, command, ctx)
    case "asset": return putAsset(state, command, ctx)
    case "reader": return changeReader(state, command, ctx)
    case "cards": return putCards(state, command, ctx)
    case "block": return blockCard(state, command, ctx)
    case "stewards": return changeStewards(state, command, ctx)
    case "observers": return changeObservers(state, command, ctx)
    case "rules": return changeRules(state, command, ctx)
  }
}

/**
 * Decides a command and applies its transaction: what the node runs for each request, and what a
 * replica runs on each transaction's command (PROTOCOL.md section 9.1), so that the two can never
 * disagree. The command's authority comes first (section 9.3: the approvals in `ctx`), then the
 * command itself. The transaction carries the command it was made from, and the approvals that
 * authorized it. Bounds that hold for any command's transaction (legs, a card's assets) are checked
 * here. `undo`, given by a replica, keeps what undoes the change.
 */
export const decideAndApply = (state: LedgerState, command: Command, ctx: Context, undo?: Undo): Outcome =>
  authorize(state, command, ctx.approvals) ?? decideAuthorized(state, command, ctx, undo)

const decideAuthorized = (state: LedgerState, command: Command, ctx: Context, undo?: Undo): Outcome => {
  let outcome = decide(state, command, ctx)
  if (!outcome.ok || outcome.tx === null) return outcome
  if (outcome.tx.legs.length > limits.legsPerTxMax) {
    return fail("too_many_legs", `moving these balances takes more than ${limits.legsPerTxMax} legs`)
  }
  // Checked on the transaction itself, whatever the command: any leg may bring a card a new asset.
  outcome = walletFull(state, outcome.tx.legs) ?? outcome
  if (!outcome.ok || outcome.tx === null) return outcome
  // The command's function built this transaction just now: no one else holds it yet.
  const tx = outcome.tx as { command?: unknown; approvals?: unknown }
  tx.command = command
  if (ctx.approvals !== undefined) {
    tx.approvals = sortedApprovals(ctx.approvals)
    // authorize refused a command that needs approvals and has no request id.
    const request = approvedKey(command) as string
    state.approved.add(request)
    undo?.step(() => state.approved.delete(request))
  }
  const fault = applyTransaction(state, outcome.tx as Transaction, undo)
  // A command only builds transactions it has checked; a fault here is a bug in the engine.
  if (fault !== undefined) throw new Error(`engine assertion: ${command.kind} built a transaction that cannot apply: ${fault}`)
  return outcome
}

/** The fingerprint of a request: decoded commands keep their fields in spec order. */
export const fingerprint = (command: Command): string => JSON.stringify(command)

const answer = (record: RequestRecord): Executed =>
  record.status === "ok"
    ? { ...applied(record.tx), replayed: true }
    : { ...fail(record.status, record.message ?? "", record.field), replayed: true }

export const execute = (state: LedgerState, command: Command, ctx: Context): Executed => {
  const key = command.kind === "check" ? undefined : requestKey(command)
  const print = key === undefined ? "" : fingerprint(command)
  if (key !== undefined) {
    const record = state.requests.get(key)
    if (record !== undefined && record.fingerprint === print) return answer(record)
    if (record !== undefined) {
      return { ...fail("conflict", `request ${command.request} was already used for a different request`, "id"), replayed: false }
    }
  }
  // A command refused for its approvals is not recorded: its request id stays free for the same
  // command with the approvals it lacks (PROTOCOL.md section 9.3).
  const refused = authorize(state, command, ctx.approvals)
  if (refused !== undefined) return { ...refused, replayed: false }
  const outcome = decideAuthorized(state, command, ctx)
  if (key !== undefined) state.requests.set(key, recordOf(print, ctx, outcome))
  return { ...outcome, replayed: false }
}

const recordOf = (print: string, ctx: Context, outcome: Outcome): RequestRecord =>
  outcome.ok
    ? { fingerprint: print, time: ctx.now, status: "ok", tx: outcome.tx }
    : { fingerprint: print, time: ctx.now, status: outcome.status, tx: null, message: outcome.message, ...(outcome.field === undefined ? {} : { field: outcome.field }) }

/**
 * Forgets requests recorded before `beforeMs`; the contract keeps them at least 24 hours. Records
 * are kept in the order they were made, oldest first, so the pass stops at the first one to keep
 * instead of walking the whole map (a pause the node would feel); one recorded out of order is
 * only kept longer.
 */
export const forgetRequestsBefore = (state: LedgerState, beforeMs: number): number => {
  let forgotten = 0
  for (const [key, record] of state.requests) {
    if (record.time >= beforeMs) break
    state.requests.delete(key)
    forgotten++
  }
  return forgotten
}
