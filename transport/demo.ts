/**
 * The demo federation a newcomer sees on `npm start`: three places of a territory, their assets,
 * bar and cash-desk readers, and a box of cards. Reader tokens and the validator key come in as
 * arguments, so that the shell chooses them (randomly) and prints them once.
 */
import { createHash } from "node:crypto"

export interface DemoReader {
  readonly id: string
  readonly place: string
  readonly role: "bar" | "cashdesk"
  readonly token: string
}

const day = 24 * 60 * 60 * 1000

export const demoPlaces = [
  { id: "raffinerie", name: "La Raffinerie", accepts: ["raf-gift", "raf-eur", "fed"] },
  { id: "manapany", name: "Festival Manapany", accepts: ["mana-gift", "fed"] },
  { id: "kaz", name: "La Kaz", accepts: ["fed", "kaz-time"] },
] as const

export const demoAssets = [
  { id: "fed", kind: "fed", name: "Euro fédéré", demurrage: { idleMs: 365 * day, periodMs: 30 * day, rule: { kind: "percent", basisPoints: 100 }, shares: { place: 0, fund: 9, maintenance: 1 } } },
  { id: "raf-eur", kind: "local_fiat", issuer: "raffinerie", name: "Raffinerie €", exchange: { fed: 1, local: 1 } },
  { id: "raf-gift", kind: "gift", issuer: "raffinerie", name: "Cadeau Raffinerie" },
  { id: "raf-member", kind: "membership", issuer: "raffinerie", name: "Adhésion Raffinerie" },
  { id: "mana-gift", kind: "gift", issuer: "manapany", name: "Cadeau Manapany" },
  { id: "kaz-time", kind: "time", issuer: "kaz", name: "Temps partagé", exchange: { fed: 20, local: 1 } },
] as const

export const tokenSha256 = (token: string): string => createHash("sha256").update(token).digest("hex")

/** Card uids of the demo box: 7-byte uids as NTAG cards have, numbered from 1. */
export const demoCardUid = (index: number): string => `04${index.toString(16).padStart(12, "0")}`

/** `steward`: the demo's one steward, whose key the demo's node holds (the validator's when not given). */
export const demoGenesis = (validator: string, readers: readonly DemoReader[], cardCount: number, steward: string = validator) => ({
  federation: { id: "demo", name: "Fédération de démonstration" },
  validators: { keys: [validator], threshold: 1 },
  stewards: { keys: [steward], threshold: 1 },
  assets: demoAssets,
  places: demoPlaces,
  readers: readers.map(({ id, place, role, token }) => ({ id, place, role, tokenSha256: tokenSha256(token) })),
  cards: Array.from({ length: cardCount }, (_, index) => ({
    uid: demoCardUid(index + 1),
    number: `D${String(index + 1).padStart(6, "0")}`,
  })),
})

/** One bar and one cash desk per place; tokens from the caller. */
export const demoReaders = (token: (id: string) => string): DemoReader[] =>
  demoPlaces.flatMap((place) => [
    { id: `${place.id}-bar`, place: place.id, role: "bar" as const, token: token(`${place.id}-bar`) },
    { id: `${place.id}-desk`, place: place.id, role: "cashdesk" as const, token: token(`${place.id}-desk`) },
  ])
