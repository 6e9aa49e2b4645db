/**
 * Blocks and Proof of Authority (PROTOCOL.md section 5), as pure functions shared by the node that
 * proposes, the validators that re-execute and sign, and the peers that verify.
 *
 * A replica (`Chain`) is the ledger state after its last block, that block's header and hash, and
 * the validator set in force for the next height. `checkBlock` tells whether a block may follow it,
 * and why not, without changing anything (its re-execution is undone); `followBlock` then applies
 * it. A final block received from the feed is checked and followed in one re-execution
 * (`receivedBlockFault`, then `followReceivedBlock`): a peer or a validator catching up has nothing
 * to vote on, so a separate check would only double the work. Faults carry a stable code first, so
 * that a reason can be matched by programs and read by people.
 */
import { canonicalBytes, canonicalJson } from "./canonical.js"
import { decodeCommand } from "./command.js"
import { decodeApprovals, type Approval } from "./authority.js"
import { needsPaymentChecker } from "./validators.js"
import { decideAndApply } from "./execute.js"
import type { Outcome } from "./outcome.js"
import { Undo } from "./registry.js"
import { sign, verify, type SigningKey } from "./ed25519.js"
import { decodeGenesis, genesisTxId, ledgerFromGenesis, type Genesis } from "./genesis.js"
import { blockHash, bytesToHex, hashFromHex, MerkleAccumulator, merkleRoot } from "./hash.js"
import * as limits from "./limits.js"
import {
  decodeCount,
  decodeFederationId,
  decodeTime,
  decodeValidatorId,
  isRecord,
  type FederationId,
  type TimeMs,
  type TxId,
  type ValidatorId,
} from "./names.js"
import type { LedgerState, Transaction, Validators } from "./state.js"
import { decodeTransaction, transactionJson, txIdPattern } from "./transaction.js"

export const zeroHash = "0".repeat(64)

export interface BlockHeader {
  readonly federation: FederationId
  readonly height: number
  readonly prev: string
  readonly time: TimeMs
  readonly txRoot: string
  readonly txCount: number
  readonly proposer: ValidatorId
}

export interface BlockSignature {
  readonly validator: ValidatorId
  readonly signature: string
}

export interface Block {
  readonly header: BlockHeader
  readonly txs: readonly Transaction[]
  readonly signatures: readonly BlockSignature[]
}

/**
 * Why a block cannot follow. A block is told its first fault: header faults first, in this order;
 * then a proposal's transactions are re-executed before their root is compared with the header's
 * (each one's bytes are the engine's, so the root is computed once, over the engine's texts), and
 * its signatures come last; a final block from the feed has its signatures checked right after its
 * header, since they cost far less than re-executing it.
 */
export const blockFaultCodes = [
  "malformed", // not a block: a field missing, of the wrong form, or unknown
  "federation", // another federation's block
  "height", // not the next height
  "prev", // does not link to the block before
  "time", // earlier than the block before
  "txCount", // the header counts another number of transactions
  "txRoot", // the transactions do not hash to the header's root
  "genesis", // block 0 is not a genesis block
  "reexecution", // a transaction cannot apply to the ledger (an overdraft, a bad validators memo...)
  "signature", // a signature that does not verify, or of a key outside the set in force
  "threshold", // fewer valid signatures than the threshold in force
  "fork", // two different final blocks at one height
  "payment", // a payment checker found a refill's payment not made as its transaction says
] as const
export type BlockFaultCode = (typeof blockFaultCodes)[number]

export interface BlockFault {
  readonly code: BlockFaultCode
  readonly message: string
}

const fault = (code: BlockFaultCode, message: string): BlockFault => ({ code, message })

/** A fault as one line of text: the code, a colon, what was found. */
export const faultText = (f: BlockFault): string => `${f.code}: ${f.message}`

const headerFields = ["federation", "height", "prev", "time", "txRoot", "txCount", "proposer"]
const hexHash = (value: unknown): value is string => typeof value === "string" && hashFromHex(value) !== undefined

export const decodeHeader = (raw: unknown): BlockHeader | BlockFault => {
  if (!isRecord(raw)) return fault("malformed", "header must be an object")
  for (const name of Object.keys(raw)) if (!headerFields.includes(name)) return fault("malformed", `header.${name} is not a header field`)
  const federation = decodeFederationId(raw["federation"], "header.federation")
  const height = decodeCount(raw["height"], "header.height", 0, Number.MAX_SAFE_INTEGER)
  const time = decodeTime(raw["time"], "header.time")
  const txCount = decodeCount(raw["txCount"], "header.txCount", 0, Number.MAX_SAFE_INTEGER)
  const proposer = decodeValidatorId(raw["proposer"], "header.proposer")
  for (const decoded of [federation, height, time, txCount, proposer]) {
    if (!decoded.ok) return fault("malformed", decoded.message)
  }
  if (!hexHash(raw["prev"])) return fault("malformed", "header.prev must be 64 lowercase hex digits")
  if (!hexHash(raw["txRoot"])) return fault("malformed", "header.txRoot must be 64 lowercase hex digits")
  return {
    federation: raw["federation"] as FederationId,
    height: raw["height"] as number,
    prev: raw["prev"],
    time: raw["time"] as TimeMs,
    txRoot: raw["txRoot"],
    txCount: raw["txCount"] as number,
    proposer: raw["proposer"] as ValidatorId,
  }
}

const isFault = (value: object): value is BlockFault => "code" in value && "message" in value && !("header" in value)

/**
 * A block received from the network. `txs` stay as received (their canonical bytes are what the
 * root covers); each is decoded too. Signatures are optional (a proposal has none).
 */
export const decodeBlock = (raw: unknown): { readonly block: Block; readonly rawTxs: readonly unknown[] } | BlockFault => {
  if (!isRecord(raw)) return fault("malformed", "a block must be an object")
  for (const name of Object.keys(raw)) {
    if (name !== "header" && name !== "txs" && name !== "signatures") return fault("malformed", `${name} is not a block field`)
  }
  const header = decodeHeader(raw["header"])
  if (isFault(header)) return header
  const rawTxs = raw["txs"]
  if (!Array.isArray(rawTxs)) return fault("malformed", "txs must be a list")
  const txs: Transaction[] = []
  for (let index = 0; index < rawTxs.length; index++) {
    const tx = decodeTransaction(rawTxs[index], `txs[${index}]`)
    if (!tx.ok) return fault("malformed", tx.message)
    txs.push(tx.value)
  }
  const signatures = decodeSignatures(raw["signatures"] ?? [])
  if (isFault(signatures as object)) return signatures as BlockFault
  return { block: { header, txs, signatures: signatures as BlockSignature[] }, rawTxs }
}

const decodeSignatures = (raw: unknown): BlockSignature[] | BlockFault => {
  if (!Array.isArray(raw) || raw.length > limits.validatorsMax * 2) return fault("malformed", "signatures must be a short list")
  const signatures: BlockSignature[] = []
  for (const entry of raw as unknown[]) {
    if (!isRecord(entry) || typeof entry["signature"] !== "string" || Object.keys(entry).length !== 2) {
      return fault("malformed", "a signature is {validator, signature}")
    }
    const validator = decodeValidatorId(entry["validator"], "signatures.validator")
    if (!validator.ok) return fault("malformed", validator.message)
    signatures.push({ validator: validator.value, signature: entry["signature"] })
  }
  return signatures
}

/** The hash of a header this code built or decoded (it always has a canonical form). */
export const headerHash = (header: BlockHeader): string => {
  const hash = blockHash(header)
  if (!hash.ok) throw new Error(`a decoded header has no canonical form: ${hash.reason}`)
  return hash.value
}

/** The Merkle root over transactions' canonical texts (the node stores them in that form). */
export const txRootOfTexts = (texts: readonly string[]): string => {
  const tree = new MerkleAccumulator()
  for (const text of texts) tree.addText(text)
  return tree.root()
}

/** The Merkle root of transactions as received; undefined when one has no canonical form. */
export const txRootOfValues = (txs: readonly unknown[]): string | undefined => {
  const leaves: Uint8Array[] = []
  for (const tx of txs) {
    const bytes = canonicalBytes(tx)
    if (!bytes.ok) return undefined
    leaves.push(bytes.value)
  }
  return bytesToHex(merkleRoot(leaves))
}

export const signBlock = (key: SigningKey, validator: ValidatorId, hash: string): BlockSignature => {
  const message = hashFromHex(hash)
  if (message === undefined) throw new Error(`signBlock: ${hash} is not a block hash`)
  return { validator, signature: sign(key, message) }
}

export const signatureValid = (hash: string, signature: BlockSignature): boolean => {
  const message = hashFromHex(hash)
  return message !== undefined && verify(signature.validator, message, signature.signature)
}

/**
 * Checks a final block's signatures against the set in force: every signature must verify and be
 * a member's (a block carrying anything else was assembled by someone who should not have), and
 * there must be at least `threshold` distinct members.
 */
export const checkSignatures = (hash: string, signatures: readonly BlockSignature[], set: Validators, needsChecker = false): BlockFault | undefined => {
  const signers = new Set<string>()
  for (const signature of signatures) {
    if (!set.keys.includes(signature.validator)) {
      return fault("signature", `${signature.validator} signed but is not in the validator set in force`)
    }
    if (!signatureValid(hash, signature)) return fault("signature", `the signature of ${signature.validator} does not verify`)
    signers.add(signature.validator)
  }
  if (signers.size < set.threshold) {
    return fault("threshold", `${signers.size} distinct validator signatures, ${set.threshold} needed`)
  }
  if (needsChecker && !(set.paymentCheckers ?? []).some((key) => signers.has(key))) {
    return fault("threshold", "a block holding a refill is final only with the signature of a payment checker")
  }
  return undefined
}

/** A replica of the ledger, up to and including its last block. */
export interface Chain {
  readonly state: LedgerState
  /** The last block's header and hash. */
  last: { readonly header: BlockHeader; readonly hash: string }
  /** The set whose signatures make the next block final. */
  setInForce: Validators
  /** The time of the last transaction: the next one's is never earlier (section 9.1). */
  lastTxTimeMs: number
}

/** The genesis block a node seals from its genesis document. */
export const genesisHeader = (genesis: Genesis, genesisTx: Transaction, proposer: ValidatorId): BlockHeader => {
  const bytes = canonicalBytes(genesisTx)
  if (!bytes.ok) throw new Error(`the genesis transaction has no canonical form: ${bytes.reason}`)
  return {
    federation: genesis.federation.id,
    height: 0,
    prev: zeroHash,
    time: genesisTx.time,
    txRoot: bytesToHex(merkleRoot([bytes.value])),
    txCount: 1,
    proposer,
  }
}

/**
 * A replica started from block 0: its transaction must be the genesis transaction carrying a valid
 * genesis document; the set it names judges block 0 itself and the blocks after it. With
 * `pinnedHash` (a federation's block 0 hash, learnt out of band), block 0 must be that one.
 */
export const chainFromGenesisBlock = (block: Block, rawTxs: readonly unknown[], pinnedHash?: string): Chain | BlockFault => {
  const { header, txs } = block
  if (pinnedHash !== undefined && headerHash(header) !== pinnedHash) {
    return fault("genesis", `block 0 hashes to ${headerHash(header)}, not the pinned ${pinnedHash}`)
  }
  if (header.height !== 0) return fault("height", `the first block of a replica is 0, not ${header.height}`)
  if (header.prev !== zeroHash) return fault("prev", "block 0 links to 64 zeros")
  const tx = txs[0]
  if (txs.length !== 1 || tx === undefined || tx.kind !== "validators" || tx.id !== genesisTxId || tx.legs.length > 0) {
    return fault("genesis", "block 0 holds exactly the genesis transaction")
  }
  if (header.txCount !== 1) return fault("txCount", `header counts ${header.txCount} transactions, the block has 1`)
  const root = txRootOfValues(rawTxs)
  if (root !== header.txRoot) return fault("txRoot", `header says ${header.txRoot}, the transactions hash to ${root ?? "nothing"}`)
  const genesis = decodeGenesis(tx.memo)
  if (!genesis.ok) return fault("genesis", `the genesis document is invalid: ${genesis.field}: ${genesis.message}`)
  if (genesis.value.federation.id !== header.federation) {
    return fault("federation", `block 0 is of ${header.federation}, its document of ${genesis.value.federation.id}`)
  }
  const state = ledgerFromGenesis(genesis.value)
  const hash = headerHash(header)
  state.genesisHash = hash
  return { state, last: { header, hash }, setInForce: genesis.value.validators, lastTxTimeMs: tx.time }
}

/** What re-executing a block made: its transactions as the engine built them, and their canonical texts. */
export interface Executed {
  readonly txs: readonly Transaction[]
  readonly texts: readonly string[]
}

/** The checks of a block's header against the replica's last block, and of its count of transactions. */
const headerFault = (chain: Chain, header: BlockHeader, txCount: number): BlockFault | undefined => {
  const last = chain.last.header
  if (header.federation !== last.federation) return fault("federation", `block of ${header.federation}, replica of ${last.federation}`)
  if (header.height !== last.height + 1) return fault("height", `expected height ${last.height + 1}, got ${header.height}`)
  if (header.prev !== chain.last.hash) return fault("prev", `prev is ${header.prev}, block ${last.height} hashes to ${chain.last.hash}`)
  if (header.time < last.time) return fault("time", `time ${header.time} is before block ${last.height}'s ${last.time}`)
  if (header.txCount !== txCount) return fault("txCount", `header counts ${header.txCount} transactions, the block has ${txCount}`)
  return undefined
}

/** What re-execution reads from a received transaction: its id, its time, its command and its approvals. */
interface Order {
  readonly id: TxId
  readonly time: TimeMs
  readonly command: unknown
  readonly approvals: unknown
}

/**
 * The id, time and command of a received transaction, their form checked. The rest of it is not
 * decoded: it must be, byte for byte, what the command makes.
 */
const orderOf = (raw: unknown, index: number): Order | BlockFault => {
  if (!isRecord(raw)) return fault("malformed", `txs[${index}]: a transaction must be an object`)
  const id = raw["id"]
  if (typeof id !== "string" || !txIdPattern.test(id)) return fault("malformed", `txs[${index}].id must be 1 to 64 characters [A-Za-z0-9_-]`)
  const time = decodeTime(raw["time"], `txs[${index}].time`)
  if (!time.ok) return fault("malformed", time.message)
  return { id: id as TxId, time: time.value, command: raw["command"], approvals: raw["approvals"] }
}

/**
 * Re-executes a block on the replica's state (PROTOCOL.md section 9.1): every transaction's command
 * runs through the engine against the state just before it, at its time and id, and must give that
 * very transaction, byte for byte. The state is changed; `undo` keeps what undoes it, for the
 * caller to roll back on a fault or after a mere check.
 *
 * `receivedText`, when given, is the text the transactions arrived in, comma-separated: each of the
 * engine's texts is then looked for in the received bytes where it should stand, which spares
 * serializing what was received. Only the whole received text, equal to the engine's texts joined,
 * says that every transaction received is the engine's (the frame then parses to exactly those);
 * where it first differs, the transactions received so far, and from then on, are compared one by
 * one as without it, so that the outcome is the same either way.
 */
const executeBlock = (chain: Chain, header: BlockHeader, rawTxs: readonly unknown[], undo: Undo, receivedText?: string): BlockFault | Executed => {
  const headerFaulted = headerFault(chain, header, rawTxs.length)
  if (headerFaulted !== undefined) return headerFaulted
  const produced: Transaction[] = []
  const texts: string[] = []
  const ids = new Set<string>()
  let lastTimeMs = chain.lastTxTimeMs
  // Where the next transaction's text stands in `receivedText`, or -1 once it does not agree.
  let offset = receivedText === undefined ? -1 : 0
  for (let index = 0; index < rawTxs.length; index++) {
    const raw = rawTxs[index]
    const order = orderOf(raw, index)
    if ("code" in order) return order
    const { id, time } = order
    if (id === genesisTxId) return fault("reexecution", "a genesis transaction outside block 0")
    if (ids.has(id)) return fault("reexecution", `transaction ${id} appears twice`)
    ids.add(id)
    if (time < lastTimeMs) return fault("time", `transaction ${id}'s time ${time} is before the one before it (${lastTimeMs})`)
    if (time > header.time) return fault("time", `transaction ${id}'s time ${time} is after its block's ${header.time}`)
    lastTimeMs = time
    const made = reexecute(chain.state, order, undo)
    if ("code" in made) return made
    const text = transactionJson(made)
    produced.push(made)
    texts.push(text)
    if (offset >= 0 && receivedText !== undefined && standsAt(receivedText, offset, text, index === rawTxs.length - 1)) {
      offset += text.length + 1
      continue
    }
    // Only the whole received text, equal to the engine's, says that each transaction is the
    // engine's: those before this one are compared one by one too.
    const from = offset >= 0 ? 0 : index
    offset = -1
    for (let compared = from; compared <= index; compared++) {
      if (!sameText(rawTxs[compared], texts[compared] as string)) return notMade(produced[compared] as Transaction, texts[compared] as string)
    }
  }
  const root = txRootOfTexts(texts)
  if (root !== header.txRoot) return fault("txRoot", `header says ${header.txRoot}, the transactions hash to ${root}`)
  return { txs: produced, texts }
}

const notMade = (tx: Transaction, text: string): BlockFault =>
  fault("reexecution", `transaction ${tx.id} is not what its command makes: the engine makes ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`)

/** Whether `text` stands in `received` at `offset`, followed by the comma before the next one, or by nothing after the last. */
const standsAt = (received: string, offset: number, text: string, last: boolean): boolean => {
  const end = offset + text.length
  return received.startsWith(text, offset) && (last ? end === received.length : received.charCodeAt(end) === 0x2c)
}

/** The transaction a transaction's command makes on this state, applied to it; or why it makes none. */
const reexecute = (state: LedgerState, order: Order, undo: Undo): Transaction | BlockFault => {
  const { id, time } = order
  if (order.command === undefined) return fault("reexecution", `transaction ${id} carries no command`)
  const command = decodeCommand(order.command)
  if (!command.ok) return fault("reexecution", `transaction ${id}: its command is malformed at ${command.field}: ${command.message}`)
  if (command.value.kind === "check") return fault("reexecution", `transaction ${id}: a check makes no transaction`)
  let approvals: readonly Approval[] | undefined
  if (order.approvals !== undefined) {
    const decoded = decodeApprovals(order.approvals)
    if (!decoded.ok) return fault("reexecution", `transaction ${id}: its approvals are malformed at ${decoded.field}: ${decoded.message}`)
    approvals = decoded.value
  }
  let outcome: Outcome
  try {
    outcome = decideAndApply(state, command.value, { now: time, txId: id, approvals }, undo)
  } catch (error) {
    // The engine's assertion that what it built applies: a replica reports it, never crashes on it.
    return fault("reexecution", `transaction ${id}: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (!outcome.ok) return fault("reexecution", `transaction ${id}: the engine refuses its command: ${outcome.status} (${outcome.message})`)
  if (outcome.tx === null) return fault("reexecution", `transaction ${id}: its command makes no transaction`)
  return outcome.tx
}

/**
 * Whether a received transaction is the canonical text given. A node sends the canonical text it
 * stored, which JSON.parse then JSON.stringify give back unchanged (keys in the order received); a
 * transaction sent in another order of keys is canonicalized first.
 */
const sameText = (raw: unknown, text: string): boolean => {
  if (JSON.stringify(raw) === text) return true
  const canonical = canonicalJson(raw)
  return canonical.ok && canonical.value === text
}

/** The checks of a block against the replica, signatures aside. Changes nothing. */
export const checkBlock = (chain: Chain, block: Block, rawTxs: readonly unknown[]): BlockFault | undefined => {
  const undo = new Undo()
  const executed = executeBlock(chain, block.header, rawTxs, undo)
  undo.rollback()
  return "code" in executed ? executed : undefined
}

/**
 * Applies a block to the replica, re-executing it; on a fault nothing is changed. The set its
 * validators transactions name is in force from the next height.
 */
export const followBlock = (chain: Chain, block: Block, rawTxs: readonly unknown[]): BlockFault | Executed =>
  followExecuted(chain, block.header, rawTxs)

const followExecuted = (chain: Chain, header: BlockHeader, rawTxs: readonly unknown[], receivedText?: string): BlockFault | Executed => {
  const undo = new Undo()
  let executed = executeBlock(chain, header, rawTxs, undo, receivedText)
  if ("code" in executed && receivedText !== undefined) {
    // Refused: told again comparing each transaction as it is re-executed, so that the fault named is
    // the first one, whatever the received text held after it.
    undo.rollback()
    executed = executeBlock(chain, header, rawTxs, undo)
  }
  if ("code" in executed) {
    undo.rollback()
    return executed
  }
  chain.last = { header, hash: headerHash(header) }
  chain.lastTxTimeMs = executed.txs.at(-1)?.time ?? chain.lastTxTimeMs
  chain.setInForce = chain.state.validators
  return executed
}

/**
 * A final block as a follower receives it: its header and signatures decoded, its transactions as
 * received (re-execution reads their ids, times and commands, and compares the rest as bytes), the
 * received value itself (to tell why it is refused), and when the frame had the form the node sends,
 * the text of its transactions.
 */
export interface ReceivedBlock {
  readonly header: BlockHeader
  readonly signatures: readonly BlockSignature[]
  readonly rawTxs: readonly unknown[]
  readonly raw: unknown
  readonly txsText?: string | undefined
}

/**
 * A final block from the feed, decoded for one re-execution: its transactions are not decoded one
 * by one (`decodeBlock` does that), since whatever re-execution does not read it compares as text.
 * `frame`, the text of the feed's frame `{"type":"block","block":…}` the block was parsed from, gives
 * the transactions' text when the frame is in the form the node sends (JSON.stringify's, which keeps
 * the keys in the order received).
 */
export const decodeReceivedBlock = (raw: unknown, frame?: string): ReceivedBlock | BlockFault => {
  if (!isRecord(raw)) return fault("malformed", "a block must be an object")
  for (const name of Object.keys(raw)) {
    if (name !== "header" && name !== "txs" && name !== "signatures") return fault("malformed", `${name} is not a block field`)
  }
  const header = decodeHeader(raw["header"])
  if (isFault(header)) return header
  const rawTxs = raw["txs"]
  if (!Array.isArray(rawTxs)) return fault("malformed", "txs must be a list")
  const signatures = decodeSignatures(raw["signatures"] ?? [])
  if (isFault(signatures as object)) return signatures as BlockFault
  return { header, signatures: signatures as BlockSignature[], rawTxs, raw, txsText: frame === undefined ? undefined : txsTextOf(raw, frame) }
}

/** The text between the brackets of the block's `txs` in a frame of exactly the node's form; else undefined. */
const txsTextOf = (block: Record<string, unknown>, frame: string): string | undefined => {
  const keys = Object.keys(block)
  if (keys[0] !== "header" || keys[1] !== "txs" || keys.length > 3) return undefined
  const head = `{"type":"block","block":{"header":${JSON.stringify(block["header"])},"txs":[`
  const tail = block["signatures"] === undefined ? "]}}" : `],"signatures":${JSON.stringify(block["signatures"])}}}`
  if (frame.length < head.length + tail.length || !frame.startsWith(head) || !frame.endsWith(tail)) return undefined
  return frame.slice(head.length, frame.length - tail.length)
}

/** The kinds of received transactions, as they say (re-execution checks them). */
const kindsOf = (rawTxs: readonly unknown[]): string[] => rawTxs.map((raw) => (isRecord(raw) && typeof raw["kind"] === "string" ? raw["kind"] : ""))

/**
 * Why a final block received cannot follow, found before anything is re-executed: its header
 * against the replica's last block, and its signatures against the set in force (they cover the
 * header only, and cost far less than re-execution).
 */
export const receivedBlockFault = (chain: Chain, received: ReceivedBlock): BlockFault | undefined =>
  headerFault(chain, received.header, received.rawTxs.length) ??
  checkSignatures(headerHash(received.header), received.signatures, chain.setInForce, needsPaymentChecker(chain.setInForce, kindsOf(received.rawTxs)))

/**
 * Follows a final block in one re-execution, which checks it as `checkBlock` does (after
 * `receivedBlockFault`): on a fault the replica is left as it was.
 */
export const followReceivedBlock = (chain: Chain, received: ReceivedBlock): BlockFault | Executed =>
  followExecuted(chain, received.header, received.rawTxs, received.txsText)

/**
 * The fault to report for a received block: a block that `decodeBlock` refuses is malformed before
 * anything else is wrong with it, as when every transaction is decoded first.
 */
export const receivedFault = (received: ReceivedBlock, found: BlockFault): BlockFault => {
  const decoded = decodeBlock(received.raw)
  return "code" in decoded ? decoded : found
}

/** The block as JSON text, its transactions given as their canonical texts (what the node stores). */
export const blockJson = (header: BlockHeader, txTexts: readonly string[], signatures: readonly BlockSignature[] | undefined): string => {
  const head = `{"header":${JSON.stringify(header)},"txs":[${txTexts.join(",")}]`
  return signatures === undefined ? `${head}}` : `${head},"signatures":${JSON.stringify(signatures)}}`
}

