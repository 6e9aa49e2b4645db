/**
 * `/v1/supply` from final blocks only (PROTOCOL.md section 9.5): what a peer computes from its
 * replica, which holds nothing else. The node's state runs ahead of finality, so the node keeps the
 * supply as of its last final transaction apart: the circulation of each asset and the backing
 * counters at start, less what the transactions committed after the last final one did, then each
 * transaction's effect added once its block is final. Only transactions that mint or burn (a leg
 * from or to an `issuance:` wallet) change either, and only those are parsed and kept until final:
 * a sale costs one substring search.
 */
import { addBacking } from "../engine/apply.js"
import { walletKind, type AssetId } from "../engine/names.js"
import type { LedgerState, Transaction } from "../engine/state.js"
import type { StoredTx } from "../storage/ledger.js"
import { circulationIn, supplyOf } from "./http.js"

interface Effect {
  readonly seq: number
  readonly circulation: ReadonlyMap<string, number>
  readonly backing: { readonly received: number; readonly refunded: number; readonly paidOut: number }
}

/** What a transaction does to circulation and backing; undefined for one that mints and burns nothing. */
const effectOf = (stored: StoredTx, fed: AssetId): Effect | undefined => {
  if (!stored.body.includes('"issuance:')) return undefined
  const tx = JSON.parse(stored.body) as Transaction
  const circulation = new Map<string, number>()
  for (const leg of tx.legs) {
    const minted = walletKind(leg.from) === "issuance" ? leg.amount : 0
    const burnt = walletKind(leg.to) === "issuance" ? leg.amount : 0
    if (minted !== burnt) circulation.set(leg.asset, (circulation.get(leg.asset) ?? 0) + minted - burnt)
  }
  const backing = { received: 0, refunded: 0, paidOut: 0 }
  addBacking(backing, tx, fed)
  return { seq: stored.seq, circulation, backing }
}

export class FinalSupply {
  private readonly fed: AssetId
  private readonly circulation = new Map<string, number>()
  private readonly backing = { received: 0, refunded: 0, paidOut: 0 }
  /** Effects of committed transactions not final yet, in seq order. */
  private readonly unfinal: Effect[] = []

  /**
   * From the state at start (storage's, everything committed) and the transactions committed after
   * the last final one (`tail`), which it does not count yet.
   */
  constructor(
    state: LedgerState,
    tail: readonly StoredTx[],
    private readonly finalSeq: () => number,
  ) {
    for (const asset of state.assets.keys()) this.circulation.set(asset, circulationIn(state, asset))
    Object.assign(this.backing, state.backing)
    this.fed = state.fed
    for (const stored of tail) {
      const effect = effectOf(stored, this.fed)
      if (effect === undefined) continue
      this.add(effect, -1)
      this.unfinal.push(effect)
    }
  }

  /** Each committed batch's transactions, in seq order. */
  committed(txs: readonly StoredTx[]): void {
    this.settle()
    for (const stored of txs) {
      const effect = effectOf(stored, this.fed)
      if (effect !== undefined) this.unfinal.push(effect)
    }
  }

  /** Counts what became final since. */
  private settle(): number {
    const through = this.finalSeq()
    let final = 0
    while (final < this.unfinal.length && (this.unfinal[final] as Effect).seq <= through) this.add(this.unfinal[final++] as Effect, 1)
    if (final > 0) this.unfinal.splice(0, final)
    return through
  }

  private add(effect: Effect, sign: 1 | -1): void {
    for (const [asset, delta] of effect.circulation) this.circulation.set(asset, (this.circulation.get(asset) ?? 0) + sign * delta)
    this.backing.received += sign * effect.backing.received
    this.backing.refunded += sign * effect.backing.refunded
    this.backing.paidOut += sign * effect.backing.paidOut
  }

  /** The supply document as of the last final transaction, with the assets `state` knows. */
  document(state: LedgerState) {
    const through = this.settle()
    return supplyOf(state, Math.max(through, 0), (asset) => this.circulation.get(asset) ?? 0, this.backing)
  }
}
