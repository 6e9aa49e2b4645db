/**
 * The ledger storage port: what the node needs from Postgres, whichever Postgres it is (a real server
 * through DATABASE_URL, or PGlite served in-process on a private Unix socket; both speak to the
 * same postgres.js code). Postgres is the source of truth: the node rebuilds its in-memory state
 * from `load`, and writes each group commit with `commit`, one database transaction per batch.
 */
import { Context, Data, type Effect } from "effect"
import { requestRetentionMs } from "../engine/limits.js"
import type { JsonValue } from "../engine/state.js"

/**
 * How long a (reader, request) pair stays one request: the contract's 24 hours and a minute for the
 * clocks of hub and node. It is measured twice, by the wall clock (the requests' times) and by the
 * node's running time (`CommitBatch.runningMs`), and a request is past it only when both say so: a
 * wall clock that jumps (a device without a real-time clock, a restored virtual machine) can then
 * neither make a retry charge again nor end the window early.
 */
export const requestWindowMs = requestRetentionMs + 60_000

/** The database could not do what was asked (down, timed out, constraint violated). */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly message: string
  /** The server's SQLSTATE when it refused the statement; absent when it could not be reached or did not answer. */
  readonly code?: string | undefined
  readonly cause?: unknown
  /**
   * Set when a commit was refused because the database holds these requests (`reader/request`)
   * within the window already: not a failure of storage, but a batch executed against a state that
   * did not know them. The writer answers them with their first reply.
   */
  readonly requestsStored?: readonly string[]
}> {}

/** The longest text `storageFailureText` gives. */
const failureTextCharsMax = 120

/**
 * What went wrong, short enough for a health answer and without anything read from the ledger: a
 * server's message quotes values (a key, an input, a file) after its first quote or colon, so only
 * what comes before is kept ("could not extend file", not the file and the device). A failure
 * without a SQLSTATE is a server that could not be reached or did not answer.
 */
export const storageFailureText = (error: StorageError): string => {
  if (error.code === undefined) return "storage unreachable"
  const headline = (error.message.startsWith(`${error.code} `) ? error.message.slice(error.code.length + 1) : error.message)
    .split(/["':]/)[0]
    ?.replace(/[^\x20-\x7e]/g, "")
    .trim()
    .slice(0, failureTextCharsMax)
  return `storage: ${error.operation} failed: ${headline === undefined || headline === "" ? error.code : headline}`
}

/** One committed transaction as stored: its JSON text is what blocks and replay read back. */
export interface StoredTx {
  /** Position in the ledger, 1, 2, 3… with no gap (the genesis transaction is 0). */
  readonly seq: number
  readonly id: string
  readonly time: number
  /** The transaction's JSON text (PROTOCOL.md section 4). */
  readonly body: string
  /**
   * The reader of the request. For a request made without a reader, "-" or absent (both are known
   * as reader "-" to `reply` and `Snapshot.requests`); read back as it was given.
   */
  readonly reader?: string | undefined
  readonly request?: string | undefined
  /**
   * The command's fingerprint, to tell a retry from a conflicting reuse of a request id. Required,
   * with `reply`, when `request` is present: the database refuses the batch otherwise.
   */
  readonly fingerprint?: string | undefined
  /** The reply sent for it, resent byte for byte to a retry. */
  readonly reply?: string | undefined
  readonly ref?: string | undefined
}

/** A sealed block: its header, and where its transactions are in the ledger. */
export interface StoredBlock {
  readonly height: number
  /** The hex hash of the header. */
  readonly hash: string
  /** The header's JSON text. */
  readonly header: string
  /** Its transactions are the ledger's seqs firstSeq .. firstSeq + txCount - 1. */
  readonly firstSeq: number
  readonly txCount: number
  /** The validator set in force from the next height, as JSON `{keys, threshold}`. */
  readonly validatorsNext: string
  /** The signatures that made it final, as a JSON list; absent while it is not final. */
  readonly signatures?: string | undefined
}

/** A block with its transactions' texts, as the feed serves it. */
export interface StoredBlockWithTxs extends StoredBlock {
  /** The transactions' JSON texts, in order, joined by commas (the inside of a JSON list). */
  readonly txs: string
}

/** A request that failed (or a read): its reply is remembered so that a retry gets the same one. */
export interface StoredReply {
  /** The reader id, or "-" for requests made without a reader. */
  readonly reader: string
  readonly request: string
  readonly fingerprint: string
  readonly reply: string
  readonly time: number
}

/** A request's reply as `reply` finds it. */
export interface FoundReply {
  readonly fingerprint: string
  readonly reply: string
  readonly time: number
  readonly runningAgeMs?: number | undefined
}

/** A wallet as the last committed batch left it. */
export interface StoredWallet {
  readonly id: string
  /** Asset -> amount, zero balances absent. */
  readonly balances: Readonly<Record<string, number>>
  /** Membership asset -> end of validity. */
  readonly memberships: Readonly<Record<string, number>>
  /** Asset -> time up to which demurrage has melted. */
  readonly melted: Readonly<Record<string, number>>
  readonly lastActivityMs: number
}

export interface StoredCard {
  /** Its pseudonym (PROTOCOL.md section 9.4): storage holds no card uid. */
  readonly id: string
  readonly number?: string | undefined
  readonly status: "active" | "blocked" | "voided"
  readonly wallet: string
  /**
   * The card's staff rights `{places, roles, until}` (PROTOCOL.md section 9.2), or none: null or
   * absent when written (a card row is the whole card, so a row without them takes them away),
   * undefined when read back.
   */
  readonly staff?: JsonValue | null | undefined
}

export interface StoredReader {
  readonly id: string
  readonly place: string
  readonly role: "bar" | "cashdesk"
  readonly tokenSha256: string
  readonly revoked: boolean
}

/** A place or an asset: its document as the registry holds it (the genesis form, PROTOCOL.md section 9.2). */
export type RegistryDocument = JsonValue & { readonly id: string }

/** The ledger-wide settings a transaction of the same kind replaces whole (PROTOCOL.md section 9.2). */
export const registryMetaKeys = ["stewards", "observers", "rules"] as const
export type RegistryMetaKey = (typeof registryMetaKeys)[number]

export interface ApprovedRequest {
  readonly request: string
  readonly seq: number
}

export interface RegistryMeta {
  readonly key: RegistryMetaKey
  readonly value: JsonValue
}

/**
 * The ledger format this code reads and writes (PROTOCOL.md section 9), kept in meta `format`. A
 * ledger without it was written in format 1, by an earlier version. A `Ledger` layer refuses, as it
 * is built, a database that holds a ledger of another format (StorageError, operation "format"),
 * and touches nothing in it: a node never converts one format into the other.
 */
export const ledgerFormat = 2

/** A refill's payment and its online refunds (PROTOCOL.md section 9.5), as the state holds it. */
export interface StoredPayment {
  readonly ref: string
  readonly wallet: string
  readonly paid: number
  readonly refunded: number
  /** The withdrawal waiting for the processor, if any. */
  readonly pending: { readonly tx: string; readonly amount: number } | null
}

export interface Backing {
  readonly received: number
  readonly refunded: number
  readonly paidOut: number
}

/**
 * Everything one group commit writes, in one database transaction. Its txs' seqs must continue the
 * ledger (consecutive, the first one lastSeq + 1), else the commit fails with StorageError. Listing
 * a wallet or a card twice, or a number that is not a safe integer, is a bug: a defect, nothing
 * written.
 */
export interface CommitBatch {
  readonly txs: readonly StoredTx[]
  readonly replies: readonly StoredReply[]
  /** The last value of each wallet the batch touched. */
  readonly wallets: readonly StoredWallet[]
  /** Cards new or changed, each row the whole card (its staff rights included). */
  readonly cards: readonly StoredCard[]
  /**
   * The registry's changes (PROTOCOL.md section 9.2): places and assets replaced whole by their
   * document, readers (revoked ones included) by their row. A reader may name a place of the same
   * batch.
   */
  readonly places?: readonly RegistryDocument[] | undefined
  readonly assets?: readonly RegistryDocument[] | undefined
  readonly readers?: readonly StoredReader[] | undefined
  /** Steward set, observers and rules version, each replaced whole. */
  readonly meta?: readonly RegistryMeta[] | undefined
  /**
   * The request ids of the batch's approved commands, each with its transaction's seq (PROTOCOL.md
   * section 9.3): one stored already fails the whole commit.
   */
  readonly approved?: readonly ApprovedRequest[] | undefined
  /** The backing counters after the batch, when they changed. */
  readonly backing?: Backing | undefined
  /** Payments new or changed, each row the whole payment. */
  readonly payments?: readonly StoredPayment[] | undefined
  /** The ledger's validator set after the batch, as JSON `{keys, threshold}`, when it changed. */
  readonly validators?: string | undefined
  /**
   * Blocks sealed or made final. A block already stored at a height gets the signatures given
   * (it becomes final); its header never changes.
   */
  readonly blocks?: readonly StoredBlock[] | undefined
  /**
   * The node's running time since its previous commit, by its monotonic clock, whatever the wall
   * clock did. Storage adds it to the ledger's running time, kept across restarts, and stamps the
   * batch's requests with the sum: a request's age in running time is the sum now minus its stamp.
   * A request of the batch that storage holds already within the window (by either measure), or
   * one listed twice, fails the whole commit with `StorageError.requestsStored`.
   */
  readonly runningMs?: number | undefined
}

/** What the node reads at start (and after a failed commit) to rebuild its state. */
export interface Snapshot {
  /** The genesis document, as stored at initialization (as JSON: the order of keys is not kept). */
  readonly genesis: JsonValue
  /**
   * Places, assets and readers as JSON documents of the genesis form, with later admin changes,
   * each sorted by id. Cards, wallets, requests and refs come in no particular order.
   */
  readonly assets: readonly JsonValue[]
  readonly places: readonly JsonValue[]
  readonly readers: readonly StoredReader[]
  readonly cards: readonly StoredCard[]
  readonly wallets: readonly StoredWallet[]
  /**
   * Requests of the retention window (of at least `sinceMs`, or younger than `requestWindowMs` in
   * running time), committed ones (with their reply) and failed ones: the newest `requestsMax` of
   * them, oldest first.
   */
  readonly requests: readonly StoredReply[]
  /** The keys (`reader/request`) and times of the window's older requests, beyond `requestsMax`. */
  readonly olderRequests: ReadonlyArray<{ readonly key: string; readonly time: number }>
  /** External references already used by committed transactions. */
  readonly refs: readonly string[]
  readonly backing: Backing
  /** Every refill's payment (PROTOCOL.md section 9.5), in no particular order. */
  readonly payments: readonly StoredPayment[]
  /** The validator set the last `validators` transaction named, if any (else the genesis one holds). */
  readonly validators?: JsonValue | undefined
  /** The values of `registryMetaKeys` that commits wrote (absent keys: the genesis ones hold). */
  readonly meta: Readonly<Record<string, JsonValue>>
  /** The request ids of every approved command committed. */
  readonly approved: readonly string[]
  /** The hash of block 0 once it is stored, which approvals sign (PROTOCOL.md section 9.3). */
  readonly genesisHash: string | undefined
  /** The seq of the last committed transaction (0 when only the genesis is there). */
  readonly lastSeq: number
  /**
   * The federation's card key, hex (PROTOCOL.md section 9.4), as initialize stored it; undefined for
   * a ledger made without one (storage tests). Kept by the node only: it is never in a block.
   */
  readonly cardKey: string | undefined
}

/** What a new ledger starts with beside its genesis. */
export interface LedgerStart {
  /** The card key, 64 hex. */
  readonly cardKey: string
  /** The genesis's cards: their transactions (seq 1 on) and rows, committed with the genesis. */
  readonly first?: CommitBatch | undefined
}

export interface LedgerStore {
  /**
   * Creates the tables of a new ledger from its genesis, or does nothing if it already exists. The
   * document is one that decodeGenesis accepted (anything else is a defect); `genesisTx` is seq 0;
   * `start`'s batch, when given, is written in the same database transaction (all or nothing).
   */
  readonly initialize: (genesis: JsonValue, genesisTx: StoredTx, start?: LedgerStart) => Effect.Effect<{ readonly created: boolean }, StorageError>
  /** Whether a ledger exists in this database. */
  readonly initialized: Effect.Effect<boolean, StorageError>
  /**
   * Requests of at least `sinceMs` (by the wall clock), and those younger than `requestWindowMs` in
   * the ledger's running time whatever their time says, are loaded with the rest of the state, all
   * of it from one snapshot of the database: the newest `requestsMax` whole (all when absent), the
   * older ones as keys only, so that a node starts in bounded memory. Fails with StorageError when
   * no ledger was initialized.
   */
  readonly load: (sinceMs: number, requestsMax?: number) => Effect.Effect<Snapshot, StorageError>
  readonly commit: (batch: CommitBatch) => Effect.Effect<void, StorageError>
  /** Transactions with seq ≥ `fromSeq`, in order, at most `limit`. */
  readonly transactions: (fromSeq: number, limit: number) => Effect.Effect<readonly StoredTx[], StorageError>
  /**
   * The remembered reply (committed or failed) of a request's newest use, looked up in the
   * database, with what tells whether that use is past the window: its time, and its age in running
   * time as of the last commit (absent for requests stored before running time was kept: their time
   * alone says).
   */
  readonly reply: (reader: string, request: string) => Effect.Effect<FoundReply | undefined, StorageError>
  /**
   * Blocks from `fromHeight` in order, with their transactions: at most `limit` blocks, and no more
   * blocks than fit in `txMax` transactions (at least one), final ones only when `finalOnly`.
   */
  readonly blocks: (
    fromHeight: number,
    limit: number,
    txMax: number,
    finalOnly: boolean,
  ) => Effect.Effect<readonly StoredBlockWithTxs[], StorageError>
  /** The last sealed block (undefined before block 0 is sealed) and the height of the last final one (-1: none). */
  readonly blockTip: Effect.Effect<{ readonly sealed: StoredBlock | undefined; readonly finalHeight: number }, StorageError>
  /** Which of these transaction ids the ledger holds already (a replica refuses a block replaying one). */
  readonly knownTxIds: (ids: readonly string[]) => Effect.Effect<readonly string[], StorageError>
  /** Answers when the database can take a commit. */
  readonly ping: Effect.Effect<void, StorageError>
}

export class Ledger extends Context.Tag("gesell/storage/Ledger")<Ledger, LedgerStore>() {}
