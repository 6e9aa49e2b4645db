/**
 * A small federation for tests: two places with their own assets, a fed asset, readers of both
 * roles, a few cards, a demurrage policy and an exchange rate, so that every rule has something to
 * bite on. `ledger()` gives a fresh state; `run()` decodes and executes a raw command.
 */
import { decodeCommand } from "../engine/command.js"
import { execute, type Executed } from "../engine/execute.js"
import { decodeGenesis, ledgerFromGenesis, type Genesis } from "../engine/genesis.js"
import type { CardUid, TimeMs, TxId } from "../engine/names.js"
import type { LedgerState } from "../engine/state.js"

export const day = 24 * 60 * 60 * 1000
export const t0 = 1_732_400_000_000

export const genesisDocument = {
  federation: { id: "reunion", name: "Réseau des tiers-lieux" },
  validators: { keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], threshold: 1 },
  assets: [
    { id: "fed", kind: "fed", name: "Euro fédéré", demurrage: { idleMs: 180 * day, periodMs: 30 * day, rule: { kind: "percent", basisPoints: 200 }, shares: { place: 0, fund: 9, maintenance: 1 } } },
    { id: "raf-eur", kind: "local_fiat", issuer: "raffinerie", name: "Raffinerie €", exchange: { fed: 1, local: 1 } },
    { id: "raf-gift", kind: "gift", issuer: "raffinerie", name: "Cadeau" },
    { id: "raf-member", kind: "membership", issuer: "raffinerie", name: "Adhésion" },
    { id: "mana-time", kind: "time", issuer: "manapany", name: "Temps", exchange: { fed: 20, local: 1 }, demurrage: { idleMs: 30 * day, periodMs: 7 * day, rule: { kind: "fixed", amount: 10 }, shares: { place: 1, fund: 1, maintenance: 1 } } },
    { id: "mana-pts", kind: "loyalty", issuer: "manapany", name: "Points", demurrage: { idleMs: 365 * day, periodMs: day, rule: { kind: "all" }, shares: { place: 1, fund: 0, maintenance: 0 } } },
  ],
  places: [
    { id: "raffinerie", name: "La Raffinerie", accepts: ["raf-gift", "raf-eur", "fed"] },
    { id: "manapany", name: "Manapany", accepts: ["fed", "mana-time"] },
    { id: "kiosque", name: "Le Kiosque", accepts: ["mana-time"] },
  ],
  readers: [
    { id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: "a".repeat(64) },
    { id: "bar-2", place: "raffinerie", role: "bar", tokenSha256: "b".repeat(64) },
    { id: "desk-1", place: "raffinerie", role: "cashdesk", tokenSha256: "c".repeat(64) },
    { id: "mana-bar", place: "manapany", role: "bar", tokenSha256: "d".repeat(64) },
    { id: "mana-desk", place: "manapany", role: "cashdesk", tokenSha256: "e".repeat(64) },
  ],
  cards: [
    { uid: "04a1b2c3", number: "A1B2C3D4" },
    { uid: "04a1b2c3d4e5f6", number: "B2" },
    { uid: "0102030405060708090a", number: "C3" },
    { uid: "deadbeef" },
    { uid: "cafebabe" },
  ],
}

export const cards = ["04a1b2c3", "04a1b2c3d4e5f6", "0102030405060708090a", "deadbeef", "cafebabe"] as const
export const users = ["user:00000000-0000-4000-8000-000000000001", "user:00000000-0000-4000-8000-000000000002"] as const

export const genesis = (): Genesis => {
  const decoded = decodeGenesis(genesisDocument)
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return decoded.value
}

export const ledger = (): LedgerState => ledgerFromGenesis(genesis())

/** Runs raw commands in order on a state, each at its own time and with its own transaction id. */
export class Session {
  private sequence = 0
  constructor(
    readonly state: LedgerState = ledger(),
    public now: number = t0,
  ) {}

  run(raw: Record<string, unknown>): Executed {
    const decoded = decodeCommand(raw)
    if (!decoded.ok) return { ...decoded, replayed: false }
    this.sequence += 1
    return execute(this.state, decoded.value, { now: this.now as TimeMs, txId: `tx-${this.sequence}` as TxId })
  }

  /** Runs a command that must succeed, for setting a scene. */
  must(raw: Record<string, unknown>): Executed {
    const outcome = this.run(raw)
    if (outcome.status !== "ok") throw new Error(`scene command ${JSON.stringify(raw)} failed: ${outcome.status}`)
    return outcome
  }

  balance(wallet: string, asset: string): number {
    return this.state.wallets.get(wallet as never)?.balances.get(asset as never) ?? 0
  }
}

export const card = (uid: string): CardUid => uid as CardUid

/** Everything a failing command must leave as it was: balances, memberships, melt times, cards, refs, backing. */
export const ledgerSnapshot = (state: LedgerState): string =>
  JSON.stringify({
    wallets: [...state.wallets].map(([id, w]) => [id, [...w.balances], [...w.memberships], [...w.meltedUntilMs]]),
    cards: [...state.cards.values()].map((c) => [c.uid, c.status, c.wallet]),
    refs: [...state.refs],
    backing: state.backing,
  })
