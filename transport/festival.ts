/**
 * An in-process festival through the pure engine: cash desks top cards up, bars sell, everything
 * is then replayed and checked. It is what `gesell start` shows until the network node exists, and
 * a quick way to see the engine's rules and its raw speed on this machine.
 */
import { decodeCommand } from "../engine/command.js"
import { execute } from "../engine/execute.js"
import { replay, sameBalances, stateBalances } from "../engine/apply.js"
import { txRoot } from "../engine/hash.js"
import type { CardId, CardUid, TimeMs, TxId } from "../engine/names.js"
import type { LedgerState, Transaction } from "../engine/state.js"
import { demoCardUid, demoPlaces, type DemoReader } from "./demo.js"

export interface FestivalReport {
  readonly taps: number
  readonly statuses: Map<string, number>
  readonly transactions: number
  readonly engineMs: number
  readonly replayMatches: boolean
  readonly txRoot: string
  readonly supply: Map<string, number>
}

/** A small deterministic generator, so that a festival is the same for the same seed. */
const xorshift = (seed: number) => {
  let x = seed >>> 0 || 1
  return (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

export const runFestival = (
  state: LedgerState,
  readers: readonly DemoReader[],
  options: { taps: number; cards: number; seed: number; startMs: number; clockMs: () => number; pseudonym: (uid: CardUid) => CardId },
): FestivalReport => {
  const random = xorshift(options.seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const statuses = new Map<string, number>()
  const txs: Transaction[] = []
  const started = options.clockMs()
  for (let tap = 0; tap < options.taps; tap++) {
    const reader = pick(readers)
    // A reader gives the uid; the engine knows the card by its pseudonym (PROTOCOL.md section 9.4).
    const card = options.pseudonym(demoCardUid(1 + Math.floor(random() * options.cards)) as CardUid)
    const place = demoPlaces.find((p) => p.id === reader.place) ?? demoPlaces[0]
    const raw =
      reader.role === "cashdesk"
        ? { kind: "topup", reader: reader.id, request: `t${tap}`, place: place.id, card, amount: 1000 + 500 * Math.floor(random() * 8), asset: place.id === "kaz" ? "kaz-time" : place.id === "manapany" ? "mana-gift" : "raf-eur" }
        : place.id === "kaz"
          ? { kind: "sale", reader: reader.id, request: `t${tap}`, place: place.id, card, amount: 10 + 5 * Math.floor(random() * 10), asset: "kaz-time" }
          : { kind: "sale", reader: reader.id, request: `t${tap}`, place: place.id, card, amount: 150 + 50 * Math.floor(random() * 10) }
    const decoded = decodeCommand(raw)
    if (!decoded.ok) throw new Error(`demo command rejected: ${decoded.message}`)
    const outcome = execute(state, decoded.value, { now: (options.startMs + tap) as TimeMs, txId: `tap-${tap}` as TxId })
    statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
    if (outcome.ok && outcome.tx !== null) txs.push(outcome.tx)
  }
  const engineMs = options.clockMs() - started
  const replayed = replay(txs)
  const root = txRoot(txs)
  const supply = new Map<string, number>()
  for (const [wallet, held] of stateBalances(state)) {
    if (wallet.startsWith("issuance:")) for (const [asset, amount] of held) supply.set(asset, -amount)
  }
  return {
    taps: options.taps,
    statuses,
    transactions: txs.length,
    engineMs,
    replayMatches: replayed.ok && sameBalances(replayed.balances, stateBalances(state)),
    txRoot: root.ok ? root.value : `(no canonical form: ${root.reason})`,
    supply,
  }
}
