/**
 * Operator changes to the ledger's definition: places, assets, readers (whose token is made here,
 * shown once, and stored only as its SHA-256) and card imports. Each change is checked with the
 * genesis decoders against the whole definition, written to storage, then applied to the writer's
 * state, so that a crash between the two loses nothing (storage is read back at start).
 */
import { randomBytes } from "node:crypto"
import { Data, Effect } from "effect"
import { decodeGenesis } from "../engine/genesis.js"
import * as limits from "../engine/limits.js"
import { cardWallet, decodeCardUid, decodeLiteral, decodePlaceId, decodeReaderId, isRecord, type CardUid } from "../engine/names.js"
import { newCard, type Asset, type LedgerState, type Place, type Reader } from "../engine/state.js"
import type { LedgerStore, StoredCard, StoredReader } from "../storage/ledger.js"
import { base64urlEncode } from "../engine/ed25519.js"
import { sha256Hex } from "../engine/hash.js"

/** Readers authenticate with a bearer token; the ledger keeps only its SHA-256, in hex. */
export const tokenHash = (token: string): string => sha256Hex(new TextEncoder().encode(token))

/** An operator's request that cannot be applied, with the field at fault. */
export class AdminRejected extends Data.TaggedError("AdminRejected")<{ readonly field: string; readonly message: string }> {}

/** The definition of the ledger as a genesis document, with one thing added or replaced. */
const definition = (state: LedgerState, change: { assets?: Asset[]; places?: Place[] }) => ({
  federation: { id: state.federation, name: "ledger" },
  validators: state.validators,
  assets: [...state.assets.values()].filter((a) => !change.assets?.some((c) => c.id === a.id)).concat(change.assets ?? []),
  places: [...state.places.values()].filter((p) => !change.places?.some((c) => c.id === p.id)).concat(change.places ?? []),
  readers: [],
  cards: [],
})

const checked = (state: LedgerState, raw: unknown, kind: "assets" | "places") =>
  Effect.gen(function* () {
    if (!isRecord(raw)) return yield* new AdminRejected({ field: kind, message: "the body must be a JSON object" })
    const decoded = decodeGenesis(definition(state, { [kind]: [raw as never] }))
    if (!decoded.ok) {
      return yield* new AdminRejected({ field: decoded.field.replace(/^\w+\[\d+\]/, kind.slice(0, -1)), message: decoded.message })
    }
    return decoded.value
  })

export const putPlace = (state: () => LedgerState, store: LedgerStore, raw: unknown) =>
  Effect.gen(function* () {
    const genesis = yield* checked(state(), raw, "places")
    const place = genesis.places.find((p) => p.id === (raw as { id: unknown }).id) as Place
    yield* store.putPlace({ ...place, accepts: [...place.accepts] })
    state().places.set(place.id, place)
    return place
  })

export const putAsset = (state: () => LedgerState, store: LedgerStore, raw: unknown) =>
  Effect.gen(function* () {
    const genesis = yield* checked(state(), raw, "assets")
    const asset = genesis.assets.find((a) => a.id === (raw as { id: unknown }).id) as Asset
    if (asset.kind === "fed" && asset.id !== state().fed) {
      return yield* new AdminRejected({ field: "asset.kind", message: "a federation has exactly one fed asset" })
    }
    yield* store.putAsset(JSON.parse(JSON.stringify(asset)))
    state().assets.set(asset.id, asset)
    return asset
  })

/** A new reader and its token; the token is returned once and only its hash is kept. */
export const createReader = (state: () => LedgerState, store: LedgerStore, raw: unknown) =>
  Effect.gen(function* () {
    const body = isRecord(raw) ? raw : {}
    const id = decodeReaderId(body["id"], "id")
    const place = decodePlaceId(body["place"], "place")
    const role = decodeLiteral(body["role"], "role", ["bar", "cashdesk"] as const)
    for (const field of [id, place, role]) {
      if (!field.ok) return yield* new AdminRejected({ field: field.field, message: field.message })
    }
    if (!id.ok || !place.ok || !role.ok) return yield* Effect.die("decoded fields were checked just above")
    if (!state().places.has(place.value)) return yield* new AdminRejected({ field: "place", message: `no place ${place.value}` })
    if (state().readers.has(id.value)) return yield* new AdminRejected({ field: "id", message: `reader ${id.value} exists` })
    // A token is a secret: 32 bytes from the operating system's cryptographic generator.
    const token = base64urlEncode(randomBytes(32))
    const reader: Reader = { id: id.value, place: place.value, role: role.value, tokenSha256: tokenHash(token) }
    yield* store.putReader({ ...reader, revoked: false })
    state().readers.set(reader.id, reader)
    return { reader, token }
  })

export const revokeReader = (state: () => LedgerState, store: LedgerStore, readerId: string) =>
  Effect.gen(function* () {
    const reader = state().readers.get(readerId as never)
    if (reader === undefined) return yield* new AdminRejected({ field: "id", message: `no reader ${readerId}` })
    const stored: StoredReader = { ...reader, revoked: true }
    yield* store.putReader(stored)
    return stored
  })

/** Cards from JSON (`{"cards":[{"uid","number"}]}`) or the CSV card printers deliver (`uid,number`). */
export const parseCards = (contentType: string, body: string): StoredCard[] | AdminRejected => {
  const rows: Array<{ uid: unknown; number: unknown }> = []
  if (contentType.includes("csv")) {
    for (const [index, line] of body.split(/\r?\n/).entries()) {
      const trimmed = line.trim()
      if (trimmed === "" || (index === 0 && /^uid\s*,/i.test(trimmed))) continue
      const [uid, number, ...rest] = trimmed.split(",").map((cell) => cell.trim())
      if (rest.length > 0) return new AdminRejected({ field: `line ${index + 1}`, message: "a line is uid,number" })
      rows.push({ uid, number: number === "" ? undefined : number })
    }
  } else {
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      return new AdminRejected({ field: "body", message: "the body is not JSON" })
    }
    const cards = isRecord(parsed) ? parsed["cards"] : undefined
    if (!Array.isArray(cards)) return new AdminRejected({ field: "cards", message: "cards must be a list" })
    for (const card of cards) rows.push(isRecord(card) ? { uid: card["uid"], number: card["number"] } : { uid: undefined, number: undefined })
  }
  return decodeCards(rows)
}

const decodeCards = (rows: ReadonlyArray<{ uid: unknown; number: unknown }>): StoredCard[] | AdminRejected => {
  if (rows.length > limits.defaults.cardsPerImportMax) {
    return new AdminRejected({ field: "cards", message: `at most ${limits.defaults.cardsPerImportMax} cards per import` })
  }
  const cards: StoredCard[] = []
  const seen = new Set<string>()
  for (const [index, row] of rows.entries()) {
    const uid = decodeCardUid(row.uid, `cards[${index}].uid`)
    if (!uid.ok) return new AdminRejected({ field: uid.field, message: uid.message })
    if (row.number !== undefined && (typeof row.number !== "string" || !/^[A-Za-z0-9-]{1,32}$/.test(row.number))) {
      return new AdminRejected({ field: `cards[${index}].number`, message: "a card number is 1 to 32 letters, digits or dashes" })
    }
    if (seen.has(uid.value)) return new AdminRejected({ field: `cards[${index}].uid`, message: `${uid.value} appears twice` })
    seen.add(uid.value)
    cards.push({ uid: uid.value, number: row.number as string | undefined, status: "active", wallet: cardWallet(uid.value) })
  }
  return cards
}

export const importCards = (state: () => LedgerState, store: LedgerStore, cards: readonly StoredCard[]) =>
  Effect.gen(function* () {
    const added = yield* store.addCards(cards)
    for (const card of cards) {
      const uid = card.uid as CardUid
      if (!state().cards.has(uid)) {
        state().cards.set(uid, newCard(uid, card.number))
      }
    }
    return { added, known: cards.length - added }
  })

