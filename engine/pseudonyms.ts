/**
 * Cards by pseudonym (PROTOCOL.md section 9.4). Anyone's phone reads a wristband's uid, so no uid is
 * ever in the ledger: a card is `card:<p>`, p the first 16 bytes of HMAC-SHA256 over the uid's bytes
 * under the federation's card key (32 random bytes made at genesis, kept by the node and never in a
 * block), as 32 hex. Block 0 commits to the genesis's cards by their count and the SHA-256 of their
 * sorted pseudonyms joined by newlines; the `cards` transactions that follow it register them.
 */
import { createHash, createHmac } from "node:crypto"
import type { CardId, CardUid } from "./names.js"
import type { LedgerState } from "./state.js"

export const cardKeyBytes = 32
const pseudonymHexChars = 32

/** A card's pseudonym under the federation's card key. */
export const cardPseudonym = (key: Uint8Array, uid: CardUid): CardId =>
  createHmac("sha256", key).update(Buffer.from(uid, "hex")).digest("hex").slice(0, pseudonymHexChars) as CardId

/** What block 0 says of the genesis's cards. */
export interface CardsCommitment {
  readonly count: number
  /** SHA-256, hex, of the sorted pseudonyms joined by newlines (of the empty text when none). */
  readonly sha256: string
}

export const cardsCommitment = (cards: Iterable<CardId>): CardsCommitment => {
  const sorted = [...cards].sort()
  return { count: sorted.length, sha256: createHash("sha256").update(sorted.join("\n")).digest("hex") }
}

export const noCards: CardsCommitment = cardsCommitment([])

/**
 * Whether the genesis's cards are still to be registered. Nothing else runs before them, and cards
 * are never removed, so the cards known so far are genesis cards, and their count says how far.
 */
export const genesisCardsPending = (state: LedgerState): boolean => state.cards.size < state.genesisCards.count
