/**
 * Authority (PROTOCOL.md section 9.3): who must approve a command before the engine runs it. A
 * reader's command is authorized by the reader itself (registered, unrevoked, of the place, with the
 * role: each command checks it); an operator's command that creates money, changes the registry or
 * moves someone else's money needs approvals of the federation's stewards; a change of the validator
 * set or of the rules needs approvals of the validators in force, and of the newcomer when one joins
 * (co-optation). An approval is an Ed25519 signature over the genesis hash and the command's
 * canonical bytes, so that it is worth nothing in another federation, nor for another command.
 *
 * Every replica runs this check with the approvals the transaction carries: the node cannot write an
 * approved command that was not approved. An approved command's request id is never accepted twice
 * (`LedgerState.approved`), so that an approval cannot be replayed.
 */
import type { Command } from "./command.js"
import { base64urlDecode, sign, verify, type SigningKey } from "./ed25519.js"
import * as limits from "./limits.js"
import { accept, decodeValidatorId, isRecord, reject, type Decoded, type ValidatorId } from "./names.js"
import { fail, type Failure } from "./outcome.js"
import { genesisCardsPending } from "./pseudonyms.js"
import type { LedgerState } from "./state.js"
import { commandJson } from "./transaction.js"

/** One signer's approval of a command. */
export interface Approval {
  readonly key: ValidatorId
  /** Base64url of the 64-byte Ed25519 signature of `approvalMessage`. */
  readonly signature: string
}

export const approvalPrefix = "gesell/approval/v1"

/** The bytes an approval signs: the prefix, the genesis hash, then the command's canonical bytes. */
export const approvalText = (genesisHash: string, command: Command): string => `${approvalPrefix}:${genesisHash}:${commandJson(command as never)}`

export const signApproval = (key: SigningKey, id: ValidatorId, genesisHash: string, command: Command): Approval => ({
  key: id,
  signature: sign(key, new TextEncoder().encode(approvalText(genesisHash, command))),
})

/** Who must approve a command. */
export type Authority =
  | { readonly by: "none" }
  /** `count` distinct stewards of the set in force. */
  | { readonly by: "stewards"; readonly count: number; readonly keys: readonly ValidatorId[] }
  /** `count` distinct validators of the set in force, and the newcomer when one joins. */
  | { readonly by: "validators"; readonly count: number; readonly keys: readonly ValidatorId[]; readonly newcomer?: ValidatorId }

const none: Authority = { by: "none" }

/** The stewards' authority: `threshold` of them, or one. A federation without stewards can give none. */
const stewards = (state: LedgerState, all: boolean): Authority => {
  const set = state.stewards
  if (set === undefined) return { by: "stewards", count: 1, keys: [] }
  return { by: "stewards", count: all ? set.threshold : 1, keys: set.keys }
}

/** Whether a card holds anything a void would move: a balance or a membership. */
const cardHoldsMoney = (state: LedgerState, id: string): boolean => {
  const card = state.cards.get(id as never)
  if (card === undefined) return false
  const wallet = state.wallets.get(card.wallet)
  if (wallet === undefined) return false
  // Zero balances are absent from a wallet.
  return wallet.balances.size > 0 || wallet.memberships.size > 0
}

/** The table of section 9.3, for this command on this state. */
export const authorityOf = (state: LedgerState, command: Command): Authority => {
  switch (command.kind) {
    // A reader's command: the reader is the authority, checked by the command itself. Made by an
    // operator without a reader, it moves a holder's money: one steward.
    case "sale":
    case "badge":
    case "topup":
    case "refund":
    case "subscribe":
      return command.reader === undefined ? stewards(state, false) : none
    case "check":
      return none
    // Blocking a card takes authority away: a reader's or the node's admin's word is enough.
    case "block":
      return none
    // The genesis's cards need none: block 0 commits to them (section 9.4).
    case "cards":
      return genesisCardsPending(state) ? none : stewards(state, false)
    case "exchange":
    case "transfer":
    case "fusion":
      return stewards(state, false)
    case "void":
      return cardHoldsMoney(state, command.card) ? stewards(state, false) : none
    case "reader":
      return command.revoke === true ? none : stewards(state, false)
    case "mint": {
      // A place mints its own asset with one steward; `fed`, backed by euros, and any asset of the
      // federation itself take the threshold.
      const asset = state.assets.get(command.asset)
      return stewards(state, asset === undefined || asset.kind === "fed" || asset.issuer === undefined)
    }
    case "deposit":
    case "asset":
    case "place":
    case "stewards":
    case "observers":
      return stewards(state, true)
    case "validators":
    case "rules": {
      const { keys, threshold } = state.validators
      const newcomer = command.kind === "validators" ? command.add : undefined
      return newcomer === undefined ? { by: "validators", count: threshold, keys } : { by: "validators", count: threshold, keys, newcomer }
    }
    // Payment evidence is checked by the validators that check payments (section 9.5); the policy,
    // the state and the time decide a melt.
    case "refill":
    case "payback":
    case "demurrage":
      return none
    // An online refund moves a holder's fed only towards the payment it came from (a payment checker
    // verifies the processor's refund), or back: nobody else can gain by it.
    case "withdraw":
    case "restore":
      return none
  }
}

const approvalFields = new Set(["key", "signature"])

/**
 * The approvals a command or a transaction carries: a list of at most approvalsMax
 * `{key, signature}`, each key once. Signatures are checked against the command by `authorize`.
 */
export const decodeApprovals = (raw: unknown, field = "approvals"): Decoded<readonly Approval[]> => {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > limits.approvalsMax) {
    return reject(field, `${field} must be a list of 1 to ${limits.approvalsMax} approvals`)
  }
  const approvals: Approval[] = []
  const seen = new Set<string>()
  for (let index = 0; index < raw.length; index++) {
    const item = raw[index] as unknown
    const at = `${field}[${index}]`
    if (!isRecord(item)) return reject(at, "an approval is {key, signature}")
    for (const name of Object.keys(item)) if (!approvalFields.has(name)) return reject(`${at}.${name}`, `${name} is not a field here`)
    const key = decodeValidatorId(item["key"], `${at}.key`)
    if (!key.ok) return key
    const signature = item["signature"]
    if (typeof signature !== "string" || signature.length !== 86 || base64urlDecode(signature) === undefined) {
      return reject(`${at}.signature`, "a signature is 86 base64url characters")
    }
    if (seen.has(key.value)) return reject(`${at}.key`, "a key approves once")
    seen.add(key.value)
    approvals.push({ key: key.value, signature })
  }
  return accept(approvals)
}

/** Approvals in the order a transaction carries them: by key. */
export const sortedApprovals = (approvals: readonly Approval[]): readonly Approval[] =>
  [...approvals].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

/** The key under which an approved command's request id is kept for all time. */
export const approvedKey = (command: Command): string | undefined => command.request

/**
 * Whether `approvals` give the command the authority it needs on this state: undefined when they
 * do, else the failure. Every approval must be a valid signature of a key of the set that approves
 * (`forbidden` otherwise: an approval that proves nothing is refused, not ignored); then there must
 * be enough of them (`approvals_missing`, whose message says how many of whom). Approvals given to a
 * command that needs none are refused too: the transaction would carry signatures nobody checked.
 */
export const authorize = (state: LedgerState, command: Command, approvals: readonly Approval[] | undefined): Failure | undefined => {
  if (command.kind !== "cards" && genesisCardsPending(state)) {
    return fail("forbidden", `block 0 commits to ${state.genesisCards.count} cards: their cards transactions come first`)
  }
  const authority = authorityOf(state, command)
  if (authority.by === "none") {
    return approvals === undefined ? undefined : fail("bad_request", `a ${command.kind} command ${command.kind === "reader" || command.kind === "void" ? "of this form " : ""}needs no approval`, "approvals")
  }
  const request = approvedKey(command)
  if (request === undefined) return fail("bad_request", "a command that needs approvals carries a request id", "request")
  if (state.approved.has(request)) return fail("conflict", `request ${request} was approved and used already`, "request")
  const given = approvals ?? []
  const allowed = new Set<string>(authority.keys)
  if (authority.by === "validators" && authority.newcomer !== undefined) allowed.add(authority.newcomer)
  const message = given.length === 0 ? undefined : new TextEncoder().encode(approvalText(state.genesisHash, command))
  for (let index = 0; index < given.length; index++) {
    const approval = given[index] as Approval
    if (!allowed.has(approval.key)) return fail("forbidden", `${approval.key} is not one of the ${authority.by} that approve this command`, `approvals[${index}].key`)
    if (state.genesisHash === "" || !verify(approval.key, message as Uint8Array, approval.signature)) {
      return fail("forbidden", `the approval of ${approval.key} is not its signature of this command in this federation`, `approvals[${index}].signature`)
    }
  }
  return missing(authority, given)
}

/** What the approvals given lack, as a failure; undefined when nothing. */
const missing = (authority: Exclude<Authority, { by: "none" }>, given: readonly Approval[]): Failure | undefined => {
  const keys = new Set(authority.keys)
  // Distinct keys: decodeApprovals refuses a key twice, and this holds without it.
  const members = new Set(given.filter((approval) => keys.has(approval.key)).map((approval) => approval.key)).size
  const newcomerLacks = authority.by === "validators" && authority.newcomer !== undefined && !given.some((approval) => approval.key === authority.newcomer)
  if (authority.keys.length === 0) return fail("approvals_missing", "the federation has no stewards to approve this command", "approvals")
  if (members >= authority.count && !newcomerLacks) return undefined
  const lacks = Math.max(0, authority.count - members)
  const parts = lacks > 0 ? [`${lacks} more of the ${authority.by} (${authority.count} of ${authority.keys.length})`] : []
  if (newcomerLacks) parts.push(`the newcomer ${authority.newcomer as string}`)
  return fail("approvals_missing", `this command needs the approval of ${parts.join(" and ")}`, "approvals")
}
