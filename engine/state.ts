/**
 * The ledger state the engine reads and its transactions change: assets, places, readers, cards,
 * wallets (a balance per asset, membership ends, last activity) and the idempotency records.
 *
 * The state is owned by one single writer at a time (a wallet actor, a validator's replica), so the
 * engine changes it in place when, and only when, a command is applied: copying a million wallets per
 * tap is not an option. Everything that decides is pure; `applyTransaction` is the one mutation.
 */
import { cardWallet } from "./names.js"
import type { CardsCommitment } from "./pseudonyms.js"
import type {
  AssetId,
  CardId,
  FederationId,
  PlaceId,
  ReaderId,
  TimeMs,
  TxId,
  ValidatorId,
  WalletId,
} from "./names.js"

export const assetKinds = ["fed", "local_fiat", "gift", "time", "loyalty", "membership"] as const
export type AssetKind = (typeof assetKinds)[number]
/** Assets worth one euro cent per unit: a price without an asset is paid from these. */
export const euroKinds: ReadonlySet<AssetKind> = new Set(["gift", "local_fiat", "fed"])

/** How idle money melts: a share per period, a fixed amount per period, or all of it at once. */
export type MeltRule =
  | { readonly kind: "percent"; readonly basisPoints: number }
  | { readonly kind: "fixed"; readonly amount: number }
  | { readonly kind: "all" }

export interface DemurragePolicy {
  /** A wallet melts only once it has been idle longer than this. */
  readonly idleMs: number
  readonly periodMs: number
  readonly rule: MeltRule
  /** Integer shares of the melted amount; the remainder of the division goes to the common fund. */
  readonly shares: { readonly place: number; readonly fund: number; readonly maintenance: number }
}

/** A fixed exchange rate: `local` units of the asset are worth `fed` units of fed. */
export interface ExchangeRate {
  readonly fed: number
  readonly local: number
}

export interface Asset {
  readonly id: AssetId
  readonly kind: AssetKind
  readonly name: string
  readonly issuer?: PlaceId
  readonly demurrage?: DemurragePolicy
  readonly exchange?: ExchangeRate
}

/** Where a place's payouts go (PROTOCOL.md section 9.2). */
export interface PayoutAccount {
  readonly iban: string
  readonly name: string
}

export interface Place {
  readonly id: PlaceId
  readonly name: string
  /** Accepted assets in the order a price is paid from them. */
  readonly accepts: readonly AssetId[]
  /** A membership asset its sales require on the card (section 9.6). */
  readonly membershipRequired?: AssetId
  /** Whether its tills need a staff card (section 9.6). */
  readonly staffRequired?: boolean
  readonly payout?: PayoutAccount
}

export type ReaderRole = "bar" | "cashdesk"
export interface Reader {
  readonly id: ReaderId
  readonly place: PlaceId
  readonly role: ReaderRole
  readonly tokenSha256: string
  /** A revoked reader stays known (its id may be registered again), and is refused `forbidden`. */
  readonly revoked?: true
}

export type CardStatus = "active" | "blocked" | "voided"

export const staffRoles = ["bar", "cashdesk", "manager"] as const
export type StaffRole = (typeof staffRoles)[number]
/** A staff card's rights (PROTOCOL.md section 9.2): the places and roles it opens tills for, until a time. */
export interface Staff {
  readonly places: readonly PlaceId[]
  readonly roles: readonly StaffRole[]
  readonly until: TimeMs
}
export interface Card {
  /** Its pseudonym (PROTOCOL.md section 9.4): the ledger never holds a card's uid. */
  readonly pseudonym: CardId
  readonly number?: string | undefined
  status: CardStatus
  /** `card:<pseudonym>` until the card is fused into a user's wallet. */
  wallet: WalletId
  /** Staff rights, if the card is a staff card. */
  staff: Staff | undefined
}

/**
 * A wallet's balances: asset -> amount, zero balances absent, with the methods of a Map the engine
 * uses. Most wallets hold one asset, so the first is kept inline and only a second one allocates a
 * Map: a Map costs about 184 bytes even with one entry, this about 48, a million wallets over.
 * Iteration follows insertion order except after a delete (callers that show balances sort them).
 */
export class Holdings implements Iterable<[AssetId, number]> {
  private first: AssetId | undefined = undefined
  private firstAmount = 0
  private rest: Map<AssetId, number> | undefined = undefined

  constructor(entries?: Iterable<readonly [AssetId, number]>) {
    if (entries !== undefined) for (const [asset, amount] of entries) this.set(asset, amount)
  }

  get size(): number {
    return (this.first === undefined ? 0 : 1) + (this.rest?.size ?? 0)
  }

  get(asset: AssetId): number | undefined {
    return asset === this.first ? this.firstAmount : this.rest?.get(asset)
  }

  has(asset: AssetId): boolean {
    return asset === this.first || (this.rest?.has(asset) ?? false)
  }

  set(asset: AssetId, amount: number): this {
    if (asset === this.first) this.firstAmount = amount
    else if (this.first === undefined) {
      this.first = asset
      this.firstAmount = amount
    } else (this.rest ??= new Map()).set(asset, amount)
    return this
  }

  delete(asset: AssetId): boolean {
    if (asset !== this.first) {
      const deleted = this.rest?.delete(asset) ?? false
      if (this.rest?.size === 0) this.rest = undefined
      return deleted
    }
    // The first of the others, if any, moves inline.
    const next = this.rest?.entries().next()
    if (next === undefined || next.done === true) {
      this.first = undefined
      this.firstAmount = 0
    } else {
      this.first = next.value[0]
      this.firstAmount = next.value[1]
      this.rest?.delete(next.value[0])
      if (this.rest?.size === 0) this.rest = undefined
    }
    return true
  }

  entries(): IterableIterator<[AssetId, number]> {
    const all: Array<[AssetId, number]> = this.first === undefined ? [] : [[this.first, this.firstAmount]]
    if (this.rest !== undefined) for (const entry of this.rest) all.push(entry)
    return all[Symbol.iterator]()
  }

  [Symbol.iterator](): IterableIterator<[AssetId, number]> {
    return this.entries()
  }
}

export interface Wallet {
  readonly id: WalletId
  readonly balances: Holdings
  /** Membership asset -> end of validity. */
  /** Read-only: most wallets share one empty map; `setMembership` gives a wallet its own. */
  memberships: ReadonlyMap<AssetId, TimeMs>
  /** Time of the last transaction of this wallet other than demurrage; 0 if none. */
  lastActivityMs: number
  /** Asset -> time up to which demurrage has been melted. */
  /** Read-only like `memberships`; `setMeltedUntil` writes it. */
  meltedUntilMs: ReadonlyMap<AssetId, number>
}

/** What one request produced, kept to answer a retry of the same request identically. */
export interface RequestRecord {
  readonly fingerprint: string
  readonly time: number
  readonly status: string
  /** The transaction applied; the node drops it once the reply is committed, to save memory. */
  tx: Transaction | null
  readonly message?: string
  readonly field?: string
  /** The reply sent on the wire, set by the node once the request is committed; the engine never reads it. */
  reply?: string
}

export interface Validators {
  readonly keys: readonly ValidatorId[]
  readonly threshold: number
  /**
   * The members that check payments (PROTOCOL.md section 9.5), a subset of `keys`: when there are
   * any, a block holding a refill is final only with one of their signatures. Absent when none.
   */
  readonly paymentCheckers?: readonly ValidatorId[]
}

/** Keys that approve (stewards) or read (observers) for the federation (PROTOCOL.md sections 9.3, 9.7). */
export interface KeySet {
  readonly keys: readonly ValidatorId[]
  readonly threshold: number
}

export interface LedgerState {
  readonly federation: FederationId
  readonly assets: Map<AssetId, Asset>
  readonly places: Map<PlaceId, Place>
  readonly readers: Map<ReaderId, Reader>
  readonly cards: Map<CardId, CardRecord>
  /** Every wallet: a card's own wallet is its CardRecord, the others are kept apart. */
  readonly wallets: Wallets
  /** The federation's one `fed` asset. */
  readonly fed: AssetId
  /** External references already used by refills, deposits and mints. */
  readonly refs: Set<string>
  /** `reader/request` -> record. */
  readonly requests: Map<string, RequestRecord>
  validators: Validators
  /** The federation's stewards; none until the genesis or a `stewards` transaction names them. */
  stewards: KeySet | undefined
  /** Observer keys (members who read transactions without validating). */
  observers: readonly ValidatorId[]
  /** The version of the rules in force, and the height from which it applies (section 9.1). */
  rules: { readonly version: number; readonly from: number }
  /**
   * The hash of block 0's header, which approvals sign (section 9.3); "" until block 0 is known, when
   * no approval is valid. Set by the block producer at start and by a replica from block 0.
   */
  genesisHash: string
  /** Request ids of approved commands, kept for all time: an approval is never used twice. */
  readonly approved: Set<string>
  /** Block 0's commitment to the genesis's cards, which the first `cards` transactions register (section 9.4). */
  readonly genesisCards: CardsCommitment
  /** Euros received (refills), refunded and paid out (deposits), in cents, for the backing proof. */
  readonly backing: { received: number; refunded: number; paidOut: number }
  /**
   * The payments refills were made with, by their reference (PROTOCOL.md section 9.5): what each
   * paid and what of it was refunded, so that an online refund never exceeds what remains of it.
   */
  readonly payments: Map<string, Payment>
}

/** A refill's payment, as the ledger tracks it for online refunds. */
export interface Payment {
  /** The wallet the refill credited: a refund takes the money back from it. */
  readonly wallet: WalletId
  /** Cents paid. */
  readonly paid: number
  /** Cents refunded (burnt by `payback`). */
  refunded: number
  /** The withdrawal waiting for the processor's answer: at most one at a time per payment. */
  pending?: { readonly tx: TxId; readonly amount: number } | undefined
}

/** What may still be asked back of a payment: paid, less refunded, less a withdrawal pending. */
export const refundable = (payment: Payment): number => payment.paid - payment.refunded - (payment.pending?.amount ?? 0)

export const txKinds = [
  "sale",
  "topup",
  "refill",
  "refund",
  "transfer",
  "fusion",
  "subscribe",
  "badge",
  "deposit",
  "withdraw",
  "payback",
  "restore",
  "exchange",
  "demurrage",
  "void",
  "mint",
  "validators",
  "place",
  "asset",
  "reader",
  "cards",
  "block",
  "stewards",
  "observers",
  "rules",
] as const
/** Kinds that change the registry and move no money (PROTOCOL.md section 9.2). */
export const registryKinds: ReadonlySet<TxKind> = new Set(["place", "asset", "reader", "cards", "block", "stewards", "observers", "rules"])
export type TxKind = (typeof txKinds)[number]

export interface Leg {
  readonly asset: AssetId
  readonly from: WalletId
  readonly to: WalletId
  /** Minor units; 0 on a membership leg, which moves no amount. */
  readonly amount: number
  /** On a membership leg: the new end of validity. */
  readonly until?: TimeMs
}

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** One committed state change (PROTOCOL.md section 4). */
export interface Transaction {
  readonly id: TxId
  readonly kind: TxKind
  readonly time: TimeMs
  readonly place?: PlaceId
  readonly reader?: ReaderId
  readonly card?: CardId
  readonly request?: string
  readonly ref?: string
  readonly memo?: JsonValue
  readonly legs: readonly Leg[]
  /**
   * The command the engine made this transaction from, as it decoded it (section 9.1): replicas
   * run it again and must get these very bytes. Absent only from block 0's transaction.
   */
  readonly command?: JsonValue
  /** The approvals that authorized the command (section 9.3), by key; absent when it needs none. */
  readonly approvals?: readonly { readonly key: string; readonly signature: string }[]
}

/**
 * The maps of a wallet that most wallets leave empty are this one shared empty map until written:
 * three Maps per wallet would cost hundreds of bytes for each of a million idle wallets.
 */
export const noEntries: ReadonlyMap<AssetId, never> = new Map<AssetId, never>()

export const setMembership = (wallet: Wallet, asset: AssetId, until: TimeMs | undefined): void => {
  const own = wallet.memberships === noEntries ? new Map<AssetId, TimeMs>() : (wallet.memberships as Map<AssetId, TimeMs>)
  if (until === undefined) own.delete(asset)
  else own.set(asset, until)
  wallet.memberships = own.size === 0 ? noEntries : own
}

export const setMeltedUntil = (wallet: Wallet, asset: AssetId, untilMs: number): void => {
  const own = wallet.meltedUntilMs === noEntries ? new Map<AssetId, number>() : (wallet.meltedUntilMs as Map<AssetId, number>)
  own.set(asset, untilMs)
  wallet.meltedUntilMs = own
}

export const emptyWallet = (id: WalletId): Wallet => ({
  id,
  balances: new Holdings(),
  memberships: noEntries,
  lastActivityMs: 0,
  meltedUntilMs: noEntries,
})

/**
 * A card and its own wallet (`card:<pseudonym>`) in one object. Cards are most of the wallets, a million
 * at a big festival: one object and one map entry per card, with no `card:<pseudonym>` text kept (it is
 * made when asked for), cost about 110 bytes where a card, a wallet, its balances and their ids
 * apart cost about 370. The card's wallet exists once `opened` (first used, or read from storage),
 * as a wallet of its own would have been created then. It is its own `balances` (a Holdings).
 */
export class CardRecord extends Holdings implements Card, Wallet {
  status: CardStatus = "active"
  /** The user's wallet once the card is fused into one; undefined while the card has its own. */
  private fusedInto: WalletId | undefined = undefined
  opened = false
  staff: Staff | undefined = undefined
  memberships: ReadonlyMap<AssetId, TimeMs> = noEntries
  lastActivityMs = 0
  meltedUntilMs: ReadonlyMap<AssetId, number> = noEntries

  constructor(
    readonly pseudonym: CardId,
    /** Printed on the card; known to the node only (not in the ledger), set once. */
    public number: string | undefined = undefined,
  ) {
    super()
  }

  /** The card's own wallet id. */
  get id(): WalletId {
    return cardWallet(this.pseudonym)
  }

  get balances(): Holdings {
    return this
  }

  /** The wallet the card pays from: its own until it is fused into a user's. */
  get wallet(): WalletId {
    return this.fusedInto ?? cardWallet(this.pseudonym)
  }

  set wallet(id: WalletId) {
    this.fusedInto = id === cardWallet(this.pseudonym) ? undefined : id
  }
}

export const newCard = (pseudonym: CardId, number: string | undefined, status: CardStatus = "active", wallet?: WalletId): CardRecord => {
  const card = new CardRecord(pseudonym, number)
  card.status = status
  if (wallet !== undefined) card.wallet = wallet
  return card
}

const cardPrefix = "card:"

/**
 * The wallets of a ledger, read like a Map: a card's own wallet is its CardRecord (once opened), every
 * other wallet is kept in a Map. A `card:` wallet whose card is not registered (a replica that only
 * knows the genesis cards) is an ordinary wallet, and stays one if the card comes later.
 */
export class Wallets implements Iterable<[WalletId, Wallet]> {
  private readonly others = new Map<WalletId, Wallet>()
  /** `card:` wallets among the others: none on a node, so a card's wallet is found in one lookup. */
  private cardWalletsApart = 0

  constructor(private readonly cards: ReadonlyMap<CardId, CardRecord>) {}

  get(id: WalletId): Wallet | undefined {
    const card = this.cardOf(id)
    if (card === undefined || this.cardWalletsApart > 0) {
      const other = this.others.get(id)
      if (other !== undefined) return other
    }
    return card !== undefined && card.opened ? card : undefined
  }

  has(id: WalletId): boolean {
    return this.get(id) !== undefined
  }

  /** The wallet, created empty on first use. */
  open(id: WalletId): Wallet {
    const found = this.get(id)
    if (found !== undefined) return found
    const card = this.cardOf(id)
    if (card !== undefined) {
      card.opened = true
      return card
    }
    const wallet = emptyWallet(id)
    this.others.set(id, wallet)
    if (id.startsWith(cardPrefix)) this.cardWalletsApart++
    return wallet
  }

  /**
   * Undoes `open` of a wallet that did not exist (a replica undoing a block it only checked): the
   * wallet must be empty again, as its undo made it.
   */
  close(id: WalletId): void {
    const card = this.cardOf(id)
    if (this.others.delete(id)) {
      if (id.startsWith(cardPrefix)) this.cardWalletsApart--
    } else if (card !== undefined) {
      card.opened = false
    }
  }

  /** Counts the cards: for reports, not for a hot path. */
  get size(): number {
    let count = this.others.size
    for (const card of this.cards.values()) if (card.opened) count++
    return count
  }

  *values(): IterableIterator<Wallet> {
    yield* this.others.values()
    for (const card of this.cards.values()) if (card.opened) yield card
  }

  *[Symbol.iterator](): IterableIterator<[WalletId, Wallet]> {
    for (const wallet of this.values()) yield [wallet.id, wallet]
  }

  private cardOf(id: WalletId): CardRecord | undefined {
    return id.startsWith(cardPrefix) ? this.cards.get(id.slice(cardPrefix.length) as CardId) : undefined
  }
}

export const balanceOf = (state: LedgerState, wallet: WalletId, asset: AssetId): number =>
  state.wallets.get(wallet)?.balances.get(asset) ?? 0

/** The wallet, created empty on first use. */
export const walletFor = (state: LedgerState, id: WalletId): Wallet => state.wallets.open(id)

/** Non-zero balances of a wallet, sorted by asset id, as the wire shows them. */
export const balancesOf = (
  state: LedgerState,
  wallet: WalletId,
): Array<{ asset: AssetId; amount: number }> => {
  const entries = [...(state.wallets.get(wallet)?.balances ?? [])]
  return entries
    .filter(([, amount]) => amount !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([asset, amount]) => ({ asset, amount }))
}

export const membershipsOf = (state: LedgerState, wallet: WalletId): Array<{ asset: AssetId; until: TimeMs }> =>
  [...(state.wallets.get(wallet)?.memberships ?? new Map<AssetId, TimeMs>())]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([asset, until]) => ({ asset, until }))
