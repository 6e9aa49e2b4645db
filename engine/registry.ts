/**
 * The registry in the ledger (PROTOCOL.md section 9.2): places, assets, readers, cards, blocked
 * cards, stewards, observers and the rules' version change through commands whose transactions
 * move no money, so that every replica holds the same registry and re-executes every other command
 * against it. The field decoders of these commands are here; the commands' decisions follow, and
 * `applyRegistry` is what their transactions do to the state (called by `applyTransaction` only).
 */
import { electronicFormatIBAN, isValidIBAN } from "ibantools"
import type { CommandOf } from "./command.js"
import { authorize, findPlace } from "./holders.js"
import { cardsCommitment, genesisCardsPending } from "./pseudonyms.js"
import * as limits from "./limits.js"
import {
  accept,
  decodeAssetId,
  decodeCardId,
  decodeCount,
  decodeDisplayName,
  decodeLiteral,
  decodePlaceId,
  decodeTime,
  decodeValidatorId,
  isRecord,
  reject,
  type AssetId,
  type CardId,
  type Decoded,
  type PlaceId,
  type ValidatorId,
} from "./names.js"
import { applied, fail, isFailure, transaction, type Context, type Outcome } from "./outcome.js"
import {
  newCard,
  staffRoles,
  type Asset,
  type KeySet,
  type LedgerState,
  type PayoutAccount,
  type Place,
  type Reader,
  type Staff,
  type Transaction,
} from "./state.js"

// Field decoders.

/** A list of at most `max` entries, each decoded; `unique` refuses an entry given twice. */
const decodeList =
  <T>(decode: (value: unknown, field: string) => Decoded<T>, min: number, max: number, unique: boolean) =>
  (value: unknown, field: string): Decoded<T[]> => {
    if (!Array.isArray(value) || value.length < min || value.length > max) {
      return reject(field, `${field} must be a list of ${min} to ${max} entries`)
    }
    const out: T[] = []
    const seen = new Set<unknown>()
    for (let index = 0; index < value.length; index++) {
      const decoded = decode(value[index], `${field}[${index}]`)
      if (!decoded.ok) return decoded
      if (unique && seen.has(decoded.value)) return reject(`${field}[${index}]`, `${field} lists an entry twice`)
      seen.add(decoded.value)
      out.push(decoded.value)
    }
    return accept(out)
  }

export const decodeAccepts = decodeList(decodeAssetId, 0, limits.acceptsPerPlaceMax, true)
export const decodeKeys = decodeList(decodeValidatorId, 1, limits.validatorsMax, true)
export const decodeObserverKeys = decodeList(decodeValidatorId, 0, limits.observersMax, true)

export const decodeBoolean = (value: unknown, field: string): Decoded<boolean> =>
  typeof value === "boolean" ? accept(value) : reject(field, `${field} must be true or false`)

export const decodeTrue = (value: unknown, field: string): Decoded<true> =>
  value === true ? accept(true) : reject(field, `${field} is true when given`)

export const decodeTokenSha256 = (value: unknown, field: string): Decoded<string> =>
  typeof value === "string" && /^[0-9a-f]{64}$/.test(value) ? accept(value) : reject(field, `${field} must be 64 lowercase hex digits`)

/** The account a place's payouts go to: an IBAN (checked, kept in its electronic form) and its holder's name. */
export const decodePayout = (value: unknown, field: string): Decoded<PayoutAccount> => {
  if (!isRecord(value)) return reject(field, `${field} must be {iban, name}`)
  for (const name of Object.keys(value)) if (name !== "iban" && name !== "name") return reject(`${field}.${name}`, `${name} is not a field of ${field}`)
  const iban = typeof value["iban"] === "string" ? electronicFormatIBAN(value["iban"]) : undefined
  // The electronic form only: a spaced or lowercase IBAN would be another command's bytes.
  if (iban === undefined || iban === null || iban !== value["iban"] || !isValidIBAN(iban)) {
    return reject(`${field}.iban`, `${field}.iban must be a valid IBAN in its electronic form (capitals, no spaces)`)
  }
  const name = decodeDisplayName(value["name"], `${field}.name`)
  if (!name.ok) return name
  return accept({ iban, name: name.value })
}

export const decodeStaff = (value: unknown, field: string): Decoded<Staff | null> => {
  if (value === null) return accept(null)
  if (!isRecord(value)) return reject(field, `${field} must be {places, roles, until} or null`)
  for (const name of Object.keys(value)) {
    if (name !== "places" && name !== "roles" && name !== "until") return reject(`${field}.${name}`, `${name} is not a field of ${field}`)
  }
  const places = decodeList(decodePlaceId, 1, limits.staffPlacesMax, true)(value["places"], `${field}.places`)
  if (!places.ok) return places
  const roles = decodeList((role, at) => decodeLiteral(role, at, staffRoles), 1, staffRoles.length, true)(value["roles"], `${field}.roles`)
  if (!roles.ok) return roles
  const until = decodeTime(value["until"], `${field}.until`)
  if (!until.ok) return until
  return accept({ places: places.value, roles: roles.value, until: until.value })
}

export interface CardEntry {
  readonly card: CardId
  /** Present: the card's staff rights are replaced (null revokes them); absent: left as they are. */
  readonly staff?: Staff | null
}

const decodeCardEntry = (value: unknown, field: string): Decoded<CardEntry> => {
  if (!isRecord(value)) return reject(field, `${field} must be {card} or {card, staff}`)
  for (const name of Object.keys(value)) if (name !== "card" && name !== "staff") return reject(`${field}.${name}`, `${name} is not a field of ${field}`)
  const card = decodeCardId(value["card"], `${field}.card`)
  if (!card.ok) return card
  if (value["staff"] === undefined) return accept({ card: card.value })
  const staff = decodeStaff(value["staff"], `${field}.staff`)
  return staff.ok ? accept({ card: card.value, staff: staff.value }) : staff
}

export const decodeCardEntries = (value: unknown, field: string): Decoded<CardEntry[]> => {
  const entries = decodeList(decodeCardEntry, 1, limits.cardsPerTxMax, false)(value, field)
  if (!entries.ok) return entries
  const seen = new Set<CardId>()
  for (const [index, entry] of entries.value.entries()) {
    if (seen.has(entry.card)) return reject(`${field}[${index}].card`, "this card appears earlier in the list")
    seen.add(entry.card)
  }
  return entries
}

export const decodeHeight = (value: unknown, field: string): Decoded<number> => decodeCount(value, field, 0, Number.MAX_SAFE_INTEGER)

/** The only version of the rules this engine implements; a ledger of another one is not for it. */
export const rulesVersion = 1

export const decodeRulesVersion = (raw: unknown, field: string): Decoded<number> =>
  raw === rulesVersion ? accept(rulesVersion) : reject(field, `${field} must be ${rulesVersion}: the only version of the rules this engine implements`)

// Decisions.

export const placeStatuses = ["ok", "bad_request", "conflict", "unknown_asset"] as const
export type PlaceStatus = (typeof placeStatuses)[number]

/** Creates a place, or replaces its definition (its id stays, and so does its wallet). */
export const putPlace = (state: LedgerState, cmd: CommandOf<"place">, ctx: Context): Outcome<PlaceStatus> => {
  for (const [index, asset] of cmd.accepts.entries()) {
    if (!state.assets.has(asset)) return fail("unknown_asset", `no asset ${asset}`, `accepts[${index}]`)
  }
  if (cmd.membershipRequired !== undefined && state.assets.get(cmd.membershipRequired)?.kind !== "membership") {
    return fail("unknown_asset", `no membership asset ${cmd.membershipRequired}`, "membershipRequired")
  }
  return applied(registryTx(ctx, "place", cmd))
}

export const assetStatuses = ["ok", "bad_request", "conflict", "unknown_place", "asset_fixed"] as const
export type AssetStatus = (typeof assetStatuses)[number]

/**
 * Creates an asset, or replaces its name, policy or rate. Its kind and issuer never change (balances
 * and memberships were made under them), and the federation has one `fed` asset, without issuer.
 */
export const putAsset = (state: LedgerState, cmd: CommandOf<"asset">, ctx: Context): Outcome<AssetStatus> => {
  if (cmd.assetKind === "fed" && cmd.issuer !== undefined) return fail("bad_request", "the fed asset has no issuing place", "issuer")
  if (cmd.assetKind !== "fed" && cmd.issuer === undefined) return fail("bad_request", `a ${cmd.assetKind} asset needs an issuer`, "issuer")
  if (cmd.issuer !== undefined) {
    const place = findPlace(state, cmd.issuer)
    if (isFailure(place)) return { ...place, field: "issuer" }
  }
  const existing = state.assets.get(cmd.id)
  if (existing !== undefined && (existing.kind !== cmd.assetKind || existing.issuer !== cmd.issuer)) {
    return fail("asset_fixed", `asset ${cmd.id} exists: its kind and issuer never change`, existing.kind !== cmd.assetKind ? "assetKind" : "issuer")
  }
  if (existing === undefined && cmd.assetKind === "fed") return fail("asset_fixed", `the federation's fed asset is ${state.fed}`, "assetKind")
  return applied(registryTx(ctx, "asset", cmd))
}

export const readerStatuses = ["ok", "bad_request", "conflict", "unknown_place", "reader_exists", "unknown_reader"] as const
export type ReaderStatus = (typeof readerStatuses)[number]

/** Registers a reader (a revoked id may be registered again, with a new token), or revokes one. */
export const changeReader = (state: LedgerState, cmd: CommandOf<"reader">, ctx: Context): Outcome<ReaderStatus> => {
  const given = [cmd.place, cmd.role, cmd.tokenSha256].filter((field) => field !== undefined).length
  if (cmd.revoke === true) {
    if (given > 0) return fail("bad_request", "a revocation names the reader only", cmd.place !== undefined ? "place" : cmd.role !== undefined ? "role" : "tokenSha256")
    const known = state.readers.get(cmd.id)
    if (known === undefined || known.revoked === true) return fail("unknown_reader", `no reader ${cmd.id} (or it is revoked already)`, "id")
    return applied(registryTx(ctx, "reader", cmd))
  }
  if (given < 3) return fail("bad_request", "a new reader has a place, a role and a tokenSha256", cmd.place === undefined ? "place" : cmd.role === undefined ? "role" : "tokenSha256")
  // Tokens are unique, revoked readers' included: a token once given is never valid again. A
  // bad_request, so checked before the statuses that follow it in precedence.
  for (const reader of state.readers.values()) {
    if (reader.tokenSha256 === cmd.tokenSha256) return fail("bad_request", "another reader has had this token", "tokenSha256")
  }
  const place = findPlace(state, cmd.place as PlaceId)
  if (isFailure(place)) return place
  const existing = state.readers.get(cmd.id)
  if (existing !== undefined && existing.revoked !== true) {
    return fail("reader_exists", `reader ${cmd.id} is registered`, "id")
  }
  return applied(registryTx(ctx, "reader", cmd))
}

export const cardsStatuses = ["ok", "bad_request", "conflict", "forbidden", "unknown_place"] as const
export type CardsStatus = (typeof cardsStatuses)[number]

/**
 * The genesis's cards (PROTOCOL.md section 9.4), which need no approval: new cards without staff
 * rights, no more than block 0 commits to, and, with the last of them, exactly the ones it commits to.
 */
const genesisCards = (state: LedgerState, cmd: CommandOf<"cards">, ctx: Context): Outcome<CardsStatus> => {
  const { count, sha256 } = state.genesisCards
  for (const [index, entry] of cmd.cards.entries()) {
    if (entry.staff !== undefined) return fail("forbidden", "a genesis card carries no staff rights", `cards[${index}].staff`)
    if (state.cards.has(entry.card)) return fail("forbidden", "this genesis card is registered already", `cards[${index}].card`)
  }
  const registered = state.cards.size + cmd.cards.length
  if (registered > count) return fail("forbidden", `block 0 commits to ${count} cards, not ${registered}`, "cards")
  if (registered === count && cardsCommitment([...state.cards.keys(), ...cmd.cards.map((entry) => entry.card)]).sha256 !== sha256) {
    return fail("forbidden", "these are not the cards block 0 commits to", "cards")
  }
  return applied(registryTx(ctx, "cards", cmd))
}

/** Registers cards (a known card stays as it is) and sets or revokes staff rights. */
export const putCards = (state: LedgerState, cmd: CommandOf<"cards">, ctx: Context): Outcome<CardsStatus> => {
  if (genesisCardsPending(state)) return genesisCards(state, cmd, ctx)
  for (const [index, entry] of cmd.cards.entries()) {
    for (const [position, place] of (entry.staff?.places ?? []).entries()) {
      if (!state.places.has(place)) return fail("unknown_place", `no place ${place}`, `cards[${index}].staff.places[${position}]`)
    }
  }
  return applied(registryTx(ctx, "cards", cmd))
}

export const blockStatuses = ["ok", "bad_request", "conflict", "forbidden", "unknown_place", "unknown_card", "already_void"] as const
export type BlockStatus = (typeof blockStatuses)[number]

/**
 * Blocks a card (lost) or voids it for good; no money moves (an operator's `void` may pay a card's
 * money back). A reader may block a card for its place.
 */
export const blockCard = (state: LedgerState, cmd: CommandOf<"block">, ctx: Context): Outcome<BlockStatus> => {
  if (cmd.reader !== undefined && cmd.place === undefined) return fail("bad_request", "a reader names its place", "place")
  const denied = authorize(state, cmd.reader, cmd.place, false)
  if (denied !== undefined) return denied
  if (cmd.place !== undefined) {
    const place = findPlace(state, cmd.place)
    if (isFailure(place)) return place
  }
  const card = state.cards.get(cmd.card)
  if (card === undefined) return fail("unknown_card", `no card ${cmd.card}`, "card")
  const status = cmd.reason === "lost" ? "blocked" : "voided"
  if (card.status === status || card.status === "voided") return fail("already_void", `card ${cmd.card} is already ${card.status}`, "card")
  return applied(transaction(ctx, "block", { place: cmd.place, reader: cmd.reader, card: cmd.card, request: cmd.request }, []))
}

export const keySetStatuses = ["ok", "bad_request", "conflict", "threshold_out_of_range"] as const
export type KeySetStatus = (typeof keySetStatuses)[number]

export const changeStewards = (_state: LedgerState, cmd: CommandOf<"stewards">, ctx: Context): Outcome<KeySetStatus> => {
  if (cmd.threshold > cmd.keys.length) {
    return fail("threshold_out_of_range", `the threshold must be between 1 and the ${cmd.keys.length} stewards`, "threshold")
  }
  return applied(registryTx(ctx, "stewards", cmd))
}

export const observersStatuses = ["ok", "bad_request", "conflict"] as const
export const changeObservers = (_state: LedgerState, cmd: CommandOf<"observers">, ctx: Context): Outcome<(typeof observersStatuses)[number]> =>
  applied(registryTx(ctx, "observers", cmd))

export const rulesStatuses = ["ok", "bad_request", "conflict"] as const
/** Only the version this engine implements can be stated: a replica never applies rules it does not know. */
export const changeRules = (_state: LedgerState, cmd: CommandOf<"rules">, ctx: Context): Outcome<(typeof rulesStatuses)[number]> =>
  applied(registryTx(ctx, "rules", cmd))

/** A registry transaction: no legs; what it changes is its command. */
const registryTx = (ctx: Context, kind: Transaction["kind"], cmd: { readonly request?: string | undefined }): Transaction =>
  transaction(ctx, kind, { request: cmd.request }, [])

// Effects.

/**
 * What a registry transaction does to the state, read from its command (which the engine decoded:
 * the node made it, or a replica re-executed it).
 */
export const applyRegistry = (state: LedgerState, tx: Transaction, undo: Undo | undefined): void => {
  const cmd = tx.command as Record<string, unknown> | undefined
  if (cmd === undefined) return
  switch (tx.kind) {
    case "place": {
      const { kind: _kind, request: _request, ...place } = cmd as unknown as CommandOf<"place">
      undo?.entry(state.places, place.id)
      state.places.set(place.id, place as Place)
      return
    }
    case "asset": {
      const { kind: _kind, request: _request, assetKind, ...rest } = cmd as unknown as CommandOf<"asset">
      undo?.entry(state.assets, rest.id)
      state.assets.set(rest.id, { ...rest, kind: assetKind } as Asset)
      return
    }
    case "reader": {
      const reader = cmd as unknown as CommandOf<"reader">
      undo?.entry(state.readers, reader.id)
      const known = state.readers.get(reader.id)
      if (reader.revoke === true && known !== undefined) state.readers.set(reader.id, { ...known, revoked: true })
      else state.readers.set(reader.id, { id: reader.id, place: reader.place, role: reader.role, tokenSha256: reader.tokenSha256 } as Reader)
      return
    }
    case "cards": {
      for (const entry of (cmd as unknown as CommandOf<"cards">).cards) {
        let card = state.cards.get(entry.card)
        if (card === undefined) {
          undo?.entry(state.cards, entry.card)
          card = newCard(entry.card, undefined)
          state.cards.set(entry.card, card)
        } else if (entry.staff !== undefined) {
          undo?.card(card)
        }
        if (entry.staff !== undefined) card.staff = entry.staff ?? undefined
      }
      return
    }
    case "block": {
      const card = tx.card === undefined ? undefined : state.cards.get(tx.card)
      if (card === undefined) return
      undo?.card(card)
      card.status = (cmd as unknown as CommandOf<"block">).reason === "lost" ? "blocked" : "voided"
      return
    }
    case "stewards": {
      const { keys, threshold } = cmd as unknown as CommandOf<"stewards">
      const before = state.stewards
      undo?.step(() => (state.stewards = before))
      state.stewards = { keys, threshold } satisfies KeySet
      return
    }
    case "observers": {
      const before = state.observers
      undo?.step(() => (state.observers = before))
      state.observers = (cmd as unknown as CommandOf<"observers">).keys as ValidatorId[]
      return
    }
    case "rules": {
      const { version, from } = cmd as unknown as CommandOf<"rules">
      const before = state.rules
      undo?.step(() => (state.rules = before))
      state.rules = { version, from }
      return
    }
    default:
      return
  }
}

/**
 * What undoes the changes a replica made while re-executing a block, newest first: a block that
 * fails half-way, or a proposal that is only checked, leaves the state as it was. The node never
 * undoes (it passes none): what it executes is committed or the state is reloaded.
 */
export class Undo {
  private readonly steps: Array<() => void> = []
  // A card's record is its own wallet too (CardRecord): kept apart, so that keeping one as a wallet
  // never skips keeping it as a card (a card funded, then blocked, in one block), or the reverse.
  private readonly seenCards = new Set<object>()
  private readonly seenWallets = new Set<object>()

  step(undo: () => void): void {
    this.steps.push(undo)
  }

  /** Keeps a map entry's value (or its absence) once. */
  entry<K, V>(map: Map<K, V>, key: K): void {
    const had = map.has(key)
    const before = map.get(key)
    this.steps.push(() => (had ? map.set(key, before as V) : map.delete(key)))
  }

  /** Keeps a card's status, wallet and staff rights, once per card. */
  card(card: { status: string; wallet: string; staff: Staff | undefined }): void {
    if (this.seenCards.has(card)) return
    this.seenCards.add(card)
    const { status, wallet, staff } = card
    this.steps.push(() => Object.assign(card, { status, wallet, staff }))
  }

  /** Keeps a wallet's balances, memberships, melted times and last activity, once per wallet. */
  wallet(wallet: {
    readonly balances: { entries(): Iterable<[AssetId, number]>; set(asset: AssetId, amount: number): unknown; delete(asset: AssetId): unknown }
    memberships: ReadonlyMap<AssetId, number>
    meltedUntilMs: ReadonlyMap<AssetId, number>
    lastActivityMs: number
  }): void {
    if (this.seenWallets.has(wallet)) return
    this.seenWallets.add(wallet)
    const balances = [...wallet.balances.entries()]
    const memberships = wallet.memberships
    const ownMemberships = new Map(memberships)
    const melted = wallet.meltedUntilMs
    const ownMelted = new Map(melted)
    const lastActivityMs = wallet.lastActivityMs
    this.steps.push(() => {
      for (const [asset] of [...wallet.balances.entries()]) wallet.balances.delete(asset)
      for (const [asset, amount] of balances) wallet.balances.set(asset, amount)
      // The maps are written in place by setMembership and setMeltedUntil: their contents come back too.
      restoreMap(memberships, ownMemberships)
      restoreMap(melted, ownMelted)
      wallet.memberships = memberships
      wallet.meltedUntilMs = melted
      wallet.lastActivityMs = lastActivityMs
    })
  }

  /** Undoes every change kept, newest first. */
  rollback(): void {
    for (let index = this.steps.length - 1; index >= 0; index--) (this.steps[index] as () => void)()
    this.steps.length = 0
    this.seenCards.clear()
    this.seenWallets.clear()
  }
}

const restoreMap = <K, V>(map: ReadonlyMap<K, V>, contents: ReadonlyMap<K, V>): void => {
  if (map.size === 0 && contents.size === 0) return
  const writable = map as Map<K, V>
  writable.clear()
  for (const [key, value] of contents) writable.set(key, value)
}
