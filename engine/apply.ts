/**
 * Applying transactions: the leg arithmetic shared by the node, validators and peers. A transaction
 * applies whole or not at all: its legs are checked together first (amounts, the non-negativity of
 * every wallet but `issuance:`, the supply bound), then applied. `replay` runs the same arithmetic
 * over a list of transactions and returns the balances they produce.
 */
import * as limits from "./limits.js"
import type { AssetId, CardId, TimeMs, WalletId } from "./names.js"
import { isRecord, walletKind } from "./names.js"
import { registryKinds, type CardStatus, type Holdings, type LedgerState, type Leg, type Transaction, type Wallet } from "./state.js"
import { setMeltedUntil, setMembership, walletFor } from "./state.js"
import { validatorSetOf } from "./validators.js"
import { applyRegistry, type Undo } from "./registry.js"

/** Balances by wallet then asset, as replay produces them. */
export type Balances = Map<WalletId, Map<AssetId, number>>
type BalanceOf = (wallet: WalletId, asset: AssetId) => number

const legFault = (leg: Leg): string | undefined => {
  if (leg.from === leg.to) return "a leg moves from a wallet to itself"
  if (leg.until !== undefined) {
    return leg.amount === 0 && Number.isSafeInteger(leg.until) ? undefined : "a membership leg moves an amount"
  }
  if (!Number.isSafeInteger(leg.amount) || leg.amount < limits.amountMin || leg.amount > limits.amountMax) {
    return `a leg amount is not an integer in ${limits.amountMin}..${limits.amountMax}`
  }
  return undefined
}

/**
 * Why these legs cannot apply to these balances, or undefined when they can. Legs of one
 * transaction are summed per (wallet, asset) first, so that two legs from one wallet are checked
 * together.
 */
export const legsFault = (balanceOf: BalanceOf, legs: readonly Leg[]): string | undefined => {
  if (legs.length > limits.legsPerTxMax) return `more than ${limits.legsPerTxMax} legs`
  const deltas = new Map<string, { wallet: WalletId; asset: AssetId; delta: number }>()
  const add = (wallet: WalletId, asset: AssetId, delta: number): void => {
    const key = `${wallet}\u0000${asset}`
    const entry = deltas.get(key)
    if (entry === undefined) deltas.set(key, { wallet, asset, delta })
    else entry.delta += delta
  }
  for (const leg of legs) {
    const fault = legFault(leg)
    if (fault !== undefined) return fault
    if (leg.amount === 0) continue
    add(leg.from, leg.asset, -leg.amount)
    add(leg.to, leg.asset, leg.amount)
  }
  for (const { wallet, asset, delta } of deltas.values()) {
    const after = balanceOf(wallet, asset) + delta
    if (walletKind(wallet) === "issuance") {
      if (after < -limits.supplyMax) return `the supply of ${asset} would exceed ${limits.supplyMax}`
    } else if (after < 0) {
      return `${wallet} would go below zero in ${asset}`
    }
  }
  return undefined
}

const moveBalance = (balances: Map<AssetId, number> | Holdings, asset: AssetId, delta: number): void => {
  const after = (balances.get(asset) ?? 0) + delta
  if (after === 0) balances.delete(asset)
  else balances.set(asset, after)
}

/** Effects of a transaction beyond its legs, carried in its memo so that replay reproduces them. */
const applyKindEffects = (state: LedgerState, tx: Transaction, undo: Undo | undefined): void => {
  const memo = isRecord(tx.memo) ? tx.memo : {}
  const card = tx.card === undefined ? undefined : state.cards.get(tx.card)
  if (tx.kind === "fusion" && card !== undefined && typeof memo["wallet"] === "string") {
    undo?.card(card)
    card.wallet = memo["wallet"] as WalletId
  } else if (tx.kind === "void" && card !== undefined && typeof memo["status"] === "string") {
    undo?.card(card)
    card.status = memo["status"] as CardStatus
  } else if (tx.kind === "demurrage" && typeof memo["wallet"] === "string" && typeof memo["asset"] === "string") {
    const wallet = openWallet(state, memo["wallet"] as WalletId, undo)
    setMeltedUntil(wallet, memo["asset"] as AssetId, Number(memo["meltedUntil"]))
  } else if (tx.kind === "validators") {
    // The genesis transaction's memo is the genesis document, whose set the ledger starts with.
    const set = validatorSetOf(tx.memo)
    const before = state.validators
    undo?.step(() => (state.validators = before))
    if (set !== undefined) state.validators = set
  } else if (registryKinds.has(tx.kind)) {
    applyRegistry(state, tx, undo)
  }
  if (tx.ref !== undefined) {
    const ref = tx.ref
    if (undo !== undefined && !state.refs.has(ref)) undo.step(() => state.refs.delete(ref))
    state.refs.add(ref)
  }
  if (undo !== undefined && tx.legs.length > 0) {
    const backing = { ...state.backing }
    undo.step(() => Object.assign(state.backing, backing))
  }
  addBacking(state.backing, tx, state.fed)
  applyPaymentEffects(state, tx, memo, undo)
}

/**
 * What a transaction adds to the backing counters (PROTOCOL.md section 9.5): euros received (a
 * refill, a bank mint of fed), refunded (a payback) and paid out (a deposit). Fed in circulation is
 * received − refunded − paid out, since these are the only transactions that mint or burn fed.
 */
export const addBacking = (backing: { received: number; refunded: number; paidOut: number }, tx: Transaction, fed: AssetId): void => {
  for (const leg of tx.legs) {
    if (leg.asset !== fed) continue
    if (tx.kind === "refill" || (tx.kind === "mint" && walletKind(leg.from) === "issuance")) {
      backing.received += leg.amount
    } else if (tx.kind === "deposit" && walletKind(leg.to) === "issuance") {
      backing.paidOut += leg.amount
    } else if (tx.kind === "payback" && walletKind(leg.to) === "issuance") {
      backing.refunded += leg.amount
    }
  }
}

/**
 * A refill's payment, and the online refunds of it (PROTOCOL.md section 9.5): a `refill` of fed
 * opens its payment, a `withdraw` makes its refund pending, a `payback` counts it refunded and a
 * `restore` drops it.
 */
const applyPaymentEffects = (state: LedgerState, tx: Transaction, memo: Readonly<Record<string, unknown>>, undo: Undo | undefined): void => {
  const leg = tx.legs[0]
  if (leg === undefined) return
  if (tx.kind === "refill") {
    const ref = tx.ref
    if (ref === undefined || leg.asset !== state.fed || state.payments.has(ref)) return
    state.payments.set(ref, { wallet: leg.to, paid: leg.amount, refunded: 0 })
    undo?.step(() => state.payments.delete(ref))
    return
  }
  if (tx.kind !== "withdraw" && tx.kind !== "payback" && tx.kind !== "restore") return
  const payment = typeof memo["payment"] === "string" ? state.payments.get(memo["payment"]) : undefined
  if (payment === undefined) return
  const { refunded, pending } = payment
  undo?.step(() => {
    payment.refunded = refunded
    payment.pending = pending
  })
  if (tx.kind === "withdraw") payment.pending = { tx: tx.id, amount: leg.amount }
  else {
    if (tx.kind === "payback") payment.refunded += leg.amount
    payment.pending = undefined
  }
}

/** The wallet, opened if new; with an undo, what undoes its changes and its opening is kept first. */
const openWallet = (state: LedgerState, id: WalletId, undo: Undo | undefined): Wallet => {
  if (undo === undefined) return walletFor(state, id)
  if (!state.wallets.has(id)) undo.step(() => state.wallets.close(id))
  const wallet = walletFor(state, id)
  undo.wallet(wallet)
  return wallet
}

/**
 * The one mutation of the ledger: applies a transaction whole, or returns why it cannot and leaves
 * the state untouched. A wallet's last activity is the time of its last transaction, other than
 * demurrage, in which it appears in a leg or as the transaction's card.
 */
export const applyTransaction = (state: LedgerState, tx: Transaction, undo?: Undo): string | undefined => {
  const fault = legsFault((wallet, asset) => state.wallets.get(wallet)?.balances.get(asset) ?? 0, tx.legs)
  if (fault !== undefined) return fault
  const active = tx.kind !== "demurrage"
  for (const leg of tx.legs) {
    const from = openWallet(state, leg.from, undo)
    const to = openWallet(state, leg.to, undo)
    if (leg.until !== undefined) {
      if (walletKind(leg.from) !== "issuance") setMembership(from, leg.asset, undefined)
      setMembership(to, leg.asset, leg.until)
    } else {
      moveBalance(from.balances, leg.asset, -leg.amount)
      moveBalance(to.balances, leg.asset, leg.amount)
    }
    if (active) {
      from.lastActivityMs = tx.time
      to.lastActivityMs = tx.time
    }
  }
  if (active && tx.card !== undefined) {
    const card = state.cards.get(tx.card as CardId)
    if (card !== undefined) {
      openWallet(state, card.wallet, undo).lastActivityMs = tx.time
    }
  }
  applyKindEffects(state, tx, undo)
  return undefined
}

export type ReplayResult =
  | { readonly ok: true; readonly balances: Balances }
  | { readonly ok: false; readonly index: number; readonly txId: string; readonly reason: string }

/**
 * Replays transactions in order from empty balances (or a copy of `from`), as validators and peers
 * do, and returns the balances they produce, or the first transaction that cannot apply and why.
 */
export const replay = (txs: Iterable<Transaction>, from: Balances = new Map()): ReplayResult => {
  const balances: Balances = new Map([...from].map(([wallet, assets]) => [wallet, new Map(assets)]))
  const fault = replayInto(balances, txs)
  return fault === undefined ? { ok: true, balances } : { ok: false, ...fault }
}

/**
 * Applies transactions to `balances` in place, stopping at the first that cannot apply, for replaying
 * a long ledger page by page. `offset` numbers the first transaction in the reported index.
 */
export const replayInto = (
  balances: Balances,
  txs: Iterable<Transaction>,
  offset = 0,
): { readonly index: number; readonly txId: string; readonly reason: string } | undefined => {
  const balanceOf: BalanceOf = (wallet, asset) => balances.get(wallet)?.get(asset) ?? 0
  let index = offset
  for (const tx of txs) {
    const reason = legsFault(balanceOf, tx.legs)
    if (reason !== undefined) return { index, txId: tx.id, reason }
    for (const leg of tx.legs) {
      if (leg.amount === 0) continue
      for (const [wallet, delta] of [[leg.from, -leg.amount], [leg.to, leg.amount]] as const) {
        let assets = balances.get(wallet)
        if (assets === undefined) balances.set(wallet, (assets = new Map()))
        moveBalance(assets, leg.asset, delta)
        if (assets.size === 0) balances.delete(wallet)
      }
    }
    index++
  }
  return undefined
}

/** The balances held in a state, in the shape replay returns, for comparing the two. */
export const stateBalances = (state: LedgerState): Balances => {
  const balances: Balances = new Map()
  for (const [id, wallet] of state.wallets) {
    if (wallet.balances.size > 0) balances.set(id, new Map(wallet.balances))
  }
  return balances
}

/** Whether two sets of balances hold exactly the same amounts (zero balances are absent in both). */
export const sameBalances = (a: Balances, b: Balances): boolean => {
  if (a.size !== b.size) return false
  for (const [wallet, held] of a) {
    const other = b.get(wallet)
    if (other === undefined || other.size !== held.size) return false
    for (const [asset, amount] of held) if (other.get(asset) !== amount) return false
  }
  return true
}

/** Until-times are branded on the way in; this is the one place that brands a computed time. */
export const asTime = (ms: number): TimeMs => ms as TimeMs
