/**
 * Transactions as bytes: the strict decoder that validators and peers run on transactions they
 * receive (PROTOCOL.md section 4), and the canonical JSON text the node stores for each one.
 *
 * The node writes every transaction's body in its RFC 8785 form from the start, so that a block's
 * Merkle leaves are the stored bytes themselves: sealing a block never parses or re-serializes a
 * transaction. `transactionJson` is a serializer for this one shape (keys in sorted order, strings
 * and integers as JSON.stringify writes them, which is what RFC 8785 prescribes for them) because
 * the generic canonicalizer walks and sorts every object, several microseconds per transaction.
 * Only `memo`, which is free-form, goes through the generic one. A test checks both agree.
 */
import { decodeApprovals } from "./authority.js"
import { canonicalJson } from "./canonical.js"
import * as limits from "./limits.js"
import {
  accept,
  decodeAssetId,
  decodeCardId,
  decodeCount,
  decodeLiteral,
  decodePlaceId,
  decodeReaderId,
  decodeRequestId,
  decodeTime,
  decodeWalletId,
  decodeExternalRef,
  isRecord,
  reject,
  type Decoded,
  type TxId,
  type WalletId,
} from "./names.js"
import { txKinds, type JsonValue, type Leg, type Transaction } from "./state.js"

export const txIdPattern = /^[A-Za-z0-9_-]{1,64}$/
const txFields = new Set(["approvals", "id", "kind", "time", "place", "reader", "card", "request", "ref", "memo", "legs", "command"])
const legFields = new Set(["asset", "from", "to", "amount", "until"])

const unknownField = (raw: Record<string, unknown>, known: Set<string>, field: string): Decoded<never> | undefined => {
  for (const name of Object.keys(raw)) if (!known.has(name)) return reject(`${field}.${name}`, `${name} is not a field here`)
  return undefined
}

/** A leg's wallet, refused in capitals (see decodeTransaction). */
const decodeLegWallet = (value: unknown, field: string): Decoded<WalletId> => {
  const wallet = decodeWalletId(value, field)
  return wallet.ok && wallet.value !== value ? reject(field, `${field} must be written in lowercase`) : wallet
}

const decodeLeg = (raw: unknown, field: string): Decoded<Leg> => {
  if (!isRecord(raw)) return reject(field, "a leg must be an object")
  const unknown = unknownField(raw, legFields, field)
  if (unknown !== undefined) return unknown
  const asset = decodeAssetId(raw["asset"], `${field}.asset`)
  if (!asset.ok) return asset
  const from = decodeLegWallet(raw["from"], `${field}.from`)
  if (!from.ok) return from
  const to = decodeLegWallet(raw["to"], `${field}.to`)
  if (!to.ok) return to
  const amount = decodeCount(raw["amount"], `${field}.amount`, 0, limits.amountMax)
  if (!amount.ok) return amount
  if (raw["until"] === undefined) return accept({ asset: asset.value, from: from.value, to: to.value, amount: amount.value })
  const until = decodeTime(raw["until"], `${field}.until`)
  if (!until.ok) return until
  return accept({ asset: asset.value, from: from.value, to: to.value, amount: amount.value, until: until.value })
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Optional string fields, each with its decoder. */
const optionalFields = {
  place: decodePlaceId,
  reader: decodeReaderId,
  card: decodeCardId,
  request: decodeRequestId,
  ref: decodeExternalRef,
} as const

/**
 * A transaction received from another node. Checks its form only (names, integers, kinds, no
 * unknown field, at most legsPerTxMax legs, a card by its pseudonym); whether its legs can
 * apply is re-execution's business.
 */
export const decodeTransaction = (raw: unknown, field = "tx"): Decoded<Transaction> => {
  if (!isRecord(raw)) return reject(field, "a transaction must be an object")
  const unknown = unknownField(raw, txFields, field)
  if (unknown !== undefined) return unknown
  const id = raw["id"]
  if (typeof id !== "string" || !txIdPattern.test(id)) return reject(`${field}.id`, "id must be 1 to 64 characters [A-Za-z0-9_-]")
  const kind = decodeLiteral(raw["kind"], `${field}.kind`, txKinds)
  if (!kind.ok) return kind
  const time = decodeTime(raw["time"], `${field}.time`)
  if (!time.ok) return time
  const legsRaw = raw["legs"]
  if (!Array.isArray(legsRaw) || legsRaw.length > limits.legsPerTxMax) {
    return reject(`${field}.legs`, `legs must be a list of at most ${limits.legsPerTxMax}`)
  }
  const legs: Leg[] = []
  for (let index = 0; index < legsRaw.length; index++) {
    const leg = decodeLeg(legsRaw[index], `${field}.legs[${index}]`)
    if (!leg.ok) return leg
    legs.push(leg.value)
  }
  const tx: Mutable<Transaction> = { id: id as TxId, kind: kind.value, time: time.value, legs }
  for (const [name, decode] of Object.entries(optionalFields)) {
    const value = raw[name]
    if (value === undefined) continue
    const decoded = decode(value, `${field}.${name}`)
    if (!decoded.ok) return decoded
    // A name spelled in capitals would hash differently from the one the node committed.
    if (decoded.value !== value) return reject(`${field}.${name}`, `${name} must be written in lowercase`)
    ;(tx as Record<string, unknown>)[name] = decoded.value
  }
  if (raw["memo"] !== undefined) {
    const memo = canonicalJson(raw["memo"])
    if (!memo.ok) return reject(`${field}.memo`, `memo has no canonical form (${memo.reason} at ${memo.path})`)
    tx.memo = raw["memo"] as JsonValue
  }
  // Whose approvals they are is re-execution's business (authorize); here, their form.
  if (raw["approvals"] !== undefined) {
    const approvals = decodeApprovals(raw["approvals"], `${field}.approvals`)
    if (!approvals.ok) return approvals
    tx.approvals = approvals.value
  }
  // What the command holds is re-execution's business (decodeCommand); here, only that it is an object.
  if (raw["command"] !== undefined) {
    if (!isRecord(raw["command"])) return reject(`${field}.command`, "command must be an object")
    tx.command = raw["command"] as JsonValue
  }
  return accept(tx)
}

const text = JSON.stringify

const legJson = (leg: Leg): string =>
  leg.until === undefined
    ? `{"amount":${leg.amount},"asset":${text(leg.asset)},"from":${text(leg.from)},"to":${text(leg.to)}}`
    : `{"amount":${leg.amount},"asset":${text(leg.asset)},"from":${text(leg.from)},"to":${text(leg.to)},"until":${leg.until}}`

/**
 * The RFC 8785 text of a transaction the engine made. Keys in sorted order: approvals, card, command, id, kind, legs,
 * memo, place, reader, ref, request, time. Throws if the memo has no canonical form, which the
 * engine never builds.
 */
export const transactionJson = (tx: Transaction): string => {
  let out = "{"
  if (tx.approvals !== undefined) {
    out += `"approvals":[${tx.approvals.map((approval) => `{"key":${text(approval.key)},"signature":${text(approval.signature)}}`).join(",")}],`
  }
  if (tx.card !== undefined) out += `"card":${text(tx.card)},`
  if (tx.command !== undefined) out += `"command":${commandJson(tx.command)},`
  out += `"id":${text(tx.id)},"kind":${text(tx.kind)},"legs":[`
  for (let index = 0; index < tx.legs.length; index++) {
    if (index > 0) out += ","
    out += legJson(tx.legs[index] as Leg)
  }
  out += "]"
  if (tx.memo !== undefined) {
    const memo = canonicalJson(tx.memo)
    if (!memo.ok) throw new Error(`transactionJson: memo has no canonical form (${memo.reason} at ${memo.path})`)
    out += `,"memo":${memo.value}`
  }
  if (tx.place !== undefined) out += `,"place":${text(tx.place)}`
  if (tx.reader !== undefined) out += `,"reader":${text(tx.reader)}`
  if (tx.ref !== undefined) out += `,"ref":${text(tx.ref)}`
  if (tx.request !== undefined) out += `,"request":${text(tx.request)}`
  return `${out},"time":${tx.time}}`
}

/** Sorted field names of each shape of flat command met so far (a few dozen shapes at most). */
const sortedKeys = new Map<string, readonly string[]>()

/**
 * The RFC 8785 text of a command the engine decoded. Most commands are flat objects of strings and
 * integers: their keys are sorted once per shape and their values written as JSON.stringify does
 * (which is RFC 8785's form for them); any other value (a registry command's lists and objects, a
 * number that is not an integer) goes through the generic canonicalizer.
 */
export const commandJson = (command: JsonValue): string => {
  if (!isRecord(command)) return canonicalText(command)
  const keys = Object.keys(command)
  const shape = keys.join(",")
  let sorted = sortedKeys.get(shape)
  if (sorted === undefined) {
    sorted = [...keys].sort()
    if (sortedKeys.size < 1024) sortedKeys.set(shape, sorted)
  }
  let out = "{"
  for (const key of sorted) {
    const value = command[key]
    if (value === undefined) continue
    if (typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isSafeInteger(value))) {
      if (typeof value === "string" && !wellFormed(value)) return canonicalText(command)
      out += `${out.length === 1 ? "" : ","}${text(key)}:${text(value)}`
    } else {
      return canonicalText(command)
    }
  }
  return `${out}}`
}

const canonicalText = (value: unknown): string => {
  const canonical = canonicalJson(value)
  if (!canonical.ok) throw new Error(`transactionJson: a command has no canonical form (${canonical.reason} at ${canonical.path})`)
  return canonical.value
}

/** Strings the decoders let through are short; one that is not well-formed UTF-16 has no canonical form. */
const wellFormed = (value: string): boolean => !/[\uD800-\uDFFF]/.test(value) || canonicalJson(value).ok
