/**
 * The two sides of the database boundary: a commit batch checked and turned into one JSON document
 * per table (which `json_to_recordset` expands into rows in a single statement), and rows read back
 * decoded into the port's values (with Schema, except the bulk of a snapshot, checked by hand for
 * speed). Both sides assert that every number is a safe integer: a value that is not is a bug or a
 * corrupted row, never an operating error, so it stops the caller (a defect) instead of being
 * stored or believed.
 */
import { Either, ParseResult, Schema } from "effect"
import type { JsonValue } from "../engine/state.js"
import {
  ledgerFormat,
  type ApprovedRequest,
  registryMetaKeys,
  requestWindowMs,
  type Backing,
  type CommitBatch,
  type FoundReply,
  type RegistryDocument,
  type RegistryMeta,
  type Snapshot,
  type StoredBlock,
  type StoredBlockWithTxs,
  type StoredCard,
  type StoredPayment,
  type StoredReader,
  type StoredReply,
  type StoredTx,
  type StoredWallet,
} from "./ledger.js"

/** Thrown, hence a defect inside Effect.sync: the caller handed over a value that cannot be stored. */
export const assertSafeInteger = (value: number, what: string): number => {
  if (!Number.isSafeInteger(value)) throw new Error(`${what} must be a safe integer, got ${value}`)
  return value
}

const assertSafeIntegers = (record: Readonly<Record<string, number>>, what: string): void => {
  for (const [key, value] of Object.entries(record)) assertSafeInteger(value, `${what}.${key}`)
}

const assertUnique = (keys: readonly string[], what: string): void => {
  if (new Set(keys).size !== keys.length) throw new Error(`a commit batch lists a ${what} twice`)
}

/**
 * The rows of one table as one JSON text, or undefined when there are none. JSON.stringify is native
 * and the server parses the document once: measured twice as fast as handing postgres.js one array
 * per column for `unnest`, because postgres.js escapes every element of a text array in JavaScript.
 * The rows' property names are the column names given to `json_to_recordset`; an absent property
 * reads as null.
 */
export const rowsDocument = (rows: readonly object[]): string | undefined =>
  rows.length === 0 ? undefined : JSON.stringify(rows)

/** Everything a commit writes, checked and serialized before the database is touched. */
export interface BatchRows {
  /** The seqs of the batch's transactions, which must continue the ledger without a gap. */
  readonly seqs: readonly number[]
  readonly txs: string | undefined
  readonly replies: string | undefined
  readonly wallets: string | undefined
  readonly cards: string | undefined
  /** Place and asset documents, each a JSON list of the documents themselves. */
  readonly places: string | undefined
  readonly assets: string | undefined
  readonly readers: string | undefined
  /** The registry's meta rows (`key`, `value`). */
  readonly meta: string | undefined
  /** Approved commands' request ids (`request`, `seq`). */
  readonly approved: string | undefined
  readonly backing: string | undefined
  /** Payments (`ref`, `wallet`, `paid`, `refunded`, `pendingTx`, `pendingAmount`). */
  readonly payments: string | undefined
  readonly blocks: string | undefined
  readonly validators: string | undefined
  /** The batch's requests (`reader`, `request`, `time`), committed and failed alike, for the window check. */
  readonly requests: string | undefined
  readonly runningMs: number | undefined
  /** The window the requests are checked against (requestWindowMs; a parameter for the statement). */
  readonly windowMs: number
}

const checkTxs = (txs: readonly StoredTx[]): number[] =>
  txs.map((tx) => {
    assertSafeInteger(tx.time, `tx ${tx.id} time`)
    return assertSafeInteger(tx.seq, `tx ${tx.id} seq`)
  })

const checkWallets = (wallets: readonly StoredWallet[]): void => {
  for (const wallet of wallets) {
    assertSafeIntegers(wallet.balances, `wallet ${wallet.id} balances`)
    assertSafeIntegers(wallet.memberships, `wallet ${wallet.id} memberships`)
    assertSafeIntegers(wallet.melted, `wallet ${wallet.id} melted`)
    assertSafeInteger(wallet.lastActivityMs, `wallet ${wallet.id} lastActivityMs`)
  }
  // Postgres refuses to upsert one row twice in a statement; say which bug it is before it does.
  assertUnique(wallets.map((wallet) => wallet.id), "wallet")
}

export const backingDocument = (backing: Backing): string =>
  JSON.stringify({
    received: assertSafeInteger(backing.received, "backing.received"),
    refunded: assertSafeInteger(backing.refunded, "backing.refunded"),
    paidOut: assertSafeInteger(backing.paidOut, "backing.paidOut"),
  })

/** What the window check needs of each request: a request made without a reader is reader "-". */
const batchRequests = (batch: CommitBatch): Array<{ reader: string; request: string; time: number }> => {
  const requests: Array<{ reader: string; request: string; time: number }> = []
  for (const tx of batch.txs) {
    if (tx.request !== undefined) requests.push({ reader: tx.reader ?? "-", request: tx.request, time: tx.time })
  }
  for (const reply of batch.replies) requests.push({ reader: reply.reader, request: reply.request, time: reply.time })
  return requests
}

const checkDocuments = (documents: readonly RegistryDocument[], what: string): readonly RegistryDocument[] => {
  for (const document of documents) {
    if (!isObject(document) || typeof document.id !== "string") throw new Error(`a commit batch holds a ${what} that is not a document with an id`)
  }
  assertUnique(documents.map((document) => document.id), what)
  return documents
}

const registryMetaKeySet: ReadonlySet<string> = new Set(registryMetaKeys)

const checkMeta = (rows: readonly RegistryMeta[]): readonly RegistryMeta[] => {
  // Anything else in meta (the genesis, the format, the counters) is never a registry change.
  for (const row of rows) {
    if (!registryMetaKeySet.has(row.key)) throw new Error(`a commit batch writes meta ${row.key}, not a registry key`)
    if (row.value === null) throw new Error(`a commit batch writes meta ${row.key} as null`)
  }
  assertUnique(rows.map((row) => row.key), "meta key")
  return rows
}

export const batchRows = (batch: CommitBatch): BatchRows => {
  const seqs = checkTxs(batch.txs)
  for (const reply of batch.replies) assertSafeInteger(reply.time, `reply ${reply.reader}/${reply.request} time`)
  checkWallets(batch.wallets)
  assertUnique(batch.cards.map((card) => card.id), "card")
  assertUnique((batch.readers ?? []).map((reader) => reader.id), "reader")
  if (batch.runningMs !== undefined && !(Number.isSafeInteger(batch.runningMs) && batch.runningMs >= 0)) {
    throw new Error(`runningMs must be a safe integer of at least 0, got ${batch.runningMs}`)
  }
  return {
    seqs,
    txs: rowsDocument(batch.txs),
    replies: rowsDocument(batch.replies),
    wallets: rowsDocument(batch.wallets),
    cards: rowsDocument(batch.cards),
    places: rowsDocument(checkDocuments(batch.places ?? [], "place")),
    assets: rowsDocument(checkDocuments(batch.assets ?? [], "asset")),
    readers: rowsDocument(batch.readers ?? []),
    meta: rowsDocument(checkMeta(batch.meta ?? [])),
    approved: rowsDocument(checkApproved(batch.approved ?? [])),
    backing: batch.backing === undefined ? undefined : backingDocument(batch.backing),
    payments: rowsDocument(checkPayments(batch.payments ?? [])),
    blocks: rowsDocument(checkBlocks(batch.blocks ?? [])),
    validators: batch.validators,
    requests: rowsDocument(batchRequests(batch)),
    runningMs: batch.runningMs,
    windowMs: requestWindowMs,
  }
}

const checkPayments = (payments: readonly StoredPayment[]) => {
  assertUnique(payments.map((payment) => payment.ref), "payment")
  return payments.map((payment) => ({
    ref: payment.ref,
    wallet: payment.wallet,
    paid: assertSafeInteger(payment.paid, `payment ${payment.ref} paid`),
    refunded: assertSafeInteger(payment.refunded, `payment ${payment.ref} refunded`),
    pendingTx: payment.pending?.tx ?? null,
    pendingAmount: payment.pending === null ? null : assertSafeInteger(payment.pending.amount, `payment ${payment.ref} pending amount`),
  }))
}

const checkApproved = (rows: readonly ApprovedRequest[]): readonly ApprovedRequest[] => {
  for (const row of rows) assertSafeInteger(row.seq, `approved request ${row.request} seq`)
  assertUnique(rows.map((row) => row.request), "approved request")
  return rows
}

const checkBlocks = (blocks: readonly StoredBlock[]): readonly StoredBlock[] => {
  for (const block of blocks) {
    assertSafeInteger(block.height, "block height")
    assertSafeInteger(block.firstSeq, `block ${block.height} firstSeq`)
    assertSafeInteger(block.txCount, `block ${block.height} txCount`)
  }
  assertUnique(blocks.map((block) => String(block.height)), "block")
  return blocks
}

// Reading back.

const SafeInteger = Schema.Number.pipe(
  Schema.filter((n) => Number.isSafeInteger(n), { message: () => "a safe integer" }),
)
/** A bigint column: postgres.js hands int8 over as text so that no digit is lost on the way. */
const SafeIntegerText = Schema.compose(Schema.NumberFromString, SafeInteger)
const OptionalText = Schema.NullOr(Schema.String)
const present = (value: string | null): string | undefined => (value === null ? undefined : value)

const TxRow = Schema.Struct({
  seq: SafeIntegerText,
  id: Schema.String,
  time: SafeIntegerText,
  body: Schema.String,
  reader: OptionalText,
  request: OptionalText,
  fingerprint: OptionalText,
  reply: OptionalText,
  ref: OptionalText,
})

/** Thrown, hence a defect: a row that does not decode was not written by this code. */
const decodeAll = <A, I>(schema: Schema.Schema<A, I>, what: string, rows: unknown): readonly A[] => {
  const decoded = Schema.decodeUnknownEither(Schema.Array(schema))(rows, { onExcessProperty: "ignore" })
  if (Either.isLeft(decoded)) {
    throw new Error(`${what} read back does not decode: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
  }
  return decoded.right
}

export const decodeTxs = (rows: unknown): StoredTx[] =>
  decodeAll(TxRow, "tx", rows).map((row) => ({
    seq: row.seq,
    id: row.id,
    time: row.time,
    body: row.body,
    reader: present(row.reader),
    request: present(row.request),
    fingerprint: present(row.fingerprint),
    reply: present(row.reply),
    ref: present(row.ref),
  }))

const BlockRow = Schema.Struct({
  height: SafeIntegerText,
  hash: Schema.String,
  header: Schema.String,
  first_seq: SafeIntegerText,
  tx_count: SafeInteger,
  validators_next: Schema.String,
  signatures: OptionalText,
})

const storedBlock = (row: typeof BlockRow.Type): StoredBlock => ({
  height: row.height,
  hash: row.hash,
  header: row.header,
  firstSeq: row.first_seq,
  txCount: row.tx_count,
  validatorsNext: row.validators_next,
  signatures: present(row.signatures),
})

export const decodeBlocks = (rows: unknown): StoredBlockWithTxs[] =>
  decodeAll(Schema.extend(BlockRow, Schema.Struct({ txs: Schema.String })), "block", rows).map((row) => ({
    ...storedBlock(row),
    txs: row.txs,
  }))

export const decodeBlockTip = (rows: unknown): { readonly sealed: StoredBlock | undefined; readonly finalHeight: number } => {
  const [row] = decodeAll(Schema.extend(BlockRow, Schema.Struct({ final_height: SafeIntegerText })), "block tip", rows)
  return row === undefined ? { sealed: undefined, finalHeight: -1 } : { sealed: storedBlock(row), finalHeight: row.final_height }
}

export const decodeFlag = (rows: unknown): boolean =>
  decodeAll(Schema.Struct({ value: Schema.Boolean }), "a flag", rows)[0]?.value === true

const FormatRow = Schema.Struct({ ledger: Schema.Boolean, format: Schema.NullOr(SafeInteger) })

/**
 * The format of the ledger in this database: undefined when it holds none (no tables, or no
 * genesis), 1 for a ledger without a `format` row (written before formats were recorded).
 */
export const decodeFormat = (rows: unknown): number | undefined => {
  const [row] = decodeAll(FormatRow, "the ledger format", rows)
  if (row === undefined || !row.ledger) return undefined
  return row.format ?? 1
}

/** Why this code does not open a ledger of `format`, or undefined when it does. */
export const formatRefusal = (format: number): string | undefined =>
  format === ledgerFormat
    ? undefined
    : `this database holds a ledger of format ${format}, written by ${format < ledgerFormat ? "an earlier" : "a later"} version ` +
      `of Gesell; this version reads and writes format ${ledgerFormat} only (PROTOCOL.md section 9) and does not migrate: ` +
      "start on an empty data dir or database"

const FoundReplyRow = Schema.Struct({
  fingerprint: Schema.String,
  reply: Schema.String,
  time: SafeIntegerText,
  running_age_ms: Schema.NullOr(SafeIntegerText),
})

export const decodeFoundReply = (rows: unknown): FoundReply | undefined => {
  const [row] = decodeAll(FoundReplyRow, "a reply", rows)
  if (row === undefined) return undefined
  const found = { fingerprint: row.fingerprint, reply: row.reply, time: row.time }
  return row.running_age_ms === null ? found : { ...found, runningAgeMs: row.running_age_ms }
}

// A snapshot comes back as (part, doc) rows, `doc` parsed from JSON by postgres.js; the numbers of
// the parts are those of `readSnapshot` in statements.ts.

const Doc = Schema.Unknown as Schema.Schema<JsonValue>

const Reader = Schema.Struct({
  id: Schema.String,
  place: Schema.String,
  role: Schema.Literal("bar", "cashdesk"),
  tokenSha256: Schema.String,
  revoked: Schema.Boolean,
})

// Wallets, cards and requests are checked by hand: Schema measured 20-40 times slower on them
// (about 1.5 s per million wallets against 50 ms), and load is on the writer's recovery path.

type Fields = Readonly<Record<string, unknown>>
const isFields = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value)
const isSafeIntegerRecord = (value: unknown): value is Record<string, number> =>
  isFields(value) && Object.values(value).every((amount) => Number.isSafeInteger(amount))
const isText = (value: unknown): value is string => typeof value === "string"

/** Thrown, hence a defect: a row that does not check was not written by this code. */
const corrupt = (what: string, value: unknown): never => {
  throw new Error(`${what} read back is not what was written: ${String(JSON.stringify(value)).slice(0, 300)}`)
}

const cardStatuses: ReadonlySet<unknown> = new Set<StoredCard["status"]>(["active", "blocked", "voided"])

const checkCard = (doc: unknown): StoredCard =>
  isFields(doc) && isText(doc["id"]) && (doc["number"] === null || isText(doc["number"])) &&
  cardStatuses.has(doc["status"]) && isText(doc["wallet"]) && (doc["staff"] === null || isFields(doc["staff"]))
    ? {
        id: doc["id"],
        number: present(doc["number"]),
        status: doc["status"] as StoredCard["status"],
        wallet: doc["wallet"],
        staff: doc["staff"] === null ? undefined : (doc["staff"] as JsonValue),
      }
    : corrupt("a card", doc)

const checkWallet = (doc: unknown): StoredWallet =>
  isFields(doc) && isText(doc["id"]) && isSafeIntegerRecord(doc["balances"]) && isSafeIntegerRecord(doc["memberships"]) &&
  isSafeIntegerRecord(doc["melted"]) && Number.isSafeInteger(doc["lastActivityMs"])
    ? {
        id: doc["id"],
        balances: doc["balances"],
        memberships: doc["memberships"],
        melted: doc["melted"],
        lastActivityMs: doc["lastActivityMs"] as number,
      }
    : corrupt("a wallet", doc)

const checkRequest = (doc: unknown): StoredReply =>
  isFields(doc) && isText(doc["reader"]) && isText(doc["request"]) && isText(doc["fingerprint"]) &&
  isText(doc["reply"]) && Number.isSafeInteger(doc["time"])
    ? { reader: doc["reader"], request: doc["request"], fingerprint: doc["fingerprint"], reply: doc["reply"], time: doc["time"] as number }
    : corrupt("a request", doc)

const checkRef = (doc: unknown): string => (isText(doc) ? doc : corrupt("a ref", doc))

const PaymentRow = Schema.Struct({
  ref: Schema.String,
  wallet: Schema.String,
  paid: SafeInteger,
  refunded: SafeInteger,
  pendingTx: Schema.NullOr(Schema.String),
  pendingAmount: Schema.NullOr(SafeInteger),
})
const storedPayment = ({ pendingTx, pendingAmount, ...payment }: typeof PaymentRow.Type): StoredPayment => ({
  ...payment,
  pending: pendingTx === null || pendingAmount === null ? null : { tx: pendingTx, amount: pendingAmount },
})

const checkOlderRequest = (doc: unknown): { key: string; time: number } =>
  isFields(doc) && isText(doc["key"]) && typeof doc["time"] === "number" && Number.isSafeInteger(doc["time"])
    ? { key: doc["key"], time: doc["time"] }
    : corrupt("an older request", doc)

const MetaRow = Schema.Struct({ key: Schema.Literal(...registryMetaKeys), value: Doc })

const BackingValue = Schema.Struct({ received: SafeInteger, refunded: SafeInteger, paidOut: SafeInteger })

const snapshotParts = [
  "genesis", "assets", "places", "readers", "cards", "wallets", "requests", "refs", "backing", "lastSeq", "olderRequests", "validators", "meta",
  "approved", "genesisHash", "cardKey", "payments",
] as const
type SnapshotPart = (typeof snapshotParts)[number]

/** The docs of each part, in the order the database returned them. */
const partsOf = (rows: unknown): Record<SnapshotPart, unknown[]> => {
  const parts = Object.fromEntries(snapshotParts.map((part) => [part, [] as unknown[]])) as Record<SnapshotPart, unknown[]>
  if (!Array.isArray(rows)) return corrupt("a snapshot", rows)
  for (const row of rows as unknown[]) {
    const part = isFields(row) && typeof row["part"] === "number" ? snapshotParts[row["part"]] : undefined
    if (part === undefined || !isFields(row)) return corrupt("a snapshot row", row)
    parts[part].push(row["doc"])
  }
  return parts
}

/** Asset, place and reader ids are ASCII names, so code-unit order is the database's order. */
const byId = <T>(items: readonly T[], id: (item: T) => string): T[] =>
  [...items].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0))
const docId = (doc: JsonValue): string => {
  const id = isObject(doc) ? doc["id"] : undefined
  return typeof id === "string" ? id : ""
}

/** The snapshot, or undefined when no ledger was initialized in this database. */
export const decodeSnapshot = (rows: unknown): Snapshot | undefined => {
  const parts = partsOf(rows)
  const [genesis] = decodeAll(Doc, "the genesis document", parts.genesis)
  if (genesis === undefined) return undefined
  const [backing] = decodeAll(BackingValue, "the backing counters", parts.backing)
  if (backing === undefined) throw new Error("a ledger without backing counters: initialize writes both")
  const [lastSeq] = decodeAll(SafeInteger, "the last seq", parts.lastSeq)
  if (lastSeq === undefined) throw new Error("a ledger without its genesis transaction: initialize writes both")
  return {
    genesis,
    assets: byId(decodeAll(Doc, "an asset", parts.assets), docId),
    places: byId(decodeAll(Doc, "a place", parts.places), docId),
    readers: byId(decodeAll(Reader, "a reader", parts.readers), (reader) => reader.id),
    cards: parts.cards.map(checkCard),
    wallets: parts.wallets.map(checkWallet),
    requests: parts.requests.map(checkRequest),
    refs: parts.refs.map(checkRef),
    payments: decodeAll(PaymentRow, "a payment", parts.payments).map(storedPayment),
    olderRequests: parts.olderRequests.map(checkOlderRequest),
    backing,
    validators: decodeAll(Doc, "the validator set", parts.validators)[0],
    meta: Object.fromEntries(decodeAll(MetaRow, "a registry meta row", parts.meta).map((row) => [row.key, row.value])),
    approved: parts.approved.map((doc) => (isText(doc) ? doc : corrupt("an approved request id", doc))),
    genesisHash: parts.genesisHash.map((doc) => (isText(doc) && /^[0-9a-f]{64}$/.test(doc) ? doc : corrupt("block 0's hash", doc)))[0],
    cardKey: parts.cardKey.flatMap((doc) => (doc === null ? [] : [isText(doc) && /^[0-9a-f]{64}$/.test(doc) ? doc : corrupt("the card key", null)]))[0],
    lastSeq,
  }
}

// The genesis document (PROTOCOL.md section 6), already decoded by the caller, as rows.

export interface GenesisRows {
  readonly assets: ReadonlyArray<{ readonly id: string; readonly doc: JsonValue }>
  readonly places: ReadonlyArray<{ readonly id: string; readonly doc: JsonValue }>
  readonly readers: readonly StoredReader[]
}

type JsonObject = { readonly [key: string]: JsonValue }
const isObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Thrown, hence a defect: the node decodes the genesis document before it initializes a ledger. */
const field = (object: JsonObject, name: string, what: string): string => {
  const value = object[name]
  if (typeof value !== "string") throw new Error(`genesis ${what} has no ${name} text`)
  return value
}

const objects = (genesis: JsonObject, name: string): JsonObject[] => {
  const list = genesis[name] ?? []
  if (!Array.isArray(list) || !list.every(isObject)) throw new Error(`genesis ${name} must be a list of objects`)
  return list as JsonObject[]
}

const role = (reader: JsonObject): StoredReader["role"] => {
  const value = field(reader, "role", "reader")
  if (value !== "bar" && value !== "cashdesk") throw new Error(`genesis reader role ${value} is neither bar nor cashdesk`)
  return value
}

export const genesisRows = (genesis: JsonValue): GenesisRows => {
  if (!isObject(genesis)) throw new Error("the genesis document must be an object")
  const documents = (name: string) =>
    objects(genesis, name).map((doc) => ({ id: field(doc, "id", name), doc }))
  return {
    assets: documents("assets"),
    places: documents("places"),
    readers: objects(genesis, "readers").map((reader) => ({
      id: field(reader, "id", "reader"),
      place: field(reader, "place", "reader"),
      role: role(reader),
      tokenSha256: field(reader, "tokenSha256", "reader"),
      revoked: false,
    })),
  }
}
