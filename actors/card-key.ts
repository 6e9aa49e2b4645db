/**
 * The federation's card key in the node (PROTOCOL.md section 9.4): what turns a uid that a reader or
 * an operator gives into the card's pseudonym, the only name the ledger knows. The key is made at
 * genesis and stored with the ledger; it never leaves the node, and never shows in a log (its
 * inspection and JSON forms are redacted).
 */
import { randomBytes } from "node:crypto"
import { inspect } from "node:util"
import { cardKeyBytes, cardPseudonym } from "../engine/pseudonyms.js"
import { accept, cardWallet, decodeCardUid, isCardId, isRecord, reject, type CardId, type CardUid, type Decoded } from "../engine/names.js"
import type { Card } from "../engine/state.js"

/**
 * Pseudonyms remembered, so that a card tapped again costs a lookup and not an HMAC (about 2 µs,
 * some 5% of a tap's CPU); past this many the memory is started afresh.
 */
export const pseudonymCacheMax = 100_000

export class CardKey {
  readonly #key: Uint8Array
  readonly #known = new Map<string, CardId>()

  private constructor(key: Uint8Array) {
    this.#key = key
  }

  /** A new random key, for a new ledger. */
  static generate(): CardKey {
    return new CardKey(new Uint8Array(randomBytes(cardKeyBytes)))
  }

  /** The key as storage keeps it (64 hex); undefined when it is not one. */
  static fromHex(hex: string): CardKey | undefined {
    return /^[0-9a-f]{64}$/.test(hex) ? new CardKey(new Uint8Array(Buffer.from(hex, "hex"))) : undefined
  }

  /** The hex form, for storage only. */
  exportHex(): string {
    return Buffer.from(this.#key).toString("hex")
  }

  pseudonym(uid: CardUid): CardId {
    const known = this.#known.get(uid)
    if (known !== undefined) return known
    const made = cardPseudonym(this.#key, uid)
    if (this.#known.size >= pseudonymCacheMax) this.#known.clear()
    this.#known.set(uid, made)
    return made
  }

  toJSON(): string {
    return "[card key]"
  }

  toString(): string {
    return "[card key]"
  }

  [inspect.custom](): string {
    return "[card key]"
  }
}

/**
 * How the node names cards for its readers and operators: by uid (turned into the pseudonym with the
 * card key), by the number printed on the card (kept by the node beside the ledger, never in it), or
 * by the pseudonym itself (as a prepared command shows it to stewards).
 */
export class CardNames {
  readonly #numbers = new Map<string, CardId>()

  constructor(
    readonly key: CardKey,
    cards: Iterable<Pick<Card, "pseudonym" | "number">>,
  ) {
    for (const card of cards) if (card.number !== undefined) this.#numbers.set(card.number, card.pseudonym)
  }

  pseudonym(uid: CardUid): CardId {
    return this.key.pseudonym(uid)
  }

  /** The card a printed number is on, if the node knows it. */
  byNumber(number: string): CardId | undefined {
    return this.#numbers.get(number)
  }

  /** Records the number printed on a card, once the card's registration is applied. */
  numbered(number: string, card: CardId): void {
    this.#numbers.set(number, card)
  }

  /**
   * A card as an operator names it: a printed number the node knows first (numbers are often hex
   * too), then a pseudonym (32 hex), then a uid (4, 7 or 10 bytes of hex, in any case).
   */
  resolve(value: unknown, field: string): Decoded<CardId> {
    if (typeof value === "string") {
      const numbered = this.#numbers.get(value)
      if (numbered !== undefined) return accept(numbered)
      if (isCardId(value)) return accept(value)
      const uid = decodeCardUid(value, field)
      if (uid.ok) return accept(this.key.pseudonym(uid.value))
    }
    return reject(field, `${field} must name a card: its uid (hex of 4, 7 or 10 bytes), the number printed on it, or its pseudonym`)
  }
}

/** The fields of an operator's command that hold a wallet id, which may be a card's. */
const walletFields = ["wallet", "from", "to"] as const

/**
 * An operator's raw command with every card it names (`card`, a `card:` wallet, `cards[].card`)
 * turned into its pseudonym, before the engine decodes it: the engine knows no uid. The first card
 * that names none is the rejection.
 */
export const withPseudonyms = (raw: Record<string, unknown>, names: CardNames): Decoded<Record<string, unknown>> => {
  const out: Record<string, unknown> = { ...raw }
  if (raw["card"] !== undefined) {
    const card = names.resolve(raw["card"], "card")
    if (!card.ok) return card
    out["card"] = card.value
  }
  for (const field of walletFields) {
    const wallet = raw[field]
    if (typeof wallet !== "string" || !wallet.startsWith("card:")) continue
    const card = names.resolve(wallet.slice("card:".length), field)
    if (!card.ok) return card
    out[field] = cardWallet(card.value)
  }
  const cards = raw["cards"]
  if (Array.isArray(cards)) {
    const entries: unknown[] = []
    for (const [index, entry] of (cards as unknown[]).entries()) {
      if (!isRecord(entry) || entry["card"] === undefined) {
        entries.push(entry)
        continue
      }
      const card = names.resolve(entry["card"], `cards[${index}].card`)
      if (!card.ok) return card
      entries.push({ ...entry, card: card.value })
    }
    out["cards"] = entries
  }
  return accept(out)
}
