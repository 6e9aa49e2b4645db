/**
 * A stored block as the protocol's JSON text, for the block endpoints (public-http.ts) and the
 * federation feed. Blocks are assembled from stored texts, never parsed and re-serialized, so that
 * a block is served byte for byte as it was hashed.
 */
import type { StoredBlockWithTxs } from "../storage/ledger.js"

/** A stored block as the JSON text of the protocol. */
export const storedBlockJson = (block: StoredBlockWithTxs): string =>
  `{"header":${block.header},"txs":[${block.txs}]${block.signatures === undefined ? "" : `,"signatures":${block.signatures}`}}`
