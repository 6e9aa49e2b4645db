/**
 * Every bound of the wire contract (PROTOCOL.md) and of the node (ARCHITECTURE.md section 9), with
 * its unit last in its name. Protocol bounds are constants: changing one changes the contract.
 * Tunable bounds have defaults and a `test` preset with tiny values so that tests reach the edges;
 * the shells read environment overrides on top of these.
 */

// Money (PROTOCOL.md conventions).
export const amountMin = 1
export const amountMax = 1_000_000_000_000
/** Most of an asset in circulation; also bounds every balance, so that sums stay exact in a double. */
export const supplyMax = 1_000_000_000_000_000
/** Both terms of an exchange rate, so that amount × term stays below 2^53. */
export const exchangeRateTermMax = 1_000
/** Basis points: a percentage per period of 1..10000 bp (0.01 % .. 100 %). */
export const basisPointsMax = 10_000
/** Shares of a demurrage split, each 0..sharesMax. */
export const demurrageShareMax = 10_000
/** Periods melted by one demurrage transaction; later periods are carried to the next one. */
export const demurragePeriodsMax = 1_000
/** Longest membership period one subscription may add (ten years). */
export const membershipPeriodMsMax = 10 * 366 * 24 * 60 * 60 * 1000
/**
 * Legs of one transaction. A leg moves at most amountMax, so moving a whole large balance (a refund,
 * a fusion) takes several legs; past this bound the command answers `too_many_legs`.
 */
export const legsPerTxMax = 1024
/** Assets a place may accept. */
export const acceptsPerPlaceMax = 32
/**
 * Assets a card's wallet holds, balances and memberships together (PROTOCOL.md section 3): a command
 * that would bring it one more answers `wallet_full`, so that every reply listing a card's assets
 * fits in replyBytesMax (64 of the longest ids and amounts take 6.5 KB, a sale's widest reply 10 KB).
 */
export const walletAssetsMax = 64

// Names (PROTOCOL.md section 1).
export const nameLengthMax = 63
export const requestIdLengthMax = 64
export const cardUidBytes = [4, 7, 10] as const
export const externalRefLengthMax = 255
export const cardNumberLengthMax = 32
export const displayNameLengthMax = 200

// Reader WebSocket (PROTOCOL.md section 3).
export const frameBytesMax = 4096
/** The longest reply a node sends to a reader, and the longest a hub accepts. */
export const replyBytesMax = 16_384
export const readerInflightMax = 64
export const badFramesPerMinuteMax = 100
/** Idempotency records are kept at least this long (the contract says 24 hours). */
export const requestRetentionMs = 24 * 60 * 60 * 1000

// The node's admin API.
/** The admin token's least length: a shorter one is refused at start, and never matches. */
export const adminTokenCharsMin = 32

// Blocks (PROTOCOL.md section 5).
export const blocksPageMax = 1000
export const validatorsMax = 100
/** Observer keys of a federation (members who read transactions, PROTOCOL.md section 9.7). */
export const observersMax = 1000
/** Approvals one command may carry (PROTOCOL.md section 9.3): as many as there may be validators. */
export const approvalsMax = validatorsMax + 1
/** Entries of one `cards` transaction (PROTOCOL.md section 9.2); a larger import makes several. */
export const cardsPerTxMax = 10_000
/** Places a staff card may open tills for. */
export const staffPlacesMax = 64
/**
 * How far a proposal's header time may be ahead of a validator's own clock (PROTOCOL.md section
 * 9.7): block times never decrease, so a header ahead of the clocks would set the time of every
 * later block until the clocks caught up. Honest members' clocks differ by less than this.
 */
export const proposalAheadMsMax = 5_000

/** Bounds the node may tune; the shells read them with environment overrides. */
export interface NodeLimits {
  readonly commitIntervalMs: number
  readonly commitTxMax: number
  readonly commitQueueTxMax: number
  readonly walletMailboxMax: number
  readonly blockIntervalMs: number
  readonly blockTxMax: number
  /**
   * Transactions in sealed blocks waiting for finality (each keeps its proposal text in memory, a
   * few hundred bytes per transaction); beyond, sealing pauses until blocks become final.
   */
  readonly blocksPendingTxMax: number
  readonly readerConnectionsMax: number
  /** Connections of one reader (one token) at once; beyond, its oldest is closed for the new one. */
  readonly readerConnectionsPerReaderMax: number
  /**
   * Reply bytes a reader connection may hold unwritten, its hub not reading them; beyond, the node
   * closes the connection with 1008 instead of keeping every reply for it.
   */
  readonly readerBufferedBytesMax: number
  /** Followers of the federation feed that log in with `member=ID` to read (peers, observers); beyond, HTTP 503. */
  readonly feedPublicConnectionsMax: number
  /**
   * Validators' connections to the feed (logged in, or logging in), apart from the public's so that
   * followers can never lock validators out. A validator holds one at a time (a new login replaces
   * its older connection); when full, a new login takes the place of the oldest one still logging in.
   */
  readonly feedValidatorConnectionsMax: number
  readonly requestCacheMax: number
  readonly cardsPerImportMax: number
}

export const defaults: NodeLimits = {
  commitIntervalMs: 2,
  commitTxMax: 4096,
  commitQueueTxMax: 65_536,
  walletMailboxMax: 256,
  blockIntervalMs: 250,
  blockTxMax: 10_000,
  blocksPendingTxMax: 200_000,
  readerConnectionsMax: 10_000,
  readerConnectionsPerReaderMax: 4,
  readerBufferedBytesMax: 1024 * 1024,
  feedPublicConnectionsMax: 256,
  feedValidatorConnectionsMax: 2 * validatorsMax,
  /** About 400 bytes each; older requests are looked up in storage. */
  requestCacheMax: 500_000,
  cardsPerImportMax: 100_000,
}

/** Tiny values so that tests reach every edge quickly. */
export const testPreset: NodeLimits = {
  commitIntervalMs: 1,
  commitTxMax: 8,
  commitQueueTxMax: 32,
  walletMailboxMax: 4,
  blockIntervalMs: 20,
  blockTxMax: 16,
  blocksPendingTxMax: 64,
  readerConnectionsMax: 8,
  readerConnectionsPerReaderMax: 2,
  readerBufferedBytesMax: 64 * 1024,
  feedPublicConnectionsMax: 4,
  feedValidatorConnectionsMax: 4,
  requestCacheMax: 64,
  cardsPerImportMax: 16,
}
