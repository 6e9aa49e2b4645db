/**
 * Operator changes to the ledger's definition: places, assets, readers (whose token is made here,
 * shown once, and stored only as its SHA-256) and card imports. Each change is checked with the
 * genesis decoders against the whole definition, written to storage, then applied to the writer's
 * state, so that a crash between the two loses nothing (storage is read back at start).
 */
import { randomBytes } from "node:crypto"
import { Data, Effect } from "effect"
import { decodeGenesis } from "../engine/genesis.js"
import { cardWallet, decodeCardUid, decodeLiteral, decodePlaceId, decodeReaderId, isRecord, type CardUid } from "../engine/names.js"
import { newCard, type Asset, type LedgerState, type Place, type Reader } from "../engine/state.js"
import type { LedgerStore, StorageError, StoredCard, StoredReader } from "../storage/ledger.js"
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

/** A create or a revocation that names an existing reader in another way, or none. */
export class AdminConflict extends Data.TaggedError("AdminConflict")<{ readonly field: string; readonly message: string }> {}
export class AdminNotFound extends Data.TaggedError("AdminNotFound")<{ readonly message: string }> {}

/**
 * A new reader and its token; the token is returned once and only its hash is kept. A create of a
 * reader that exists with the same place and role is a retry: it answers the reader without a
 * token (there is none to show: only its hash was kept). A revoked reader's id may be created
 * again, with a new token.
 */
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
    const existing = state().readers.get(id.value)
    if (existing !== undefined) {
      if (existing.place === place.value && existing.role === role.value) return { reader: existing, token: undefined }
      return yield* new AdminConflict({ field: "id", message: `reader ${id.value} exists with another place or role` })
    }
    // A token is a secret: 32 bytes from the operating system's cryptographic generator.
    const token = base64urlEncode(randomBytes(32))
    const reader: Reader = { id: id.value, place: place.value, role: role.value, tokenSha256: tokenHash(token) }
    yield* store.putReader({ ...reader, revoked: false })
    state().readers.set(reader.id, reader)
    return { reader, token: token as string | undefined }
  })

/**
 * Revokes a reader: stored first, then it leaves the state the engine authorizes readers with, so
 * that a request of it still in flight is refused `forbidden`.
 */
export const revokeReader = (state: () => LedgerState, store: LedgerStore, readerId: string) =>
  Effect.gen(function* () {
    const reader = state().readers.get(readerId as never)
    if (reader === undefined) return yield* new AdminNotFound({ message: "no such reader (or already revoked)" })
    const stored: StoredReader = { ...reader, revoked: true }
    yield* store.putReader(stored)
    state().readers.delete(reader.id)
    return stored
  })

type CardRow = { readonly uid: unknown; readonly number?: unknown }

/**
 * Rows of the CSV card printers deliver (`uid,number`, an optional header line); no more than
 * `cardsMax` + 1 are collected, enough for the import's bound to refuse the list.
 */
export const cardRowsOfCsv = (body: string, cardsMax: number): CardRow[] | AdminRejected => {
  const rows: CardRow[] = []
  for (const [index, line] of body.split(/\r?\n/).entries()) {
    if (rows.length > cardsMax) break
    const trimmed = line.trim()
    if (trimmed === "" || (index === 0 && /^uid\s*,/i.test(trimmed))) continue
    const [uid, number, ...rest] = trimmed.split(",").map((cell) => cell.trim())
    if (rest.length > 0) return new AdminRejected({ field: `line ${index + 1}`, message: "a line is uid,number" })
    rows.push({ uid, number: number === "" ? undefined : number })
  }
  return rows
}

/** Cards to import, checked; at most `cardsMax` of them (GESELL_CARDS_PER_IMPORT_MAX). */
export const decodeCards = (rows: readonly CardRow[], cardsMax: number): StoredCard[] | AdminRejected => {
  if (rows.length > cardsMax) return new AdminRejected({ field: "cards", message: `at most ${cardsMax} cards per import` })
  const cards: StoredCard[] = []
  const seen = new Set<string>()
  for (const [index, row] of rows.entries()) {
    const uid = decodeCardUid(row.uid, `cards[${index}].uid`)
    if (!uid.ok) return new AdminRejected({ field: uid.field, message: uid.message })
    if (row.number !== undefined && (typeof row.number !== "string" || !/^[A-Za-z0-9-]{1,32}$/.test(row.number))) {
      return new AdminRejected({ field: `cards[${index}].number`, message: "a card number is 1 to 32 letters, digits or dashes" })
    }
    // The uid itself stays out of the answer: an operator's script may log it.
    if (seen.has(uid.value)) return new AdminRejected({ field: `cards[${index}].uid`, message: "this uid appears earlier in the list" })
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


/** What an admin change came to, as its answer says it. */
export type AdminOutcome<A> =
  | { readonly _tag: "done"; readonly value: A }
  | { readonly _tag: "rejected"; readonly error: AdminRejected }
  | { readonly _tag: "conflict"; readonly message: string; readonly field?: string | undefined }
  | { readonly _tag: "not_found"; readonly message: string }
  | { readonly _tag: "unavailable" }

/** Admin request ids remembered (a retry within the window answers the first answer). */
export const adminRequestsMax = 10_000
const adminRequestRetentionMs = 24 * 60 * 60 * 1000

interface RememberedAnswer {
  readonly fingerprint: string
  readonly outcome: AdminOutcome<unknown>
  readonly timeMs: number
}

/**
 * The admin API's idempotency and ordering. Registry changes (places, assets, readers, cards) run
 * one at a time, so that two concurrent creates of one reader make one reader. Each carries a
 * request id: the same id with the same body answers the first answer and changes nothing; with
 * another body it is a conflict. Answers are remembered in memory (at most adminRequestsMax, for
 * 24 hours): these changes are idempotent by their content as well (a place or asset put again is
 * the same, a reader created again is answered without its token, a card imported again is
 * `known`), so that a retry after a restart applies nothing twice either. A change that storage did
 * not confirm is not remembered: its retry runs it again, which that idempotency makes safe.
 */
export class AdminRequests {
  private readonly answers = new Map<string, RememberedAnswer>()

  private constructor(
    private readonly serial: Effect.Semaphore,
    private readonly nowMs: () => number,
  ) {}

  static make = (nowMs: () => number) => Effect.map(Effect.makeSemaphore(1), (serial) => new AdminRequests(serial, nowMs))

  /**
   * Runs `change` once for `request`; `remembered` is what a retry is answered (the first answer,
   * without what must be shown only once).
   */
  once<A, R>(
    endpoint: string,
    request: string,
    content: unknown,
    change: Effect.Effect<A, AdminRejected | AdminConflict | AdminNotFound | StorageError, R>,
    remembered: (value: A) => unknown = (value) => value,
  ): Effect.Effect<AdminOutcome<A>, never, R> {
    // A digest: the content of a large card import is not kept for 24 hours.
    const fingerprint = sha256Hex(new TextEncoder().encode(`${endpoint} ${JSON.stringify(content)}`))
    // Uninterruptible: a client that hangs up (or times out) mid-change must not leave storage
    // changed and the state, the directory and the remembered answer not, nor free the permit for
    // a retry while the first write is still in flight.
    return Effect.uninterruptible(this.serial.withPermits(1)(
      Effect.suspend(() => {
        const nowMs = this.nowMs()
        this.forget(nowMs)
        const before = this.answers.get(request)
        if (before !== undefined) {
          return Effect.succeed(
            (before.fingerprint === fingerprint
              ? before.outcome
              : { _tag: "conflict", message: `request ${request} was already used for a different request`, field: "request" }) as AdminOutcome<A>,
          )
        }
        return change.pipe(
          Effect.map((value): AdminOutcome<A> => ({ _tag: "done", value })),
          Effect.catchAll((error) => Effect.succeed(outcomeOf<A>(error))),
          Effect.tap((outcome) =>
            Effect.sync(() => {
              if (outcome._tag === "unavailable") return
              const kept = outcome._tag === "done" ? { _tag: "done" as const, value: remembered(outcome.value) } : outcome
              this.answers.set(request, { fingerprint, outcome: kept, timeMs: nowMs })
            }),
          ),
        )
      }),
    ))
  }

  /** Forgets answers past the window, and the oldest beyond the bound. */
  private forget(nowMs: number): void {
    for (const [request, answer] of this.answers) {
      if (this.answers.size < adminRequestsMax && answer.timeMs > nowMs - adminRequestRetentionMs) break
      this.answers.delete(request)
    }
  }
}

const outcomeOf = <A>(error: AdminRejected | AdminConflict | AdminNotFound | StorageError): AdminOutcome<A> => {
  switch (error._tag) {
    case "AdminRejected":
      return { _tag: "rejected", error }
    case "AdminConflict":
      return { _tag: "conflict", message: error.message, field: error.field }
    case "AdminNotFound":
      return { _tag: "not_found", message: error.message }
    default:
      return { _tag: "unavailable" }
  }
}
