/**
 * The frames of the reader protocol (PROTOCOL.md section 3) as the hub sends and reads them, the
 * checks applied to what comes back from the node, and the bartender's words for each error code.
 */
import { amountMax } from "./limits.js"

export type Role = "bar" | "cashdesk"
export type Mode = "bar" | "cashdesk" | "check"

/** A request, as journaled and sent: the hub never sends anything it has not journaled first. */
export type RequestFrame =
  | { readonly type: "sale"; readonly id: string; readonly card: string; readonly amount: number; readonly asset?: string }
  | { readonly type: "check"; readonly id: string; readonly card: string }
  | { readonly type: "badge"; readonly id: string; readonly card: string }
  | { readonly type: "topup"; readonly id: string; readonly card: string; readonly amount: number; readonly asset: string }
  | { readonly type: "refund"; readonly id: string; readonly card: string }

export interface Hello {
  readonly type: "hello"
  readonly protocol: number
  readonly reader: string
  readonly place: string
  readonly role: Role
  readonly accepts: readonly string[]
}

export interface AssetAmount {
  readonly asset: string
  readonly amount: number
}

export interface Membership {
  readonly asset: string
  readonly until: number
}

export type Result =
  | {
      readonly type: "result"
      readonly id: string
      readonly ok: true
      readonly tx: string | null
      readonly paid?: readonly AssetAmount[]
      readonly balances?: readonly AssetAmount[]
      readonly memberships?: readonly Membership[]
    }
  | { readonly type: "result"; readonly id: string | null; readonly ok: false; readonly error: { readonly code: string; readonly message: string } }

export type Pong = { readonly type: "pong"; readonly id: string }

export type Incoming = Hello | Result | Pong

export const errorCodes = [
  "bad_request",
  "forbidden",
  "unknown_card",
  "card_blocked",
  "insufficient_funds",
  "asset_not_accepted",
  "amount_out_of_range",
  "conflict",
  "overloaded",
  "unavailable",
  "wallet_full",
] as const
export type ErrorCode = (typeof errorCodes)[number]

/** What the bartender reads for each code; the node's own message follows it on the line. */
export const errorTexts: Record<ErrorCode, string> = {
  bad_request: "the hub sent a request the node does not understand: a bug, tell the organisers",
  forbidden: "this reader may not do that (wrong role or place)",
  unknown_card: "unknown card: not one of this festival's cards",
  card_blocked: "card blocked (reported lost or voided): keep the card, send the holder to the cash desk",
  insufficient_funds: "not enough money on the card",
  asset_not_accepted: "this currency is not accepted here",
  amount_out_of_range: "amount out of range",
  conflict: "this request id was already used for another request: a bug, tell the organisers",
  overloaded: "the node is busy: retrying the same request",
  unavailable: "the ledger is unavailable: retrying the same request",
  wallet_full: "the card already holds as many currencies as it may (64): this one cannot be added",
}

/** Codes after which the same request is sent again later, never under a new id. */
export const isRetryable = (code: string): boolean => code === "overloaded" || code === "unavailable"

export const errorText = (code: string): string => (errorCodes as readonly string[]).includes(code) ? errorTexts[code as ErrorCode] : `unexpected error code ${code}`

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)
const isAmount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= amountMax * 1000
const isAssetAmounts = (value: unknown): value is AssetAmount[] =>
  Array.isArray(value) && value.every((item) => isRecord(item) && typeof item["asset"] === "string" && isAmount(item["amount"]))
const isMemberships = (value: unknown): value is Membership[] =>
  Array.isArray(value) && value.every((item) => isRecord(item) && typeof item["asset"] === "string" && Number.isSafeInteger(item["until"]))

/**
 * Decodes a frame from the node, or says why it cannot. The node is trusted to follow the contract,
 * but a hub that shows the bartender a wrong balance because of a malformed frame would be worse than
 * one that ignores the frame and says so.
 */
export const decodeIncoming = (text: string): Incoming | string => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return "not JSON"
  }
  if (!isRecord(value)) return "not an object"
  switch (value["type"]) {
    case "hello":
      if (value["protocol"] !== 1) return `protocol ${String(value["protocol"])}, this hub speaks 1`
      if (typeof value["reader"] !== "string" || typeof value["place"] !== "string") return "hello without reader or place"
      if (value["role"] !== "bar" && value["role"] !== "cashdesk") return "hello with an unknown role"
      if (!Array.isArray(value["accepts"]) || !value["accepts"].every((asset) => typeof asset === "string")) return "hello without accepts"
      return value as unknown as Hello
    case "pong":
      return typeof value["id"] === "string" ? (value as unknown as Pong) : "pong without id"
    case "result": {
      const id = value["id"]
      if (typeof id !== "string" && id !== null) return "result without id"
      if (value["ok"] === false) {
        const error = value["error"]
        if (!isRecord(error) || typeof error["code"] !== "string" || typeof error["message"] !== "string") return "failure without error"
        return value as unknown as Result
      }
      if (value["ok"] !== true || typeof id !== "string") return "result without ok"
      for (const field of ["paid", "balances"] as const) if (value[field] !== undefined && !isAssetAmounts(value[field])) return `malformed ${field}`
      if (value["memberships"] !== undefined && !isMemberships(value["memberships"])) return "malformed memberships"
      return value as unknown as Result
    }
    default:
      return `unknown frame type ${String(value["type"])}`
  }
}
