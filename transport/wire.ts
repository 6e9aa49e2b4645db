/**
 * The reader protocol's frames (PROTOCOL.md section 3): a request frame becomes an engine command
 * for the reader's place, and an engine outcome becomes the reply frame. Engine statuses that the
 * contract has no code for are mapped here, and the README lists the mapping.
 */
import { decodeCommand, type Command } from "../engine/command.js"
import type { Executed } from "../engine/execute.js"
import { decodeCardUid, decodeRequestId, isRecord, type CardId, type CardUid } from "../engine/names.js"
import { balancesOf, membershipsOf, type LedgerState, type ReaderRole, type Transaction } from "../engine/state.js"

export const errorCodes = [
  "bad_request", "forbidden", "unknown_card", "card_blocked", "insufficient_funds", "asset_not_accepted",
  "amount_out_of_range", "conflict", "overloaded", "unavailable", "wallet_full",
] as const
export type ErrorCode = (typeof errorCodes)[number]

/** Engine statuses without a code of their own in the contract, and the code a hub gets. */
export const statusCodes: Readonly<Record<string, ErrorCode>> = {
  unknown_asset: "asset_not_accepted",
  unknown_place: "forbidden",
  nothing_to_refund: "insufficient_funds",
  supply_limit: "amount_out_of_range",
  too_many_legs: "bad_request",
}

export const codeOf = (status: string): ErrorCode =>
  (errorCodes as readonly string[]).includes(status) ? (status as ErrorCode) : (statusCodes[status] ?? "bad_request")

const requestTypes = ["sale", "check", "badge", "topup", "refund", "ping"] as const
type RequestType = (typeof requestTypes)[number]
/** A frame may name its place; a reader acting for another place than its own is `forbidden`. */
const frameFields: Readonly<Record<string, true>> = { type: true, id: true, card: true, amount: true, asset: true, place: true }

export interface Reader {
  readonly id: string
  readonly place: string
  readonly role: ReaderRole
}

export type Frame =
  | { readonly kind: "command"; readonly id: string; readonly type: RequestType; readonly command: Command }
  | { readonly kind: "ping"; readonly id: string }
  | { readonly kind: "bad"; readonly id: string | null; readonly code: ErrorCode; readonly message: string }

/** Turns a card's uid into its pseudonym (PROTOCOL.md section 9.4): the engine never sees a uid. */
export interface Pseudonyms {
  pseudonym(uid: CardUid): CardId
}

/** Decodes a text frame; never throws. The card's uid becomes its pseudonym here, at the edge. */
export const decodeFrame = (text: string, reader: Reader, cards: Pseudonyms): Frame => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { kind: "bad", id: null, code: "bad_request", message: "the frame is not JSON" }
  }
  if (!isRecord(value)) return { kind: "bad", id: null, code: "bad_request", message: "a frame is a JSON object" }
  const id = decodeRequestId(value["id"], "id")
  if (!id.ok) return { kind: "bad", id: null, code: "bad_request", message: id.message }
  const type = value["type"]
  if (typeof type !== "string" || !(requestTypes as readonly string[]).includes(type)) {
    return { kind: "bad", id: id.value, code: "bad_request", message: `type must be one of ${requestTypes.join(", ")}` }
  }
  if (type === "ping") return { kind: "ping", id: id.value }
  for (const field of Object.keys(value)) {
    if (!Object.hasOwn(frameFields, field)) return { kind: "bad", id: id.value, code: "bad_request", message: `${field} is not a field of ${type}` }
  }
  const { type: _type, id: _id, ...fields } = value
  if (fields["card"] !== undefined) {
    const uid = decodeCardUid(fields["card"], "card")
    if (!uid.ok) return { kind: "bad", id: id.value, code: "bad_request", message: uid.message }
    fields["card"] = cards.pseudonym(uid.value)
  }
  const decoded = decodeCommand({ kind: type, place: reader.place, ...fields, request: id.value, reader: reader.id })
  if (!decoded.ok) return { kind: "bad", id: id.value, code: decoded.status, message: decoded.message }
  return { kind: "command", id: id.value, type: type as RequestType, command: decoded.value }
}

export const errorFrame = (id: string | null, code: ErrorCode, message: string): string =>
  JSON.stringify({ type: "result", id, ok: false, error: { code, message } })

export const pongFrame = (id: string): string => JSON.stringify({ type: "pong", id })

/** Amounts paid by a sale, per asset, in the order of its legs. */
const paidOf = (tx: Transaction): Array<{ asset: string; amount: number }> => {
  const paid = new Map<string, number>()
  for (const leg of tx.legs) paid.set(leg.asset, (paid.get(leg.asset) ?? 0) + leg.amount)
  return [...paid].map(([asset, amount]) => ({ asset, amount }))
}

/** The reply frame of an engine outcome, with the card's balances and memberships as they are now. */
export const resultFrame = (id: string, command: Command, executed: Executed, state: LedgerState): string => {
  if (!executed.ok) {
    const code = codeOf(executed.status)
    // An out-of-range amount is its own code; a malformed field is bad_request.
    return errorFrame(id, code, executed.message)
  }
  const card = "card" in command ? state.cards.get(command.card) : undefined
  const wallet = card?.wallet
  const balances = () => (wallet === undefined ? [] : balancesOf(state, wallet))
  const memberships = () => (wallet === undefined ? [] : membershipsOf(state, wallet))
  const tx = executed.tx
  switch (command.kind) {
    case "sale":
      return JSON.stringify({ type: "result", id, ok: true, tx: tx?.id ?? null, paid: tx === null ? [] : paidOf(tx), balances: balances() })
    case "check":
      return JSON.stringify({ type: "result", id, ok: true, tx: null, balances: balances(), memberships: memberships() })
    case "badge":
      return JSON.stringify({ type: "result", id, ok: true, tx: tx?.id ?? null, memberships: memberships() })
    default:
      return JSON.stringify({ type: "result", id, ok: true, tx: tx?.id ?? null, balances: balances() })
  }
}
