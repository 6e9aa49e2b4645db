/**
 * The bridge between what storage holds and the engine's in-memory state: rebuilding a LedgerState
 * from a storage Snapshot, and the stored form of wallets and cards for a commit batch.
 */
import { decodeGenesis, ledgerFromGenesis } from "../engine/genesis.js"
import type { AssetId, CardId, PlaceId, ReaderId, TimeMs, TxId, WalletId } from "../engine/names.js"
import { isRecord } from "../engine/names.js"
import { decodeKeys, decodeObserverKeys, decodeRulesVersion, decodeStaff } from "../engine/registry.js"
import { newCard, setMeltedUntil, setMembership, type Card, type CardRecord, type JsonValue, type LedgerState, type Transaction, type Wallet } from "../engine/state.js"
import { validatorSetOf } from "../engine/validators.js"
import type { RegistryDocument, RegistryMetaKey, Snapshot, StoredCard, StoredWallet } from "../storage/ledger.js"

export class SnapshotInvalid extends Error {
  override readonly name = "SnapshotInvalid"
}

const entries = (record: Readonly<Record<string, number>>) => Object.entries(record)

/** Rebuilds the engine's state from storage; throws SnapshotInvalid when storage holds nonsense. */
export const stateFromSnapshot = (snapshot: Snapshot): LedgerState => {
  const genesis = isRecord(snapshot.genesis) ? snapshot.genesis : {}
  const document = {
    federation: genesis["federation"],
    validators: genesis["validators"],
    stewards: genesis["stewards"],
    observers: genesis["observers"],
    assets: snapshot.assets,
    places: snapshot.places,
    // A revoked reader is out of the state the engine authorizes with: its requests are `forbidden`.
    readers: snapshot.readers.filter((reader) => !reader.revoked).map(({ id, place, role, tokenSha256 }) => ({ id, place, role, tokenSha256 })),
    // Block 0's commitment: the cards themselves come from storage below.
    cards: genesis["cards"],
  }
  const decoded = decodeGenesis(document)
  if (!decoded.ok) throw new SnapshotInvalid(`stored ledger definition is invalid at ${decoded.field}: ${decoded.message}`)
  const state = ledgerFromGenesis(decoded.value)
  // Revoked readers stay known (an id registered again needs to know it was revoked).
  for (const reader of snapshot.readers) {
    if (reader.revoked) state.readers.set(reader.id as ReaderId, { id: reader.id as ReaderId, place: reader.place as PlaceId, role: reader.role, tokenSha256: reader.tokenSha256, revoked: true })
  }
  for (const card of snapshot.cards) state.cards.set(card.id as CardId, cardFromStore(card))
  for (const wallet of snapshot.wallets) walletFromStore(state, wallet)
  for (const ref of snapshot.refs) state.refs.add(ref)
  for (const { ref, wallet, paid, refunded, pending } of snapshot.payments) {
    state.payments.set(ref, { wallet: wallet as WalletId, paid, refunded, pending: pending === null ? undefined : { tx: pending.tx as TxId, amount: pending.amount } })
  }
  for (const request of snapshot.requests) {
    state.requests.set(`${request.reader}/${request.request}`, {
      fingerprint: request.fingerprint,
      time: request.time,
      status: "recorded",
      tx: null,
      reply: request.reply,
    })
  }
  for (const request of snapshot.approved) state.approved.add(request)
  state.genesisHash = snapshot.genesisHash ?? ""
  Object.assign(state.backing, snapshot.backing)
  applyStoredMeta(state, snapshot.meta)
  if (snapshot.validators !== undefined) {
    const set = validatorSetOf(snapshot.validators)
    if (set === undefined) throw new SnapshotInvalid("the stored validator set is invalid")
    state.validators = set
  }
  return state
}

/** What the transactions of a commit touched, to be written with it. */
export interface Touched {
  readonly wallets: Set<WalletId>
  readonly cards: Set<string>
  readonly places: Set<string>
  readonly assets: Set<string>
  readonly readers: Set<string>
  readonly meta: Set<RegistryMetaKey>
  /** Approved commands' request ids, with their transactions' seqs. */
  readonly approved: Map<string, number>
  /** Refills' payments opened or refunded (PROTOCOL.md section 9.5), by reference. */
  readonly payments: Set<string>
  backing: boolean
  validators: boolean
}

export const emptyTouched = (): Touched => ({
  wallets: new Set(),
  cards: new Set(),
  places: new Set(),
  assets: new Set(),
  readers: new Set(),
  meta: new Set(),
  approved: new Map(),
  payments: new Set(),
  backing: false,
  validators: false,
})

/**
 * What a transaction touches in storage: the wallets of its legs and of its card, the card itself
 * when its wallet, status or staff rights changed or it is new, the registry entry a registry
 * transaction changed, the backing counters, the validator set, an approved command's request id
 * (with `seq`, the transaction's). Allocates nothing for a tap.
 */
export const touchedBy = (state: LedgerState, tx: Transaction, touched: Touched, seq: number): void => {
  if (tx.approvals !== undefined && isRecord(tx.command) && typeof tx.command["request"] === "string") touched.approved.set(tx.command["request"], seq)
  for (const leg of tx.legs) {
    touched.wallets.add(leg.from)
    touched.wallets.add(leg.to)
  }
  if (tx.card !== undefined) {
    const card = state.cards.get(tx.card)
    if (card !== undefined) touched.wallets.add(card.wallet)
    if (tx.kind === "fusion" || tx.kind === "void" || tx.kind === "block") touched.cards.add(tx.card)
  }
  switch (tx.kind) {
    case "refill":
      if (tx.ref !== undefined && state.payments.has(tx.ref)) touched.payments.add(tx.ref)
      touched.backing = true
      return
    case "mint":
    case "deposit":
      touched.backing = true
      return
    case "withdraw":
    case "payback":
    case "restore": {
      const payment = isRecord(tx.memo) ? tx.memo["payment"] : undefined
      if (typeof payment === "string") touched.payments.add(payment)
      if (tx.kind === "payback") touched.backing = true
      return
    }
    case "validators":
      touched.validators = true
      return
    case "place":
    case "asset":
    case "reader": {
      const id = isRecord(tx.command) ? tx.command["id"] : undefined
      if (typeof id === "string") (tx.kind === "place" ? touched.places : tx.kind === "asset" ? touched.assets : touched.readers).add(id)
      return
    }
    case "cards": {
      const cards = isRecord(tx.command) && Array.isArray(tx.command["cards"]) ? tx.command["cards"] : []
      for (const entry of cards) if (isRecord(entry) && typeof entry["card"] === "string") touched.cards.add(entry["card"])
      return
    }
    case "stewards":
    case "observers":
    case "rules":
      touched.meta.add(tx.kind)
      return
    default:
      return
  }
}

/** The stored form of everything touched, as the state holds it now: the parts of a CommitBatch. */
export const touchedRows = (state: LedgerState, touched: Touched) => ({
  wallets: [...touched.wallets].flatMap((id) => {
    const wallet = state.wallets.get(id)
    return wallet === undefined ? [] : [walletToStore(wallet)]
  }),
  cards: [...touched.cards].flatMap((id) => {
    const card = state.cards.get(id as CardId)
    return card === undefined ? [] : [cardToStore(card)]
  }),
  places: touched.places.size === 0 ? undefined : [...touched.places].flatMap((id) => document(state.places.get(id as PlaceId))),
  assets: touched.assets.size === 0 ? undefined : [...touched.assets].flatMap((id) => document(state.assets.get(id as AssetId))),
  readers: touched.readers.size === 0 ? undefined : [...touched.readers].flatMap((id) => {
    const reader = state.readers.get(id as ReaderId)
    return reader === undefined ? [] : [{ id: reader.id, place: reader.place, role: reader.role, tokenSha256: reader.tokenSha256, revoked: reader.revoked === true }]
  }),
  meta: touched.meta.size === 0 ? undefined : [...touched.meta].map((key) => ({ key, value: metaValue(state, key) })),
  approved: touched.approved.size === 0 ? undefined : [...touched.approved].map(([request, seq]) => ({ request, seq })),
  backing: touched.backing ? { ...state.backing } : undefined,
  payments: touched.payments.size === 0 ? undefined : [...touched.payments].flatMap((ref) => {
    const payment = state.payments.get(ref)
    return payment === undefined ? [] : [{ ref, wallet: payment.wallet, paid: payment.paid, refunded: payment.refunded, pending: payment.pending ?? null }]
  }),
  validators: touched.validators ? JSON.stringify(state.validators) : undefined,
})

/** A place or an asset as its JSON document (the genesis form). */
const document = (value: object | undefined): RegistryDocument[] =>
  value === undefined ? [] : [JSON.parse(JSON.stringify(value)) as RegistryDocument]

const metaValue = (state: LedgerState, key: RegistryMetaKey): JsonValue => {
  switch (key) {
    case "stewards":
      return state.stewards === undefined ? null : { keys: [...state.stewards.keys], threshold: state.stewards.threshold }
    case "observers":
      return [...state.observers]
    case "rules":
      return { ...state.rules }
  }
}

/** The steward set, observers and rules version that transactions set, as stored. */
const applyStoredMeta = (state: LedgerState, meta: Readonly<Record<string, JsonValue>>): void => {
  const stewards = meta["stewards"]
  if (stewards !== undefined && stewards !== null) {
    const keys = decodeKeys(isRecord(stewards) ? stewards["keys"] : undefined, "stewards.keys")
    const threshold = isRecord(stewards) ? stewards["threshold"] : undefined
    if (!keys.ok || typeof threshold !== "number" || threshold < 1 || threshold > keys.value.length) throw new SnapshotInvalid("the stored steward set is invalid")
    state.stewards = { keys: keys.value, threshold }
  }
  if (meta["observers"] !== undefined) {
    const keys = decodeObserverKeys(meta["observers"], "observers")
    if (!keys.ok) throw new SnapshotInvalid("the stored observer keys are invalid")
    state.observers = keys.value
  }
  const rules = meta["rules"]
  if (rules !== undefined) {
    const version = decodeRulesVersion(isRecord(rules) ? rules["version"] : undefined, "rules.version")
    const from = isRecord(rules) ? rules["from"] : undefined
    if (!version.ok || typeof from !== "number" || !Number.isSafeInteger(from)) throw new SnapshotInvalid("the stored rules version is not one this engine implements")
    state.rules = { version: version.value, from }
  }
}

const cardFromStore = (stored: StoredCard): CardRecord => {
  const card = newCard(stored.id as CardId, stored.number, stored.status, stored.wallet as WalletId)
  if (stored.staff !== undefined && stored.staff !== null) {
    const staff = decodeStaff(stored.staff, "card.staff")
    if (!staff.ok || staff.value === null) throw new SnapshotInvalid(`stored staff rights of a card are invalid: ${staff.ok ? "null" : staff.message}`)
    card.staff = staff.value
  }
  return card
}

/** Opens the stored wallet in the state (a card's own wallet is its card, read before). */
const walletFromStore = (state: LedgerState, stored: StoredWallet): Wallet => {
  const wallet = state.wallets.open(stored.id as WalletId)
  for (const [asset, amount] of entries(stored.balances)) wallet.balances.set(asset as AssetId, amount)
  for (const [asset, until] of entries(stored.memberships)) setMembership(wallet, asset as AssetId, until as TimeMs)
  for (const [asset, until] of entries(stored.melted)) setMeltedUntil(wallet, asset as AssetId, until)
  wallet.lastActivityMs = stored.lastActivityMs
  return wallet
}

export const walletToStore = (wallet: Wallet): StoredWallet => ({
  id: wallet.id,
  balances: Object.fromEntries(wallet.balances),
  memberships: Object.fromEntries(wallet.memberships),
  melted: Object.fromEntries(wallet.meltedUntilMs),
  lastActivityMs: wallet.lastActivityMs,
})

export const cardToStore = (card: Card): StoredCard => ({
  id: card.pseudonym,
  number: card.number,
  status: card.status,
  wallet: card.wallet,
  staff: card.staff === undefined ? null : { places: [...card.staff.places], roles: [...card.staff.roles], until: card.staff.until },
})
