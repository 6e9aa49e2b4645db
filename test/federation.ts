/**
 * A small federation for tests: two places with their own assets, a fed asset, readers of both
 * roles, a few cards, a demurrage policy and an exchange rate, so that every rule has something to
 * bite on. `ledger()` gives a fresh state; `run()` decodes and executes a raw command.
 */
import { CardKey } from "../actors/card-key.js"
import { newLedger, type NewLedger } from "../actors/ledger-start.js"
import { authorityOf, signApproval, type Approval } from "../engine/authority.js"
import { decodeCommand, type Command } from "../engine/command.js"
import { keyFromSeed, validatorId, type SigningKey } from "../engine/ed25519.js"
import { execute, type Executed } from "../engine/execute.js"
import { decodeGenesis, ledgerFromGenesis, ledgerGenesisDocument, type Genesis } from "../engine/genesis.js"
import { isRecord, type CardId, type CardUid, type TimeMs, type TxId, type ValidatorId } from "../engine/names.js"
import { cardPseudonym, cardsCommitment, genesisCardsPending } from "../engine/pseudonyms.js"
import type { JsonValue, LedgerState } from "../engine/state.js"

export const day = 24 * 60 * 60 * 1000
export const t0 = 1_732_400_000_000

/** A key that signs for the test federation, and its id. */
export interface Signer {
  readonly id: ValidatorId
  readonly key: SigningKey
}

export const signerOf = (seed: Uint8Array): Signer => {
  const key = keyFromSeed(seed)
  if (key === undefined) throw new Error("a 32-byte seed makes a key")
  return { id: validatorId(key.publicKeyRaw) as ValidatorId, key }
}

/** The test federation's validator: RFC 8032's first test key. */
export const validatorSigner = signerOf(Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"))
/** Its two stewards (threshold 2), and a validator that may join. */
export const stewardSigners = [signerOf(new Uint8Array(32).fill(0x51)), signerOf(new Uint8Array(32).fill(0x52))] as const
export const newcomerSigner = signerOf(new Uint8Array(32).fill(0x53))
/** Keys that scenarios make stewards or validators. */
export const spareSigners = [0x54, 0x55, 0x56, 0x57].map((fill) => signerOf(new Uint8Array(32).fill(fill)))
/**
 * The observer of the test federations (PROTOCOL.md section 9.7): a member who reads transactions.
 * Peers log in with its key, and tests read blocks with it.
 */
export const testObserverSeed = new Uint8Array(32).fill(0x6f)
export const observerSigner = signerOf(testObserverSeed)
/** Stands for block 0's hash where no block 0 was made: approvals sign it. */
export const testGenesisHash = "9e".repeat(32)

export const genesisDocument = {
  federation: { id: "reunion", name: "Réseau des tiers-lieux" },
  validators: { keys: [validatorSigner.id as string], threshold: 1 },
  stewards: { keys: stewardSigners.map((signer) => signer.id as string), threshold: 2 },
  observers: [observerSigner.id as string],
  assets: [
    { id: "fed", kind: "fed", name: "Euro fédéré", demurrage: { idleMs: 180 * day, periodMs: 30 * day, rule: { kind: "percent", basisPoints: 200 }, shares: { place: 0, fund: 9, maintenance: 1 } } },
    { id: "raf-eur", kind: "local_fiat", issuer: "raffinerie", name: "Raffinerie €", exchange: { fed: 1, local: 1 } },
    { id: "raf-gift", kind: "gift", issuer: "raffinerie", name: "Cadeau" },
    { id: "raf-member", kind: "membership", issuer: "raffinerie", name: "Adhésion" },
    { id: "mana-time", kind: "time", issuer: "manapany", name: "Temps", exchange: { fed: 20, local: 1 }, demurrage: { idleMs: 30 * day, periodMs: 7 * day, rule: { kind: "fixed", amount: 10 }, shares: { place: 1, fund: 1, maintenance: 1 } } },
    { id: "mana-pts", kind: "loyalty", issuer: "manapany", name: "Points", demurrage: { idleMs: 365 * day, periodMs: day, rule: { kind: "all" }, shares: { place: 1, fund: 0, maintenance: 0 } } },
  ],
  places: [
    { id: "raffinerie", name: "La Raffinerie", accepts: ["raf-gift", "raf-eur", "fed"] },
    { id: "manapany", name: "Manapany", accepts: ["fed", "mana-time"] },
    { id: "kiosque", name: "Le Kiosque", accepts: ["mana-time"] },
  ],
  readers: [
    { id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: "a".repeat(64) },
    { id: "bar-2", place: "raffinerie", role: "bar", tokenSha256: "b".repeat(64) },
    { id: "desk-1", place: "raffinerie", role: "cashdesk", tokenSha256: "c".repeat(64) },
    { id: "mana-bar", place: "manapany", role: "bar", tokenSha256: "d".repeat(64) },
    { id: "mana-desk", place: "manapany", role: "cashdesk", tokenSha256: "e".repeat(64) },
  ],
  cards: [
    { uid: "04a1b2c3", number: "A1B2C3D4" },
    { uid: "04a1b2c3d4e5f6", number: "B2" },
    { uid: "0102030405060708090a", number: "C3" },
    { uid: "deadbeef" },
    { uid: "cafebabe" },
  ],
}

/** The test federation's card key (PROTOCOL.md section 9.4): what its node would have made at genesis. */
export const testCardKey = new Uint8Array(32).fill(0x4b)
/** A card's pseudonym in the test federation. */
export const card = (uid: string): CardId => cardPseudonym(testCardKey, uid.toLowerCase() as CardUid)
/** `card`, for modules that name something else `card`. */
export const cardOf = card
/** The wallet of a card of the test federation, by its uid. */
export const cardWalletOf = (uid: string): string => `card:${card(uid)}`

export const cardUids = ["04a1b2c3", "04a1b2c3d4e5f6", "0102030405060708090a", "deadbeef", "cafebabe"] as const
/** The genesis's cards as the ledger names them: by pseudonym, in the order of `cardUids`. */
export const cards = cardUids.map(card) as readonly CardId[] as readonly [CardId, CardId, CardId, CardId, CardId]
export const users = ["user:00000000-0000-4000-8000-000000000001", "user:00000000-0000-4000-8000-000000000002"] as const

/** The pseudonyms of a genesis document's cards (as gesell start takes it: by uid), under the test card key. */
export const genesisCardsOf = (input: unknown): CardId[] => {
  const list = isRecord(input) && Array.isArray(input["cards"]) ? (input["cards"] as unknown[]) : []
  return list.map((entry) => card(String(isRecord(entry) ? entry["uid"] : entry)))
}

/** Block 0's document of a genesis document as gesell start takes it: its cards by their commitment. */
export const ledgerDocumentOf = (input: unknown): Record<string, unknown> =>
  ledgerGenesisDocument(input as Record<string, JsonValue>, cardsCommitment(genesisCardsOf(input))) as Record<string, unknown>

/** Block 0's document of the test federation. */
export const ledgerDocument = ledgerDocumentOf(genesisDocument)

export const genesis = (): Genesis => {
  const decoded = decodeGenesis(ledgerDocument)
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return decoded.value
}

/** The `cards` command that registers the genesis's cards after block 0 (PROTOCOL.md section 9.4). */
export const genesisCardsCommand = (pseudonyms: readonly string[] = cards): Record<string, unknown> => ({
  kind: "cards",
  cards: [...pseudonyms].sort().map((id) => ({ card: id })),
})

/** Registers the genesis's cards (`pseudonyms`) on a state fresh from block 0, as block 1 does. */
export const withGenesisCards = (state: LedgerState, pseudonyms: readonly string[] = cards, now: number = t0): LedgerState => {
  if (!genesisCardsPending(state)) return state
  const command = decodeCommand(genesisCardsCommand(pseudonyms))
  if (!command.ok) throw new Error(`genesis cards: ${command.message}`)
  const executed = execute(state, command.value, { now: now as TimeMs, txId: "genesis-cards" as TxId })
  if (!executed.ok) throw new Error(`genesis cards refused: ${executed.status}: ${executed.message}`)
  return state
}

/**
 * The state a genesis document (as gesell start takes it) makes once its cards are registered: what
 * a node holds after block 1.
 */
export const stateOf = (input: unknown): LedgerState => {
  const decoded = decodeGenesis(ledgerDocumentOf(input))
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return withGenesisCards(ledgerFromGenesis(decoded.value), genesisCardsOf(input))
}

/** A fresh state of the test federation, its genesis cards registered. */
export const ledger = (): LedgerState => withGenesisCards(ledgerFromGenesis(genesis()))

/**
 * Runs raw commands in order on a state, each at its own time and with its own transaction id. A
 * command that needs approvals (PROTOCOL.md section 9.3) is approved by the signers the session
 * knows (`signers`: the test federation's stewards, validator and newcomer), as many as it needs, and
 * given a request id when it has none; `runWith` gives the approvals of one's choosing.
 */
export class Session {
  private sequence = 0
  private approvedCount = 0
  signers: readonly Signer[] = [...stewardSigners, validatorSigner, newcomerSigner, ...spareSigners]

  /** `genesisHash`: the hash of the block 0 that replicas of this session's ledger start from. */
  constructor(
    readonly state: LedgerState = ledger(),
    public now: number = t0,
    genesisHash: string = testGenesisHash,
  ) {
    if (state.genesisHash === "") state.genesisHash = genesisHash
  }

  run(raw: Record<string, unknown>): Executed {
    const approved = this.approve(raw)
    return this.runWith(approved.raw, approved.approvals)
  }

  /** A raw command as `run` sends it: given a request id and approvals when it needs them. */
  approve(raw: Record<string, unknown>, request?: string): { readonly raw: Record<string, unknown>; readonly approvals: readonly Approval[] | undefined } {
    const needs = this.decoded(raw)
    if (needs === undefined || "ok" in needs) return { raw, approvals: undefined }
    const withRequest = raw["request"] === undefined ? { ...raw, request: request ?? `approved-${++this.approvedCount}` } : raw
    return { raw: withRequest, approvals: this.approvalsOf(withRequest) }
  }

  /** Runs a raw command with these approvals (none: undefined). */
  runWith(raw: Record<string, unknown>, approvals: readonly Approval[] | undefined): Executed {
    const decoded = decodeCommand(raw)
    if (!decoded.ok) return { ...decoded, replayed: false }
    this.sequence += 1
    return execute(this.state, decoded.value, { now: this.now as TimeMs, txId: `tx-${this.sequence}` as TxId, approvals })
  }

  /** The approvals the session's signers give a raw command: as many as its authority needs. */
  approvalsOf(raw: Record<string, unknown>, signers: readonly Signer[] = this.signers): readonly Approval[] | undefined {
    const command = this.decoded(raw)
    if (command === undefined || "ok" in command) return undefined
    const authority = authorityOf(this.state, command)
    if (authority.by === "none") return undefined
    const chosen = signers.filter((signer) => authority.keys.includes(signer.id)).slice(0, authority.count)
    const newcomer = authority.by === "validators" ? signers.find((signer) => signer.id === authority.newcomer) : undefined
    if (newcomer !== undefined) chosen.push(newcomer)
    return chosen.map((signer) => signApproval(signer.key, signer.id, this.state.genesisHash, command))
  }

  /** The command of a raw one that needs approvals; `{ok: false}` for one malformed; undefined for one that needs none. */
  private decoded(raw: Record<string, unknown>): Command | { ok: false } | undefined {
    const decoded = decodeCommand(raw)
    if (!decoded.ok) return { ok: false }
    return authorityOf(this.state, decoded.value).by === "none" ? undefined : decoded.value
  }

  /** Runs a command that must succeed, for setting a scene. */
  must(raw: Record<string, unknown>): Executed {
    const outcome = this.run(raw)
    if (outcome.status !== "ok") throw new Error(`scene command ${JSON.stringify(raw)} failed: ${outcome.status}`)
    return outcome
  }

  balance(wallet: string, asset: string): number {
    return this.state.wallets.get(wallet as never)?.balances.get(asset as never) ?? 0
  }
}


/** Everything a failing command must leave as it was: balances, memberships, melt times, cards, refs, backing. */
export const ledgerSnapshot = (state: LedgerState): string =>
  JSON.stringify({
    wallets: [...state.wallets].map(([id, w]) => [id, [...w.balances], [...w.memberships], [...w.meltedUntilMs]]),
    cards: [...state.cards.values()].map((c) => [c.pseudonym, c.status, c.wallet]),
    refs: [...state.refs],
    backing: state.backing,
  })

/** The test federation's card key as the node keeps it: what `newLedger` is given in tests. */
export const testCardKeyHex = Buffer.from(testCardKey).toString("hex")

/**
 * The test federation as a node creates it (`newLedger`): block 0's document, its transaction, and
 * the genesis's cards committed with it as seq 1. A writer on it starts from `ledger()` at seq 2.
 */
export const testLedgerStart = (document: unknown = genesisDocument, timeMs: number = t0): NewLedger => {
  const key = CardKey.fromHex(testCardKeyHex)
  if (key === undefined) throw new Error("the test card key is 64 hex")
  const made = newLedger(document as JsonValue, key, timeMs)
  if (!("start" in made)) throw new Error(`test genesis rejected: ${made.field}: ${made.message}`)
  return made
}
