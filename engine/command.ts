/**
 * The commands the engine executes, and their decoder. Each command is a flat JSON object with a
 * `kind` and the fields of its spec; the decoder checks every field with the decoders of names.ts,
 * rejects unknown fields, and builds the command with its fields in spec order, so that the
 * command's JSON text is a deterministic fingerprint for idempotency.
 */
import * as limits from "./limits.js"
import type { Decoded } from "./names.js"
import { decodeDemurragePolicy, decodeExchangeRate } from "./genesis.js"
import {
  decodeAccepts,
  decodeBoolean,
  decodeCardEntries,
  decodeHeight,
  decodeKeys,
  decodeObserverKeys,
  decodePayout,
  decodeRulesVersion,
  decodeTokenSha256,
  decodeTrue,
} from "./registry.js"
import { assetKinds } from "./state.js"
import {
  accept,
  decodeAmount,
  decodeAssetId,
  decodeCardId,
  decodeCount,
  decodeExternalRef,
  decodeLiteral,
  decodePlaceId,
  decodeReaderId,
  decodeRequestId,
  decodeValidatorId,
  decodeWalletId,
  decodeDisplayName,
  isRecord,
  reject,
  walletKind,
  type WalletId,
  type WalletKind,
} from "./names.js"

interface Field<T, Optional extends boolean> {
  readonly decode: (value: unknown, field: string) => Decoded<T>
  readonly optional: Optional
}
const required = <T>(decode: (value: unknown, field: string) => Decoded<T>): Field<T, false> => ({
  decode,
  optional: false,
})
const optional = <T>(decode: (value: unknown, field: string) => Decoded<T>): Field<T, true> => ({
  decode,
  optional: true,
})

/** A wallet id restricted to some kinds, so that e.g. nobody transfers out of `issuance:`. */
const walletOf =
  (...kinds: WalletKind[]) =>
  (value: unknown, field: string): Decoded<WalletId> => {
    const decoded = decodeWalletId(value, field)
    if (!decoded.ok) return decoded
    return kinds.includes(walletKind(decoded.value))
      ? decoded
      : reject(field, `${field} must be a ${kinds.join(" or ")} wallet`)
  }

const periodMs = (value: unknown, field: string) => decodeCount(value, field, 1, limits.membershipPeriodMsMax)
const voidReason = (value: unknown, field: string) => decodeLiteral(value, field, ["lost", "voided"] as const)
const direction = (value: unknown, field: string) => decodeLiteral(value, field, ["to_fed", "from_fed"] as const)
const threshold = (value: unknown, field: string) => decodeCount(value, field, 1, limits.validatorsMax)
const assetKind = (value: unknown, field: string) => decodeLiteral(value, field, assetKinds)
const readerRole = (value: unknown, field: string) => decodeLiteral(value, field, ["bar", "cashdesk"] as const)

/** Who sent a request: a reader's request id is its idempotency key (reader commands only). */
const origin = { request: optional(decodeRequestId), reader: optional(decodeReaderId) }
/** Operator and scheduler commands: their request ids are keyed without a reader. */
const operator = { request: optional(decodeRequestId) }

export const commandSpecs = {
  sale: { ...origin, place: required(decodePlaceId), card: required(decodeCardId), amount: required(decodeAmount), asset: optional(decodeAssetId) },
  check: { ...origin, place: optional(decodePlaceId), card: required(decodeCardId) },
  badge: { ...origin, place: required(decodePlaceId), card: required(decodeCardId) },
  topup: { ...origin, place: required(decodePlaceId), card: required(decodeCardId), amount: required(decodeAmount), asset: required(decodeAssetId) },
  refund: { ...origin, place: required(decodePlaceId), card: required(decodeCardId) },
  transfer: { ...operator, from: required(walletOf("card", "user", "place", "fund")), to: required(walletOf("card", "user", "place", "fund")), asset: required(decodeAssetId), amount: required(decodeAmount) },
  fusion: { ...operator, card: required(decodeCardId), user: required(walletOf("user")) },
  subscribe: { ...origin, place: required(decodePlaceId), wallet: required(walletOf("card", "user")), asset: required(decodeAssetId), periodMs: required(periodMs), amount: optional(decodeAmount) },
  refill: { ...operator, wallet: required(walletOf("card", "user", "place")), amount: required(decodeAmount), ref: required(decodeExternalRef) },
  deposit: { ...operator, place: required(decodePlaceId), amount: required(decodeAmount), ref: required(decodeExternalRef) },
  // The online refund of a refill (PROTOCOL.md section 9.5): `payment` is the refill's `ref`.
  withdraw: { ...operator, payment: required(decodeExternalRef), amount: required(decodeAmount) },
  payback: { ...operator, payment: required(decodeExternalRef), ref: required(decodeExternalRef) },
  restore: { ...operator, payment: required(decodeExternalRef) },
  exchange: { ...operator, wallet: required(walletOf("card", "user")), asset: required(decodeAssetId), direction: required(direction), amount: required(decodeAmount) },
  demurrage: { ...operator, wallet: required(walletOf("card", "user", "place")), asset: required(decodeAssetId) },
  void: { ...operator, card: required(decodeCardId), reason: required(voidReason), place: optional(decodePlaceId) },
  mint: { ...operator, asset: required(decodeAssetId), to: required(walletOf("card", "user", "place", "fund")), amount: required(decodeAmount), ref: optional(decodeExternalRef) },
  validators: { ...operator, add: optional(decodeValidatorId), remove: optional(decodeValidatorId), threshold: optional(threshold) },
  // The registry (PROTOCOL.md section 9.2).
  place: { ...operator, id: required(decodePlaceId), name: required(decodeDisplayName), accepts: required(decodeAccepts), membershipRequired: optional(decodeAssetId), staffRequired: optional(decodeBoolean), payout: optional(decodePayout) },
  // `assetKind`: the command's own `kind` is "asset" (PROTOCOL.md 9.2 names it `kind` in the asset's document).
  asset: { ...operator, id: required(decodeAssetId), assetKind: required(assetKind), name: required(decodeDisplayName), issuer: optional(decodePlaceId), demurrage: optional(decodeDemurragePolicy), exchange: optional(decodeExchangeRate) },
  reader: { ...operator, id: required(decodeReaderId), place: optional(decodePlaceId), role: optional(readerRole), tokenSha256: optional(decodeTokenSha256), revoke: optional(decodeTrue) },
  cards: { ...operator, cards: required(decodeCardEntries) },
  block: { ...origin, place: optional(decodePlaceId), card: required(decodeCardId), reason: required(voidReason) },
  stewards: { ...operator, keys: required(decodeKeys), threshold: required(threshold) },
  observers: { ...operator, keys: required(decodeObserverKeys) },
  rules: { ...operator, version: required(decodeRulesVersion), from: required(decodeHeight) },
} as const

type Specs = typeof commandSpecs
export type CommandKind = keyof Specs
export const commandKinds = Object.keys(commandSpecs) as CommandKind[]

type Decodes<F> = F extends Field<infer T, boolean> ? T : never
type Fields<S> = { -readonly [K in keyof S as S[K] extends Field<unknown, false> ? K : never]: Decodes<S[K]> } & {
  -readonly [K in keyof S as S[K] extends Field<unknown, true> ? K : never]?: Decodes<S[K]>
}
export type CommandOf<K extends CommandKind> = { kind: K } & Fields<Specs[K]>
export type Command = { [K in CommandKind]: CommandOf<K> }[CommandKind]

/**
 * Decodes a command. A malformed or unknown field (`bad_request`) is reported before an amount out
 * of range, as every command's statuses list them; among fields of one kind, the first in spec
 * order wins.
 */
export const decodeCommand = (raw: unknown): Decoded<Command> => {
  if (!isRecord(raw)) return reject("command", "a command must be a JSON object")
  const kind = decodeLiteral(raw["kind"], "kind", commandKinds)
  if (!kind.ok) return kind
  const spec: Record<string, Field<unknown, boolean>> = commandSpecs[kind.value]
  const command: Record<string, unknown> = { kind: kind.value }
  let outOfRange: Decoded<Command> | undefined
  for (const [name, field] of Object.entries(spec)) {
    const value = raw[name]
    if (value === undefined && field.optional) continue
    if (value === undefined) return reject(name, `${name} is required`)
    const decoded = field.decode(value, name)
    if (!decoded.ok && decoded.status !== "amount_out_of_range") return decoded
    if (!decoded.ok) outOfRange ??= decoded
    else command[name] = decoded.value
  }
  for (const name of Object.keys(raw)) {
    if (name !== "kind" && !Object.hasOwn(spec, name)) return reject(name, `${name} is not a field of ${kind.value}`)
  }
  return outOfRange ?? accept(command as Command)
}

/** Idempotency key of a command that carries a request id: `reader/request`. */
export const requestKey = (command: Command): string | undefined =>
  command.request === undefined ? undefined : `${("reader" in command ? command.reader : undefined) ?? "-"}/${command.request}`
