/**
 * The bench's federation, as a genesis document: `placeCount` places that all accept one euro token
 * issued by the first place, a cash desk there that tops cards up, and for each reader connection
 * two bar readers, one at a place of its own (load spread over places) and one at the first place
 * (every sale to one hot place). Tokens are derived from reader ids, as in the black-box tests, so
 * that workers know them without reading a file.
 */
import { createHash } from "node:crypto"
import { testKey } from "../test/federation-process.js"
import { tokenOf } from "../test/node-process.js"

export const benchAsset = "bench-eur"
export const deskReader = "desk"
export const hotPlace = "bench-0"
export const placeCount = 8
/** What each card is topped up with before the scenarios: 10,000 € in cents, far more than they spend. */
export const cardBalance = 1_000_000
/** The hot card's balance: enough for a billion one-cent sales. */
export const hotCardBalance = 1_000_000_000
/** Every sale is one cent, so that no scenario runs a card dry. */
export const saleAmount = 1

export type ReaderGroup = "spread" | "hot"

export const placeOf = (index: number): string => `bench-${index % placeCount}`
export const barReader = (group: ReaderGroup, connection: number): string => `${group}-${connection}`
export { tokenOf }

/** Card uids of 7 bytes, numbered from 1, the same in every process of the bench. */
export const cardUid = (index: number): string => `04${(index + 1).toString(16).padStart(12, "0")}`
export const cardUids = (count: number): string[] => Array.from({ length: count }, (_, index) => cardUid(index))
/** Pseudonym-shaped card ids (32 hex), for the benches that run the engine alone, without a node's card key. */
export const cardId = (index: number): string => (index + 1).toString(16).padStart(32, "0")
export const cardIds = (count: number): string[] => Array.from({ length: count }, (_, index) => cardId(index))
/** The card every connection taps in the hot-card scenario. */
export const hotCardIndex = 0

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

const readerEntry = (id: string, place: string, role: "bar" | "cashdesk") => ({ id, place, role, tokenSha256: sha256(tokenOf(id)) })

/**
 * The bench node's key, the one validator of the bench federation: the node signs each block it
 * seals, so blocks become final as they do on a one-node federation. (With a key of its own, not in
 * the set, no block would ever be final, and sealing would stop at blocksPendingTxMax.)
 */
const benchKey = testKey(0xbe)
/** The seed of the node's key, written to its data dir. */
export const benchKeySeed = benchKey.seed

/** The genesis of a bench node serving `connections` reader connections and `cards` cards. */
export const benchGenesis = (connections: number, cards: number) => ({
  federation: { id: "bench", name: "Bench federation" },
  validators: { keys: [benchKey.id], threshold: 1 },
  assets: [
    { id: "fed", kind: "fed", name: "Euro fédéré" },
    { id: benchAsset, kind: "local_fiat", issuer: hotPlace, name: "Bench €" },
  ],
  places: Array.from({ length: placeCount }, (_, index) => ({ id: placeOf(index), name: `Bench place ${index}`, accepts: [benchAsset] })),
  readers: [
    readerEntry(deskReader, hotPlace, "cashdesk"),
    ...Array.from({ length: connections }, (_, index) => readerEntry(barReader("spread", index), placeOf(index), "bar")),
    ...Array.from({ length: connections }, (_, index) => readerEntry(barReader("hot", index), hotPlace, "bar")),
  ],
  cards: cardUids(cards).map((uid) => ({ uid })),
})
