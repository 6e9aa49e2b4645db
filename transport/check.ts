/**
 * `gesell check`: replays the whole stored ledger, page by page, and compares the balances it
 * produces with the stored wallet balances, and the backing proof (PROTOCOL.md section 9.5): the
 * euros received, refunded and paid out that the transactions say, with the stored counters, and
 * fed in circulation with received − refunded − paid out. Any difference, or a transaction that
 * cannot apply, is printed and makes the command exit non-zero.
 */
import { Clock, Console, Effect } from "effect"
import { addBacking, replayInto, type Balances } from "../engine/apply.js"
import { isRecord, type AssetId, type WalletId } from "../engine/names.js"
import type { Transaction } from "../engine/state.js"
import { Ledger, type LedgerStore } from "../storage/ledger.js"

const pageTxMax = 10_000

export interface CheckReport {
  readonly transactions: number
  readonly wallets: number
  readonly differences: readonly string[]
}

export const checkLedger = Effect.gen(function* () {
  const store = yield* Ledger
  const balances: Balances = new Map()
  const differences: string[] = []
  const backing = { received: 0, refunded: 0, paidOut: 0 }
  const fed = yield* fedOf(store)
  let seq = 0
  let count = 0
  for (;;) {
    const page = yield* store.transactions(seq, pageTxMax)
    if (page.length === 0) break
    for (const [offset, stored] of page.entries()) {
      if (stored.seq !== seq + offset) differences.push(`transaction seq ${seq + offset} is missing (found ${stored.seq})`)
    }
    const txs = page.map((stored) => JSON.parse(stored.body) as Transaction)
    for (const tx of txs) addBacking(backing, tx, fed)
    const fault = replayInto(balances, txs, count)
    if (fault !== undefined) {
      differences.push(`transaction ${fault.txId} (number ${fault.index}) cannot apply: ${fault.reason}`)
      break
    }
    count += page.length
    seq = (page.at(-1)?.seq ?? seq) + 1
  }
  const now = yield* Clock.currentTimeMillis
  const snapshot = yield* store.load(now)
  const stored = new Map(snapshot.wallets.map((w) => [w.id, w.balances]))
  for (const wallet of new Set<string>([...balances.keys(), ...stored.keys()])) {
    const replayed = balances.get(wallet as WalletId) ?? new Map<AssetId, number>()
    const kept = stored.get(wallet) ?? {}
    for (const asset of new Set<string>([...replayed.keys(), ...Object.keys(kept)])) {
      const a = replayed.get(asset as AssetId) ?? 0
      const b = kept[asset] ?? 0
      if (a !== b) differences.push(`${wallet} ${asset}: replay gives ${a}, storage holds ${b}`)
    }
  }
  for (const counter of ["received", "refunded", "paidOut"] as const) {
    if (backing[counter] !== snapshot.backing[counter]) differences.push(`backing: the transactions say ${counter} ${backing[counter]}, storage holds ${snapshot.backing[counter]}`)
  }
  const circulation = -(balances.get(`issuance:${fed}` as WalletId)?.get(fed) ?? 0)
  const backed = backing.received - backing.refunded - backing.paidOut
  if (circulation !== backed) differences.push(`backing: ${fed} in circulation is ${circulation}, not received − refunded − paid out = ${backed}`)
  return { transactions: count, wallets: stored.size, differences } satisfies CheckReport
})

/** The federation's fed asset, as the stored genesis names it. */
const fedOf = (store: LedgerStore) =>
  Effect.map(store.load(0), (snapshot) => {
    const fed = snapshot.assets.find((asset) => isRecord(asset) && asset["kind"] === "fed")
    const id = isRecord(fed) ? fed["id"] : undefined
    return (typeof id === "string" ? id : "fed") as AssetId
  })

export const runCheck = checkLedger.pipe(
  Effect.tap((report) =>
    report.differences.length === 0
      ? Console.log(`gesell check: ${report.transactions} transactions replayed; the ${report.wallets} stored wallets match exactly, and fed in circulation is what was received less what was refunded and paid out.`)
      : Effect.forEach(report.differences, (line) => Console.error(`gesell check: ${line}`)),
  ),
  Effect.map((report) => (report.differences.length === 0 ? 0 : 1)),
)
