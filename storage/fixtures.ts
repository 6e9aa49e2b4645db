/**
 * What the storage tests, the crash child and the commit bench write: a small genesis document
 * (PROTOCOL.md section 6) and batches of sales shaped like the ones the writer commits.
 */
import type { JsonValue } from "../engine/state.js"
import type { CommitBatch, LedgerStart, StoredCard, StoredTx, StoredWallet } from "./ledger.js"

export const genesisTimeMs = 1_732_400_000_000

export const genesisReaders = [
  { id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: "a".repeat(64) },
  { id: "desk-1", place: "raffinerie", role: "cashdesk", tokenSha256: "b".repeat(64) },
] as const

export const genesisDocument = {
  federation: { id: "reunion", name: "Réseau des tiers-lieux" },
  validators: { keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], threshold: 1 },
  assets: [
    { id: "fed", kind: "fed", name: "Euro fédéré" },
    { id: "raf-eur", kind: "local_fiat", issuer: "raffinerie", name: "Raffinerie €" },
    { id: "raf-gift", kind: "gift", issuer: "raffinerie", name: "Cadeau" },
  ],
  places: [{ id: "raffinerie", name: "La Raffinerie", accepts: ["raf-gift", "raf-eur", "fed"] }],
  readers: genesisReaders,
  // Block 0 commits to its cards (PROTOCOL.md section 9.4); storage keeps the document as it is.
  cards: { count: 2, sha256: "5".repeat(64) },
} satisfies JsonValue

/** The card key a new ledger is initialized with (64 hex). */
export const fixtureCardKey = "4b".repeat(32)

/** The genesis's cards as the node commits them with the genesis (storage takes any card id). */
export const genesisCards: StoredCard[] = [
  { id: "04a1b2c3", number: "A1B2C3D4", status: "active", wallet: "card:04a1b2c3" },
  { id: "04a1b2c4", number: undefined, status: "active", wallet: "card:04a1b2c4" },
]

/** What a new ledger starts with beside its genesis: the card key, and the genesis's cards. */
export const fixtureStart: LedgerStart = { cardKey: fixtureCardKey, first: { txs: [], replies: [], wallets: [], cards: genesisCards } }

/** The genesis transaction as the node builds it: kind `validators`, the document in `memo`. */
export const genesisTx: StoredTx = {
  seq: 0,
  id: "genesis",
  time: genesisTimeMs,
  body: JSON.stringify({ id: "genesis", kind: "validators", time: genesisTimeMs, legs: [], memo: genesisDocument }),
}

/** A sale by card `card` at bar-1, answered with an "ok" reply, as the writer stores it. */
export const sale = (seq: number, card: string, timeMs: number = genesisTimeMs + seq): StoredTx => {
  const request = `req-${seq}`
  const body = {
    id: `tx-${seq}`,
    kind: "sale",
    time: timeMs,
    place: "raffinerie",
    reader: "bar-1",
    card,
    request,
    legs: [{ asset: "fed", from: `card:${card}`, to: "place:raffinerie", amount: 250 }],
  }
  return {
    seq,
    id: body.id,
    time: timeMs,
    body: JSON.stringify(body),
    reader: "bar-1",
    request,
    fingerprint: `fp-${seq}`,
    reply: JSON.stringify({ request, status: "ok", tx: body.id, balances: [{ asset: "fed", amount: 1000 - 250 }] }),
  }
}

export const wallet = (id: string, fed: number, lastActivityMs: number = genesisTimeMs): StoredWallet => ({
  id,
  balances: { fed },
  memberships: {},
  melted: {},
  lastActivityMs,
})

/** `count` sales from seq `firstSeq` on, by cards `0000…` numbered from `firstCard`, with their wallets. */
export const salesBatch = (firstSeq: number, count: number, firstCard = 0): CommitBatch => {
  const cards = Array.from({ length: count }, (_, index) => (firstCard + index).toString(16).padStart(8, "0"))
  return {
    txs: cards.map((card, index) => sale(firstSeq + index, card)),
    replies: [],
    wallets: cards.map((card, index) => wallet(`card:${card}`, 750 + index)),
    cards: [],
  }
}

/** What the crash test's child commits before it is killed. */
export const crashBatches = 5
export const crashBatchTxs = 1_000
