/**
 * Co-optation: the `validators` command, by which the federation changes its validator set (add a
 * key, remove one, change the threshold). Its transaction carries the whole new set in `memo`, so
 * that a replica needs nothing else to follow the change; the set takes effect for finality from
 * the height after the block that carries the transaction (PROTOCOL.md section 5), which is the
 * block producer's business, not the engine's.
 */
import type { CommandOf } from "./command.js"
import * as limits from "./limits.js"
import { decodeCount, decodeValidatorId, isRecord, type ValidatorId } from "./names.js"
import { applied, fail, transaction, type Context, type Outcome } from "./outcome.js"
import type { JsonValue, LedgerState, Validators } from "./state.js"

/** Ordered by precedence: the first failing check is the one reported. */
export const validatorsStatuses = [
  "ok", "bad_request", "conflict", "already_member", "not_member", "threshold_out_of_range",
] as const
export type ValidatorsStatus = (typeof validatorsStatuses)[number]

export const changeValidators = (
  state: LedgerState,
  cmd: CommandOf<"validators">,
  ctx: Context,
): Outcome<ValidatorsStatus> => {
  if (cmd.add === undefined && cmd.remove === undefined && cmd.threshold === undefined) {
    return fail("bad_request", "a validators change adds a key, removes one or sets the threshold")
  }
  if (cmd.add !== undefined && cmd.add === cmd.remove) return fail("bad_request", "cannot add and remove the same key", "remove")
  const current = state.validators
  if (cmd.add !== undefined && current.keys.includes(cmd.add)) {
    return fail("already_member", `${cmd.add} is already a validator`, "add")
  }
  if (cmd.remove !== undefined && !current.keys.includes(cmd.remove)) {
    return fail("not_member", `${cmd.remove} is not a validator`, "remove")
  }
  const keys = current.keys.filter((key) => key !== cmd.remove)
  if (cmd.add !== undefined) keys.push(cmd.add)
  const threshold = cmd.threshold ?? Math.min(current.threshold, keys.length)
  if (keys.length === 0 || keys.length > limits.validatorsMax || threshold < 1 || threshold > keys.length) {
    return fail("threshold_out_of_range", `the threshold must be between 1 and the ${keys.length} validators`, "threshold")
  }
  // A payment checker removed from the set stops checking.
  const memo = withCheckers({ keys: [...keys], threshold }, (current.paymentCheckers ?? []).filter((key) => key !== cmd.remove)) as unknown as JsonValue
  return applied(transaction(ctx, "validators", { request: cmd.request, memo }, []))
}

/**
 * The validator set a `validators` transaction's memo carries, or undefined when it carries none
 * (the genesis transaction carries the whole genesis document instead).
 */
export const validatorSetOf = (memo: unknown): Validators | undefined => {
  if (!isRecord(memo) || !Array.isArray(memo["keys"])) return undefined
  const keys: ValidatorId[] = []
  for (const key of memo["keys"] as unknown[]) {
    const decoded = decodeValidatorId(key, "keys")
    if (!decoded.ok || keys.includes(decoded.value)) return undefined
    keys.push(decoded.value)
  }
  if (keys.length === 0 || keys.length > limits.validatorsMax) return undefined
  const threshold = decodeCount(memo["threshold"], "threshold", 1, keys.length)
  if (!threshold.ok) return undefined
  if (memo["paymentCheckers"] === undefined) return { keys, threshold: threshold.value }
  const checkers = paymentCheckersOf(memo["paymentCheckers"], keys)
  return checkers === undefined ? undefined : withCheckers({ keys, threshold: threshold.value }, checkers)
}

/** Payment checkers: distinct members of `keys`; undefined for anything else. */
export const paymentCheckersOf = (raw: unknown, keys: readonly ValidatorId[]): ValidatorId[] | undefined => {
  if (!Array.isArray(raw)) return undefined
  const checkers: ValidatorId[] = []
  for (const key of raw as unknown[]) {
    if (typeof key !== "string" || !keys.includes(key as ValidatorId) || checkers.includes(key as ValidatorId)) return undefined
    checkers.push(key as ValidatorId)
  }
  return checkers
}

/** A set with these payment checkers; without the field when there are none, so that its JSON is that of a set without. */
export const withCheckers = (set: { keys: readonly ValidatorId[]; threshold: number }, checkers: readonly ValidatorId[]): Validators =>
  checkers.length === 0 ? { keys: set.keys, threshold: set.threshold } : { keys: set.keys, threshold: set.threshold, paymentCheckers: checkers }

/** The kinds of transactions that carry payment evidence: a refill's payment, an online refund's refund. */
export const evidenceKinds: readonly string[] = ["refill", "payback"]

/** Whether a block holding these kinds of transactions needs a payment checker's signature, under this set. */
export const needsPaymentChecker = (set: Validators, kinds: Iterable<string>): boolean => {
  if (set.paymentCheckers === undefined || set.paymentCheckers.length === 0) return false
  for (const kind of kinds) if (evidenceKinds.includes(kind)) return true
  return false
}
