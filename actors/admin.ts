/**
 * Operator changes to the ledger's registry: places, assets, readers (whose token is made here,
 * shown once, and kept only as its SHA-256) and card imports. Each change is an engine command
 * (PROTOCOL.md section 9.2) run through the writer like any request: executed against the state,
 * committed with its batch, sealed in a block that every replica re-executes.
 */
import { randomBytes } from "node:crypto"
import { Data, Effect } from "effect"
import { decodeCommand, type Command, type CommandOf } from "../engine/command.js"
import type { Executed } from "../engine/execute.js"
import * as limits from "../engine/limits.js"
import { decodeCardUid, type CardId } from "../engine/names.js"
import type { CardNames } from "./card-key.js"
import type { Asset, LedgerState, Place, Reader, Transaction } from "../engine/state.js"
import type { LedgerWriter, Refusal } from "./writer.js"
import { authorityOf, signApproval, type Approval } from "../engine/authority.js"
import { base64urlEncode, type SigningKey } from "../engine/ed25519.js"
import type { ValidatorId } from "../engine/names.js"
import { sha256Hex } from "../engine/hash.js"

/** Readers authenticate with a bearer token; the ledger keeps only its SHA-256, in hex. */
export const tokenHash = (token: string): string => sha256Hex(new TextEncoder().encode(token))

/** An operator's request that cannot be applied, with the field at fault. */
export class AdminRejected extends Data.TaggedError("AdminRejected")<{ readonly field: string; readonly message: string }> {}

/** The writer refused a command (it is overloaded, or storage failed): retry with the same request id. */
export class AdminUnavailable extends Data.TaggedError("AdminUnavailable")<{ readonly why: Refusal }> {}

/** An engine outcome as the admin API answers it (and as the writer keeps it for a retry). */
export type CommandAnswer =
  | { readonly ok: true; readonly status: "ok"; readonly tx: unknown }
  | { readonly ok: false; readonly status: string; readonly message: string; readonly field?: string }

export const renderAnswer = (executed: Executed): string =>
  JSON.stringify(
    executed.ok
      ? { ok: true, status: "ok", tx: executed.tx }
      : { ok: false, status: executed.status, message: executed.message, field: executed.field },
  )

/**
 * Keys the node approves with (PROTOCOL.md section 9.3): a steward key when its operators hold one
 * (the demo's node does, so that the demo works alone), and its validator key, which approves as one
 * member of the set for changes of the set or of the rules. Each approves only a command whose
 * authority names it.
 */
export interface NodeApprovers {
  readonly keys: readonly { readonly validator: string; readonly key: SigningKey }[]
}

/**
 * The approvals a command goes to the engine with: those given, and the node's own where its keys
 * are among those that approve it and have not approved already. A command that needs none keeps
 * what was given (the engine refuses approvals it does not need).
 */
export const withNodeApprovals = (
  state: LedgerState,
  command: Command,
  given: readonly Approval[] | undefined,
  approvers: NodeApprovers,
): readonly Approval[] | undefined => {
  const authority = authorityOf(state, command)
  if (authority.by === "none") return given
  const allowed = new Set<string>(authority.keys)
  if (authority.by === "validators" && authority.newcomer !== undefined) allowed.add(authority.newcomer)
  const approvals = [...(given ?? [])]
  for (const { validator, key } of approvers.keys) {
    if (allowed.has(validator) && !approvals.some((approval) => approval.key === validator)) {
      approvals.push(signApproval(key, validator as ValidatorId, state.genesisHash, command))
    }
  }
  return approvals.length === 0 ? undefined : approvals
}

/**
 * Runs an operator command through the writer, as a reader's request is run: executed by the engine,
 * committed with its batch, answered once durable (the answer's JSON text: a retry under the same
 * request id gets the same). `applied` runs right after the engine applied the transaction, before
 * the batch is cut: what the node keeps beside the ledger (a card's printed number) is committed with
 * it. `approvals` go with the command as given: `withNodeApprovals` adds the node's.
 */
export const submitCommand = (
  writer: LedgerWriter,
  command: Command,
  nowMs: number,
  applied?: (tx: Transaction, state: LedgerState) => void,
  approvals?: readonly Approval[],
): Effect.Effect<string, AdminUnavailable> =>
  Effect.async<string, AdminUnavailable>((resume) => {
    writer.submit(
      {
        command,
        approvals,
        render: renderAnswer,
        reply: (body) => resume(Effect.succeed(body)),
        refuse: (why) => resume(Effect.fail(new AdminUnavailable({ why }))),
        ...(applied === undefined ? {} : { applied }),
      },
      nowMs,
    )
  })

/** The decoded command of a registry change, or the rejection naming the field as the API calls it. */
const decoded = (raw: Record<string, unknown>, fieldNames: Readonly<Record<string, string>> = {}): Effect.Effect<Command, AdminRejected> => {
  const command = decodeCommand(raw)
  if (command.ok) return Effect.succeed(command.value)
  return Effect.fail(new AdminRejected({ field: renamed(command.field, fieldNames), message: command.message }))
}

/**
 * A command's field as the API names it: a place's and an asset's fields under `place.` and
 * `asset.`, as the body is that document (`asset.kind` for the command's `assetKind`).
 */
const renamed = (field: string | undefined, names: Readonly<Record<string, string>>): string => {
  if (field === undefined) return "request"
  const head = /^[A-Za-z]+/.exec(field)?.[0] ?? field
  return (names[head] ?? "") + (names[`${head}=`] ?? head) + field.slice(head.length)
}

const placeFields = { request: "", "request=": "request", id: "place.", accepts: "place.", name: "place.", membershipRequired: "place.", staffRequired: "place.", payout: "place." }
const assetFields = { request: "", "request=": "request", id: "asset.", assetKind: "asset.", "assetKind=": "kind", name: "asset.", issuer: "asset.", demurrage: "asset.", exchange: "asset." }

/** Whether the engine refused a command for its approvals (PROTOCOL.md section 9.3): missing, or one not valid. */
export const refusedForApprovals = (answer: CommandAnswer): boolean =>
  !answer.ok && (answer.status === "approvals_missing" || (answer.status === "forbidden" && answer.field?.startsWith("approvals") === true))

/** What the registry changes need: the writer, the clock, the keys the node approves with, and its names of cards. */
export interface AdminDeps {
  readonly writer: () => LedgerWriter
  readonly nowMs: () => number
  readonly approvers: NodeApprovers
  readonly cards: CardNames
}

/** A registry command run through the writer with the node's approvals; its failure as the admin API's error. */
const registryChange = (admin: AdminDeps, command: Command, fieldNames: Readonly<Record<string, string>> = {}, applied?: (tx: Transaction, state: LedgerState) => void) =>
  Effect.gen(function* () {
    const approvals = withNodeApprovals(admin.writer().state, command, undefined, admin.approvers)
    const answer = JSON.parse(yield* submitCommand(admin.writer(), command, admin.nowMs(), applied, approvals)) as CommandAnswer
    if (answer.ok) return answer
    const field = renamed(answer.field, fieldNames)
    if (refusedForApprovals(answer)) {
      return yield* new AdminForbidden({ code: answer.status, message: answer.message })
    }
    if (answer.status === "conflict") return yield* new AdminConflict({ field: "request", message: answer.message })
    if (answer.status === "unknown_reader") return yield* new AdminNotFound({ message: answer.message })
    if (answer.status === "reader_exists") return yield* new AdminConflict({ field, message: answer.message })
    return yield* new AdminRejected({ field, message: `${answer.status}: ${answer.message}` })
  })

/** Creates or replaces a place: a `place` transaction (PROTOCOL.md section 9.2). */
export const putPlace = (admin: AdminDeps, request: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    const command = yield* decoded({ ...body, kind: "place", request }, placeFields)
    yield* registryChange(admin, command, placeFields)
    return admin.writer().state.places.get((command as CommandOf<"place">).id) as Place
  })

/** Creates an asset or changes its name, policy or rate: an `asset` transaction; the API names its kind `kind`. */
export const putAsset = (admin: AdminDeps, request: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    const { kind, ...rest } = body
    const command = yield* decoded({ ...rest, assetKind: kind, kind: "asset", request }, assetFields)
    yield* registryChange(admin, command, assetFields)
    return admin.writer().state.assets.get((command as CommandOf<"asset">).id) as Asset
  })

/** A create or a revocation that names an existing reader in another way, or none. */
export class AdminConflict extends Data.TaggedError("AdminConflict")<{ readonly field: string; readonly message: string }> {}
export class AdminNotFound extends Data.TaggedError("AdminNotFound")<{ readonly message: string }> {}
/**
 * The command lacks approvals the node cannot give (PROTOCOL.md section 9.3): its stewards approve it
 * through POST /v1/admin/commands/prepare and /v1/admin/commands.
 */
export class AdminForbidden extends Data.TaggedError("AdminForbidden")<{ readonly code: string; readonly message: string }> {}

/**
 * A new reader and its token: a `reader` transaction holding only the token's SHA-256; the token is
 * returned once. A create of a reader registered with the same place and role is a retry (after a
 * restart, a new token makes another command under the same request id): it answers the reader
 * without a token (there is none to show). A revoked reader's id may be created again, with a new token.
 */
export const createReader = (admin: AdminDeps, request: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    // A token is a secret: 32 bytes from the operating system's cryptographic generator.
    const token = base64urlEncode(randomBytes(32))
    const command = yield* decoded({ id: body["id"], place: body["place"], role: body["role"], kind: "reader", request, tokenSha256: tokenHash(token) })
    const { id, place, role } = command as CommandOf<"reader">
    const done = yield* registryChange(admin, command).pipe(
      Effect.map(() => true),
      Effect.catchTag("AdminConflict", (conflict) => {
        const existing = admin.writer().state.readers.get(id)
        const same = existing !== undefined && existing.revoked !== true && existing.place === place && existing.role === role
        return same ? Effect.succeed(false) : Effect.fail(conflict.field === "id" ? conflict : new AdminConflict({ field: "id", message: `reader ${id} exists with another place or role` }))
      }),
    )
    const reader = admin.writer().state.readers.get(id) as Reader
    return { reader, token: done ? (token as string | undefined) : undefined }
  })

/**
 * Revokes a reader: a `reader` transaction with `revoke`; once committed its requests are refused
 * `forbidden` (the engine executes them against the state the transaction changed).
 */
export const revokeReader = (admin: AdminDeps, request: string, readerId: string) =>
  Effect.gen(function* () {
    const command = yield* decoded({ kind: "reader", request, id: readerId, revoke: true }).pipe(
      Effect.catchTag("AdminRejected", () => Effect.fail(new AdminNotFound({ message: "no such reader (or already revoked)" }))),
    )
    yield* registryChange(admin, command)
    return { id: (command as CommandOf<"reader">).id, revoked: true as const }
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

/** A card to import: its pseudonym (its uid goes no further than `decodeCards`) and its printed number. */
export interface ImportedCard {
  readonly card: CardId
  readonly number?: string | undefined
}

/**
 * Cards to import, checked, each uid turned into its pseudonym; at most `cardsMax` of them
 * (GESELL_CARDS_PER_IMPORT_MAX). A printed number names one card: one the node knows on another
 * card, or given twice, is refused.
 */
export const decodeCards = (rows: readonly CardRow[], cardsMax: number, names: CardNames): ImportedCard[] | AdminRejected => {
  if (rows.length > cardsMax) return new AdminRejected({ field: "cards", message: `at most ${cardsMax} cards per import` })
  const cards: ImportedCard[] = []
  const seen = new Set<string>()
  const numbers = new Set<string>()
  for (const [index, row] of rows.entries()) {
    const uid = decodeCardUid(row.uid, `cards[${index}].uid`)
    if (!uid.ok) return new AdminRejected({ field: uid.field, message: uid.message })
    const number = row.number
    if (number !== undefined && (typeof number !== "string" || !/^[A-Za-z0-9-]{1,32}$/.test(number))) {
      return new AdminRejected({ field: `cards[${index}].number`, message: "a card number is 1 to 32 letters, digits or dashes" })
    }
    // The uid itself stays out of the answer: an operator's script may log it.
    if (seen.has(uid.value)) return new AdminRejected({ field: `cards[${index}].uid`, message: "this uid appears earlier in the list" })
    seen.add(uid.value)
    const card = names.pseudonym(uid.value)
    if (number !== undefined) {
      const holder = names.byNumber(number)
      if (numbers.has(number) || (holder !== undefined && holder !== card)) {
        return new AdminRejected({ field: `cards[${index}].number`, message: "this number is printed on another card" })
      }
      numbers.add(number)
    }
    cards.push({ card, number: number as string | undefined })
  }
  return cards
}

/**
 * Registers cards: `cards` transactions of at most cardsPerTxMax entries each, by pseudonym
 * (PROTOCOL.md sections 9.2, 9.4). A card's printed number stays with the node (it is not in the
 * ledger: whoever reads a card's number could follow its transactions); it is set as its transaction
 * is applied, and stored with it. Known cards are counted and left as they are; a list of known cards
 * makes no transaction.
 */
export const importCards = (admin: AdminDeps, cards: readonly ImportedCard[]) =>
  Effect.gen(function* () {
    let added = 0
    for (let start = 0; start < cards.length; start += limits.cardsPerTxMax) {
      const chunk = cards.slice(start, start + limits.cardsPerTxMax)
      const fresh = chunk.filter((card) => !admin.writer().state.cards.has(card.card))
      if (fresh.length === 0) continue
      // An approved command carries a request id (PROTOCOL.md section 9.3): the digest of its cards, so
      // that importing the same new cards again after a failure asks the same.
      const request = `cards-${sha256Hex(new TextEncoder().encode(fresh.map((card) => card.card).join("\n"))).slice(0, 40)}`
      const command = yield* decoded({ kind: "cards", request, cards: fresh.map((card) => ({ card: card.card })) })
      const numbers = new Map(fresh.map((card) => [card.card, card.number]))
      const setNumbers = (_tx: Transaction, state: LedgerState) => {
        for (const [id, number] of numbers) {
          const card = state.cards.get(id)
          if (card !== undefined && number !== undefined && card.number === undefined) {
            card.number = number
            admin.cards.numbered(number, id)
          }
        }
      }
      yield* registryChange(admin, command, {}, setNumbers)
      added += fresh.length
    }
    return { added, known: cards.length - added }
  })

/** What an admin change came to, as its answer says it. */
export type AdminOutcome<A> =
  | { readonly _tag: "done"; readonly value: A }
  | { readonly _tag: "rejected"; readonly error: AdminRejected }
  | { readonly _tag: "conflict"; readonly message: string; readonly field?: string | undefined }
  | { readonly _tag: "not_found"; readonly message: string }
  | { readonly _tag: "forbidden"; readonly code: string; readonly message: string }
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
    change: Effect.Effect<A, AdminRejected | AdminConflict | AdminNotFound | AdminForbidden | AdminUnavailable, R>,
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

const outcomeOf = <A>(error: AdminRejected | AdminConflict | AdminNotFound | AdminForbidden | AdminUnavailable): AdminOutcome<A> => {
  switch (error._tag) {
    case "AdminRejected":
      return { _tag: "rejected", error }
    case "AdminConflict":
      return { _tag: "conflict", message: error.message, field: error.field }
    case "AdminNotFound":
      return { _tag: "not_found", message: error.message }
    case "AdminForbidden":
      return { _tag: "forbidden", code: error.code, message: error.message }
    default:
      return { _tag: "unavailable" }
  }
}
