/**
 * The bridge between what storage holds and the engine's in-memory state: rebuilding a LedgerState
 * from a storage Snapshot, and the stored form of wallets and cards for a commit batch.
 */
import { decodeGenesis, ledgerFromGenesis } from "../engine/genesis.js"
import type { AssetId, CardUid, TimeMs, WalletId } from "../engine/names.js"
import { isRecord } from "../engine/names.js"
import { newCard, setMeltedUntil, setMembership, type Card, type CardRecord, type LedgerState, type Transaction, type Wallet } from "../engine/state.js"
import { validatorSetOf } from "../engine/validators.js"
import type { Snapshot, StoredCard, StoredWallet } from "../storage/ledger.js"

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
    assets: snapshot.assets,
    places: snapshot.places,
    // A revoked reader is out of the state the engine authorizes with: its requests are `forbidden`.
    readers: snapshot.readers.filter((reader) => !reader.revoked).map(({ id, place, role, tokenSha256 }) => ({ id, place, role, tokenSha256 })),
    cards: [],
  }
  const decoded = decodeGenesis(document)
  if (!decoded.ok) throw new SnapshotInvalid(`stored ledger definition is invalid at ${decoded.field}: ${decoded.message}`)
  const state = ledgerFromGenesis(decoded.value)
  for (const card of snapshot.cards) state.cards.set(card.uid as CardUid, cardFromStore(card))
  for (const wallet of snapshot.wallets) walletFromStore(state, wallet)
  for (const ref of snapshot.refs) state.refs.add(ref)
  for (const request of snapshot.requests) {
    state.requests.set(`${request.reader}/${request.request}`, {
      fingerprint: request.fingerprint,
      time: request.time,
      status: "recorded",
      tx: null,
      reply: request.reply,
    })
  }
  Object.assign(state.backing, snapshot.backing)
  if (snapshot.validators !== undefined) {
    const set = validatorSetOf(snapshot.validators)
    if (set === undefined) throw new SnapshotInvalid("the stored validator set is invalid")
    state.validators = set
  }
  return state
}

/**
 * What a transaction touches in storage: the wallets of its legs and of its card, the card itself
 * when its wallet or status changed. Returns whether the backing counters or the validator set
 * changed too.
 */
export const touchedBy = (
  state: LedgerState,
  tx: Transaction,
  wallets: Set<WalletId>,
  cards: Set<string>,
): { readonly backing: boolean; readonly validators: boolean } => {
  for (const leg of tx.legs) {
    wallets.add(leg.from)
    wallets.add(leg.to)
  }
  if (tx.card !== undefined) {
    const card = state.cards.get(tx.card)
    if (card !== undefined) wallets.add(card.wallet)
    if (tx.kind === "fusion" || tx.kind === "void") cards.add(tx.card)
  }
  // Shared answers: this runs once per tap, and allocates nothing.
  if (tx.kind === "refill" || tx.kind === "mint" || tx.kind === "deposit") return backingChanged
  return tx.kind === "validators" ? validatorsChanged : nothingElseChanged
}

const nothingElseChanged = { backing: false, validators: false } as const
const backingChanged = { backing: true, validators: false } as const
const validatorsChanged = { backing: false, validators: true } as const

const cardFromStore = (card: StoredCard): CardRecord => newCard(card.uid as CardUid, card.number, card.status, card.wallet as WalletId)

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
  uid: card.uid,
  number: card.number,
  status: card.status,
  wallet: card.wallet,
})
