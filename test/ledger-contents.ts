/**
 * Everything a ledger state holds that the engine decides from, as plain data sorted by key, for
 * deep comparison: two states with equal contents answer every command alike. Maps are sorted
 * because their insertion order is history that a replica need not share; a wallet holding
 * nothing (no balance, membership or melt, never active) is left out, since the engine reads it
 * as it reads a wallet never opened. The idempotency records are the node's own (replicas keep
 * none) and a card's printed number never enters the ledger: neither is here.
 */
import type { LedgerState } from "../engine/state.js"

const byKey = <V>(entries: Iterable<readonly [string, V]>): Array<[string, V]> =>
  [...entries].map(([key, value]): [string, V] => [key, value]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** A value as plain JSON data (undefined fields dropped), so that toEqual compares documents. */
const plain = (value: unknown): unknown => (value === undefined ? null : JSON.parse(JSON.stringify(value)))

export const ledgerContents = (state: LedgerState) => ({
  federation: state.federation,
  fed: state.fed,
  wallets: byKey(state.wallets)
    .filter(([, wallet]) => wallet.balances.size > 0 || wallet.memberships.size > 0 || wallet.meltedUntilMs.size > 0 || wallet.lastActivityMs !== 0)
    .map(([id, wallet]) => ({
      id,
      balances: byKey(wallet.balances),
      memberships: byKey(wallet.memberships),
      meltedUntilMs: byKey(wallet.meltedUntilMs),
      lastActivityMs: wallet.lastActivityMs,
    })),
  cards: byKey(state.cards).map(([id, card]) => ({ card: id, status: card.status, wallet: card.wallet, staff: plain(card.staff) })),
  places: byKey(state.places).map(([, place]) => plain(place)),
  assets: byKey(state.assets).map(([, asset]) => plain(asset)),
  readers: byKey(state.readers).map(([, reader]) => plain(reader)),
  refs: [...state.refs].sort(),
  backing: { ...state.backing },
  payments: [...state.payments].sort(([a], [b]) => (a < b ? -1 : 1)).map(([ref, payment]) => ({ ref, ...payment })),
  validators: plain(state.validators),
  stewards: plain(state.stewards),
  observers: [...state.observers],
  rules: { ...state.rules },
})

export type LedgerContents = ReturnType<typeof ledgerContents>
