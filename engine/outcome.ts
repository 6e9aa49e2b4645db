/**
 * What a command decides: `ok` with the transaction to apply (null for a read), or the first
 * failing status in the command's order of precedence, with a message and the field at fault.
 */
import type { Approval } from "./authority.js"
import type { CardId, PlaceId, ReaderId, TimeMs, TxId } from "./names.js"
import type { JsonValue, Leg, Transaction, TxKind } from "./state.js"

export interface Applied {
  readonly ok: true
  readonly status: "ok"
  readonly tx: Transaction | null
}
export interface Failure<S extends string = string> {
  readonly ok: false
  readonly status: S
  readonly message: string
  readonly field?: string
}
export type Outcome<S extends string = string> = Applied | Failure<Exclude<S, "ok">>

export const fail = <S extends string>(status: S, message: string, field?: string): Failure<S> =>
  field === undefined ? { ok: false, status, message } : { ok: false, status, message, field }

/** Tells a failure from the thing a check returns when it passes (cards, places, legs: no `ok`). */
export const isFailure = <T>(value: T): value is Extract<T, Failure> =>
  typeof value === "object" && value !== null && "ok" in value && value.ok === false

/** What the caller supplies so that the engine needs no clock and no id generator. */
export interface Context {
  readonly now: TimeMs
  readonly txId: TxId
  /** The approvals given with the command (PROTOCOL.md section 9.3), decoded; absent when none. */
  readonly approvals?: readonly Approval[] | undefined
}

interface TxParts {
  readonly place?: PlaceId | undefined
  readonly reader?: ReaderId | undefined
  readonly card?: CardId | undefined
  readonly request?: string | undefined
  readonly ref?: string | undefined
  readonly memo?: JsonValue | undefined
}

/** A transaction of this context, with only the optional fields that are present. */
export const transaction = (ctx: Context, kind: TxKind, parts: TxParts, legs: readonly Leg[]): Transaction => {
  const tx: { -readonly [K in keyof Transaction]: Transaction[K] } = { id: ctx.txId, kind, time: ctx.now, legs }
  if (parts.place !== undefined) tx.place = parts.place
  if (parts.reader !== undefined) tx.reader = parts.reader
  if (parts.card !== undefined) tx.card = parts.card
  if (parts.request !== undefined) tx.request = parts.request
  if (parts.ref !== undefined) tx.ref = parts.ref
  if (parts.memo !== undefined) tx.memo = parts.memo
  return tx
}

export const applied = (tx: Transaction | null): Applied => ({ ok: true, status: "ok", tx })
