/**
 * The names and numbers of PROTOCOL.md sections 1 and 2 as branded types, with the decoders that
 * are the only way to make one from outside. A decoder never throws: it returns the value or a
 * rejection that names the field and the wire status (`bad_request` or `amount_out_of_range`).
 */
import * as limits from "./limits.js"

declare const brand: unique symbol
/** A value of type T that a decoder has checked to be a B. */
export type Brand<T, B extends string> = T & { readonly [brand]: B }

export type FederationId = Brand<string, "FederationId">
export type PlaceId = Brand<string, "PlaceId">
export type AssetId = Brand<string, "AssetId">
export type ReaderId = Brand<string, "ReaderId">
export type FundName = Brand<string, "FundName">
/** A card's uid as its chip gives it: lowercase hex of 4, 7 or 10 bytes. Known to the node only. */
export type CardUid = Brand<string, "CardUid">
/**
 * A card's name in the ledger: its pseudonym, 32 lowercase hex (PROTOCOL.md section 9.4). Only the
 * node, holding the federation's card key, can tell which uid it stands for.
 */
export type CardId = Brand<string, "CardId">
export type RequestId = Brand<string, "RequestId">
export type TxId = Brand<string, "TxId">
export type WalletId = Brand<string, "WalletId">
/** base64url (no padding) of a raw 32-byte Ed25519 public key. */
export type ValidatorId = Brand<string, "ValidatorId">
/** An external reference, such as a payment provider's object id. */
export type ExternalRef = Brand<string, "ExternalRef">
/** An amount of one leg or request: an integer in 1..10^12 minor units. */
export type Amount = Brand<number, "Amount">
/** Integer milliseconds since the Unix epoch, UTC. */
export type TimeMs = Brand<number, "TimeMs">

export type RejectStatus = "bad_request" | "amount_out_of_range"
export interface Rejection {
  readonly ok: false
  readonly status: RejectStatus
  readonly field: string
  readonly message: string
}
export type Decoded<T> = { readonly ok: true; readonly value: T } | Rejection

export const accept = <T>(value: T): Decoded<T> => ({ ok: true, value })
export const reject = (field: string, message: string, status: RejectStatus = "bad_request"): Rejection => ({
  ok: false,
  status,
  field,
  message,
})

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/
const requestIdPattern = /^[A-Za-z0-9_-]{1,64}$/
const cardUidPattern = /^(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{14}|[0-9a-fA-F]{20})$/
const cardIdPattern = /^[0-9a-f]{32}$/
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const validatorIdPattern = /^[A-Za-z0-9_-]{43}$/
const refPattern = /^[\x21-\x7e]{1,255}$/

const decodePattern =
  <T extends string>(pattern: RegExp, what: string) =>
  (value: unknown, field: string): Decoded<T> =>
    typeof value === "string" && pattern.test(value)
      ? accept(value as T)
      : reject(field, `${field} must be ${what}`)

const idForm = "a name of 1 to 63 characters [a-z0-9-] starting with a letter or digit"
export const decodeFederationId = decodePattern<FederationId>(namePattern, idForm)
export const decodePlaceId = decodePattern<PlaceId>(namePattern, idForm)
export const decodeAssetId = decodePattern<AssetId>(namePattern, idForm)
export const decodeReaderId = decodePattern<ReaderId>(namePattern, idForm)
export const decodeFundName = decodePattern<FundName>(namePattern, idForm)
export const decodeRequestId = decodePattern<RequestId>(requestIdPattern, "1 to 64 characters [A-Za-z0-9_-]")
export const decodeTxId = decodePattern<TxId>(requestIdPattern, "1 to 64 characters [A-Za-z0-9_-]")
export const decodeValidatorId = decodePattern<ValidatorId>(
  validatorIdPattern,
  "the base64url of a 32-byte Ed25519 public key (43 characters)",
)
export const decodeExternalRef = decodePattern<ExternalRef>(refPattern, "1 to 255 printable ASCII characters")

/** Card uids are accepted in any case and kept lowercase, as the contract says. */
export const decodeCardUid = (value: unknown, field: string): Decoded<CardUid> =>
  typeof value === "string" && cardUidPattern.test(value)
    ? accept(value.toLowerCase() as CardUid)
    : reject(field, `${field} must be the hex of a 4, 7 or 10 byte card uid`)

/** A card as the ledger names it: a pseudonym, never a uid (a uid here is refused, so none enters a block). */
export const decodeCardId = (value: unknown, field: string): Decoded<CardId> =>
  typeof value === "string" && cardIdPattern.test(value)
    ? accept(value as CardId)
    : reject(field, `${field} must be a card's pseudonym: 32 lowercase hex digits (a uid never enters the ledger)`)

export const isCardId = (value: string): value is CardId => cardIdPattern.test(value)

export const cardWallet = (card: CardId): WalletId => `card:${card}` as WalletId
export const placeWallet = (place: PlaceId): WalletId => `place:${place}` as WalletId
export const issuanceWallet = (asset: AssetId): WalletId => `issuance:${asset}` as WalletId
export const fundWallet = (name: FundName): WalletId => `fund:${name}` as WalletId
export const commonFund = fundWallet("common" as FundName)
export const maintenanceFund = fundWallet("maintenance" as FundName)
/** Where an online refund's money waits for the payment processor's answer (PROTOCOL.md section 9.5). */
export const refundsFund = fundWallet("refunds" as FundName)

export type WalletKind = "card" | "user" | "place" | "fund" | "issuance"

/** Wallet ids are `kind:rest`; the rest is checked with the form of its kind. */
export const decodeWalletId = (value: unknown, field: string): Decoded<WalletId> => {
  if (typeof value !== "string") return reject(field, `${field} must be a wallet id`)
  const colon = value.indexOf(":")
  const kind = value.slice(0, colon)
  const rest = value.slice(colon + 1)
  const valid =
    colon > 0 &&
    ((kind === "card" && cardIdPattern.test(rest)) ||
      (kind === "user" && uuidPattern.test(rest.toLowerCase())) ||
      ((kind === "place" || kind === "fund" || kind === "issuance") && namePattern.test(rest)))
  if (!valid) {
    return reject(field, `${field} must be card:<pseudonym>, user:<uuid>, place:<id>, fund:<name> or issuance:<asset>`)
  }
  return accept((kind === "user" ? `${kind}:${rest.toLowerCase()}` : value) as WalletId)
}

export const walletKind = (wallet: WalletId): WalletKind => wallet.slice(0, wallet.indexOf(":")) as WalletKind
export const walletRest = (wallet: WalletId): string => wallet.slice(wallet.indexOf(":") + 1)

/**
 * Amounts: a JSON number that is not an integer is malformed (`bad_request`); an integer outside
 * 1..10^12, unsafe integers included, is `amount_out_of_range`.
 */
export const decodeAmount = (value: unknown, field: string): Decoded<Amount> => {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return reject(field, `${field} must be an integer number of minor units`)
  }
  if (value < limits.amountMin || value > limits.amountMax) {
    return reject(field, `${field} must be between ${limits.amountMin} and ${limits.amountMax}`, "amount_out_of_range")
  }
  return accept(value as Amount)
}

/** A non-negative safe integer, for counts and shares; bounded by `max`. */
export const decodeCount = (value: unknown, field: string, min: number, max: number): Decoded<number> =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max
    ? accept(value)
    : reject(field, `${field} must be an integer between ${min} and ${max}`)

/** Times are integer milliseconds since the epoch, from 1970 to year 275760 (the Date range). */
export const decodeTime = (value: unknown, field: string): Decoded<TimeMs> =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= 8.64e15
    ? accept(value as TimeMs)
    : reject(field, `${field} must be integer milliseconds since the Unix epoch`)

/** A UTF-16 surrogate without its other half: such a string has no UTF-8 form, hence no canonical bytes. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export const decodeDisplayName = (value: unknown, field: string): Decoded<string> =>
  typeof value === "string" && value.length >= 1 && value.length <= limits.displayNameLengthMax && !loneSurrogate.test(value)
    ? accept(value)
    : reject(field, `${field} must be a text of 1 to ${limits.displayNameLengthMax} characters`)

export const decodeLiteral = <T extends string>(value: unknown, field: string, allowed: readonly T[]): Decoded<T> =>
  typeof value === "string" && (allowed as readonly string[]).includes(value)
    ? accept(value as T)
    : reject(field, `${field} must be one of ${allowed.join(", ")}`)

/** A plain JSON object (not an array, not null), so that fields can be read from it. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
