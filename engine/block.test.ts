/**
 * Blocks and Proof of Authority (PROTOCOL.md sections 5 and 9.1) between a node and a replica, with
 * real Ed25519 keys from fixed seeds. The node executes commands with the engine on its own ledger
 * and seals what they commit, as the producer does (canonical texts, their Merkle root, the previous
 * header's hash); each block travels as JSON text, and the replica decodes it and re-executes every
 * transaction's command against its own ledger. A tampered or forged block must be refused with the
 * fault code of the check that catches it, and leave the replica as it was: it then follows the
 * honest block and ends with the node's state.
 */
import { describe, expect, it } from "vitest"
import {
  blockFaultCodes,
  blockJson,
  chainFromGenesisBlock,
  checkBlock,
  checkSignatures,
  decodeBlock,
  decodeHeader,
  decodeReceivedBlock,
  faultText,
  followBlock,
  followReceivedBlock,
  genesisHeader,
  headerHash,
  signatureValid,
  signBlock,
  txRootOfTexts,
  txRootOfValues,
  zeroHash,
  type Block,
  type BlockFault,
  type BlockFaultCode,
  type BlockHeader,
  type BlockSignature,
  type Chain,
} from "./block.js"
import { canonicalJson } from "./canonical.js"
import { keyFromSeed, validatorId, type SigningKey } from "./ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis, type Genesis } from "./genesis.js"
import type { FederationId, TimeMs, TxId, ValidatorId } from "./names.js"
import type { JsonValue, LedgerState, Transaction } from "./state.js"
import { transactionJson } from "./transaction.js"
import { day, genesisCardsCommand, genesisDocument, ledgerDocumentOf, Session, t0, cardOf } from "../test/federation.js"
import { sortedApprovals } from "./authority.js"

const keyOf = (seed: number): SigningKey => {
  const key = keyFromSeed(new Uint8Array(32).fill(seed))
  if (key === undefined) throw new Error("a 32-byte seed makes a key")
  return key
}
const keys = [1, 2, 3, 4].map(keyOf)
const ids = keys.map((key) => validatorId(key.publicKeyRaw) as ValidatorId)
const [v0, v1, v2, v3] = ids as [ValidatorId, ValidatorId, ValidatorId, ValidatorId]
const [k0, k1, k2, k3] = keys as [SigningKey, SigningKey, SigningKey, SigningKey]

/** The test federation, validated by the first three keys, two of which make a block final. */
const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [v0, v1, v2], threshold: 2 } }) as unknown as JsonValue
const decodedGenesis = (doc: JsonValue): Genesis => {
  const decoded = decodeGenesis(doc)
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return decoded.value
}
const genesis = decodedGenesis(document)
const genesisTx = genesisTransaction(document, t0 as TimeMs)

/** A transaction as it travels: the object of its canonical text. */
type TxValue = Record<string, unknown> & { legs: Array<Record<string, unknown>> }
const wire = (tx: Transaction): TxValue => JSON.parse(transactionJson(tx)) as TxValue
const canonical = (value: unknown): string => {
  const text = canonicalJson(value)
  if (!text.ok) throw new Error(`no canonical form: ${text.reason} at ${text.path}`)
  return text.value
}

type Received = { readonly block: Block; readonly rawTxs: readonly unknown[] }
const isFault = (value: object): value is BlockFault => "code" in value && !("block" in value)

/** What a peer does with a block's text: parse and decode it. */
const received = (text: string): Received => {
  const decoded = decodeBlock(JSON.parse(text))
  if (isFault(decoded)) throw new Error(`a block was refused by the decoder: ${faultText(decoded)}`)
  return decoded
}

/** A block as the feed sends it, followed in one re-execution (signatures aside): the fault, or what it made. */
const followedFromFeed = (chain: Chain, block: Received) => {
  const frame = `{"type":"block","block":${JSON.stringify({ header: block.block.header, txs: block.rawTxs })}}`
  const fromFeed = decodeReceivedBlock((JSON.parse(frame) as { block: unknown }).block, frame)
  if (isFault(fromFeed)) throw new Error(`a block was refused by the decoder: ${faultText(fromFeed)}`)
  return followReceivedBlock(chain, fromFeed)
}

interface Sealed {
  readonly header: BlockHeader
  readonly hash: string
  readonly txs: readonly TxValue[]
  /** The block as the node sends it, without signatures. */
  readonly text: string
}

/** A block the way the node seals one: canonical texts, their root, the previous header's hash. */
const sealAfter = (prev: Pick<Sealed, "header" | "hash">, txs: readonly TxValue[], time: number, proposer = v0): Sealed => {
  const texts = txs.map(canonical)
  const header: BlockHeader = {
    federation: prev.header.federation,
    height: prev.header.height + 1,
    prev: prev.hash,
    time: time as TimeMs,
    txRoot: txRootOfTexts(texts),
    txCount: texts.length,
    proposer,
  }
  return { header, hash: headerHash(header), txs, text: blockJson(header, texts, undefined) }
}

const genesisBlock = (): Sealed => {
  const header = genesisHeader(genesis, genesisTx, v0)
  const texts = [transactionJson(genesisTx)]
  return { header, hash: headerHash(header), txs: [wire(genesisTx)], text: blockJson(header, texts, undefined) }
}

/** The node: a ledger that the engine executes commands on, and the transactions committed since its last block. */
class Node {
  readonly session = new Session(ledgerFromGenesis(genesis), t0)
  last: Sealed = genesisBlock()
  private committed: TxValue[] = []

  constructor() {
    this.session.state.genesisHash = this.last.hash
    this.session.signers = [...this.session.signers, ...keys.map((key, index) => ({ id: ids[index] as ValidatorId, key }))]
    // The genesis's cards come first (PROTOCOL.md section 9.4): they open block 1.
    this.run(genesisCardsCommand())
  }

  run(raw: Record<string, unknown>): TxValue {
    const outcome = this.session.must(raw)
    if (!outcome.ok || outcome.tx === null) throw new Error(`${String(raw["kind"])} committed no transaction`)
    const tx = wire(outcome.tx)
    this.committed.push(tx)
    return tx
  }

  /** Seals what was committed since the last block, at the node's time unless told another. */
  seal(time: number = this.session.now): Sealed {
    this.last = sealAfter(this.last, this.committed, time)
    this.committed = []
    return this.last
  }
}

const replicaOf = (block0: Sealed): Chain => {
  const { block, rawTxs } = received(block0.text)
  const chain = chainFromGenesisBlock(block, rawTxs)
  if (isFault(chain)) throw new Error(`block 0 refused: ${faultText(chain)}`)
  return chain
}

const card = `card:${cardOf("04a1b2c3")}`
const spare = `card:${cardOf("04a1b2c3d4e5f6")}`
const other = `card:${cardOf("0102030405060708090a")}`
const blocked = `card:${cardOf("deadbeef")}`
const idle = `card:${cardOf("cafebabe")}`

const t1 = t0 + 1_000
/** Block 2's time: the idle card's fed has been idle past its 180 days and one 30-day period of demurrage. */
const t2 = t1 + 211 * day

/**
 * Block 1: money on cards, a gift and a membership; a card blocked by its place's cash desk; and
 * every kind of registry command (a reader registered and one revoked, cards with staff rights, an
 * asset, a place changed, stewards, observers, the rules).
 */
const runBlock1 = (node: Node): Sealed => {
  node.session.now = t1
  node.run({ kind: "refill", wallet: card, amount: 1_000, ref: "pi_1" })
  node.run({ kind: "mint", asset: "raf-gift", to: card, amount: 100 })
  node.run({ kind: "subscribe", place: "raffinerie", wallet: card, asset: "raf-member", periodMs: 30 * day, amount: 50 })
  node.run({ kind: "refill", wallet: blocked, amount: 500, ref: "pi_2" })
  node.run({ kind: "block", reader: "desk-1", place: "raffinerie", card: cardOf("deadbeef"), reason: "lost", request: "b1" })
  node.run({ kind: "refill", wallet: idle, amount: 1_000, ref: "pi_3" })
  node.run({ kind: "reader", id: "bar-3", place: "manapany", role: "bar", tokenSha256: "f".repeat(64) })
  node.run({ kind: "reader", id: "bar-2", revoke: true })
  node.run({ kind: "cards", cards: [{ card: cardOf("0badcafe") }, { card: cardOf("04a1b2c3d4e5f6"), staff: { places: ["raffinerie"], roles: ["bar"], until: t0 + day } }] })
  node.run({ kind: "asset", id: "kio-gift", assetKind: "gift", name: "Bon du Kiosque", issuer: "kiosque" })
  node.run({ kind: "place", id: "kiosque", name: "Le Kiosque", accepts: ["kio-gift", "mana-time"] })
  node.run({ kind: "stewards", keys: [v0, v1], threshold: 1 })
  node.run({ kind: "observers", keys: [v3] })
  node.run({ kind: "rules", version: 1, from: 2 })
  return node.seal()
}

/** Block 2's commands: a sale, a top-up, a transfer, an exchange and a melt. */
const block2Commands: ReadonlyArray<Record<string, unknown>> = [
  { kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 300, request: "s1" },
  { kind: "topup", place: "raffinerie", reader: "desk-1", card: cardOf("04a1b2c3"), amount: 20, asset: "raf-eur", request: "t1" },
  { kind: "transfer", from: card, to: spare, asset: "fed", amount: 100 },
  { kind: "exchange", wallet: card, asset: "mana-time", direction: "from_fed", amount: 100 },
  { kind: "demurrage", wallet: idle, asset: "fed" },
]

/** A node that sealed block 1, the same block 1 as every other such node (the engine is deterministic). */
const nodeAtBlock1 = (): Node => {
  const node = new Node()
  runBlock1(node)
  node.session.now = t2
  return node
}

/**
 * A node and a replica that followed block 1, and block 2 sealed by the node but not yet received.
 */
const scene = () => {
  const node = new Node()
  const chain = replicaOf(node.last)
  const block1 = runBlock1(node)
  follows(chain, received(block1.text))
  node.session.now = t2
  for (const command of block2Commands) node.run(command)
  const block2 = node.seal()
  return { node, chain, block1, block2 }
}
type Scene = ReturnType<typeof scene>

/** A node that ran block 1, whose signers approve as the federation would after it (its stewards changed there). */
const approverAfterBlock1 = (): Node => {
  const node = new Node()
  runBlock1(node)
  return node
}

const byKey = <V>(entries: Iterable<readonly [string, V]>): Array<readonly [string, V]> =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/**
 * Everything of a ledger that replicas agree on, in an order that does not depend on the history
 * of its maps: wallets (those holding anything), cards, the registry, references, backing and key
 * sets. Request records are the node's (replicas do not answer readers), and so are printed numbers.
 */
const ledgerOf = (state: LedgerState) => ({
  wallets: byKey(state.wallets)
    .filter(([, w]) => w.balances.size > 0 || w.memberships.size > 0 || w.meltedUntilMs.size > 0 || w.lastActivityMs !== 0)
    .map(([id, w]) => [id, byKey(w.balances), byKey(w.memberships), byKey(w.meltedUntilMs), w.lastActivityMs]),
  cards: byKey(state.cards).map(([uid, c]) => [uid, c.status, c.wallet, c.staff ?? null]),
  places: byKey(state.places),
  assets: byKey(state.assets),
  readers: byKey(state.readers),
  refs: [...state.refs].sort(),
  backing: state.backing,
  validators: state.validators,
  stewards: state.stewards ?? null,
  observers: state.observers,
  rules: state.rules,
})

/** Everything of a replica that a refused block must leave as it was. */
const replicaSnapshot = (chain: Chain): string =>
  JSON.stringify({ ledger: ledgerOf(chain.state), last: chain.last, set: chain.setInForce, lastTxTimeMs: chain.lastTxTimeMs })

function follows(chain: Chain, block: Received): void {
  expect(checkBlock(chain, block.block, block.rawTxs)).toBeUndefined()
  const executed = followBlock(chain, block.block, block.rawTxs)
  expect(isFault(executed) ? faultText(executed) : "followed").toBe("followed")
}

const agrees = (chain: Chain, node: Node): void => {
  expect(JSON.stringify(ledgerOf(chain.state))).toBe(JSON.stringify(ledgerOf(node.session.state)))
}

/** Block 2's transactions, changed by a dishonest proposer, resealed so that root and count are right. */
const resealed = (s: Scene, change: (txs: TxValue[]) => void, time: number = t2): Received => {
  const txs = structuredClone(s.block2.txs) as TxValue[]
  change(txs)
  return received(sealAfter(s.block1, txs, time).text)
}

/** Block 2's JSON, changed as a dishonest proposer would, header left as it is unless changed. */
interface RawBlock {
  header: Record<string, unknown>
  txs: TxValue[]
}
const tampered = (s: Scene, change: (raw: RawBlock) => void): Received => {
  const raw = JSON.parse(s.block2.text) as RawBlock
  change(raw)
  return received(JSON.stringify(raw))
}

const txOf = (txs: readonly TxValue[], kind: string): TxValue => {
  const tx = txs.find((candidate) => candidate["kind"] === kind)
  if (tx === undefined) throw new Error(`block 2 has no ${kind}`)
  return tx
}
const commandOf = (tx: TxValue): Record<string, unknown> => tx["command"] as Record<string, unknown>
const leg = (asset: string, from: string, to: string, amount: number) => ({ amount, asset, from, to })

/**
 * A transaction a dishonest proposer writes itself: a command, and what it claims the command makes
 * (its fields and legs), at block 2's time.
 */
/**
 * A transaction written by hand. A command that needs approvals is given a request id and the
 * approvals the federation's honest signers would give it (forgers copy them): the block is then
 * refused for what it forges, not for lacking them; the transaction carries that request id, as the
 * engine's do.
 */
const forged = (id: string, command: Record<string, unknown>, fields: Partial<Record<keyof Transaction, unknown>> = {}): TxValue => {
  const approved = approverAfterBlock1().session.approve(command, `forged-${id}`)
  const request = approved.raw["request"] !== command["request"] ? { request: approved.raw["request"] } : {}
  const approvals = approved.approvals === undefined ? {} : { approvals: sortedApprovals(approved.approvals) }
  return wire({ id: id as TxId, kind: command["kind"], time: t2 as TimeMs, legs: [], ...request, ...fields, command: approved.raw, ...approvals } as unknown as Transaction)
}

describe("a replica following the node", () => {
  it("starts from the node's block 0 with the genesis document's set, and nothing else", () => {
    const block0 = genesisBlock()
    expect(block0.header).toMatchObject({ federation: "reunion", height: 0, prev: zeroHash, time: t0, txCount: 1, proposer: v0 })
    // The node's root over stored texts is the peer's root over the values it received.
    expect(txRootOfValues(received(block0.text).rawTxs)).toBe(block0.header.txRoot)
    const chain = replicaOf(block0)
    expect(chain.setInForce).toEqual({ keys: [v0, v1, v2], threshold: 2 })
    expect(chain.last).toEqual({ header: block0.header, hash: block0.hash })
    expect(chain.lastTxTimeMs).toBe(t0)
    expect([...chain.state.wallets].length).toBe(0)
    expect(checkSignatures(block0.hash, [signBlock(k0, v0, block0.hash), signBlock(k2, v2, block0.hash)], chain.setInForce)).toBeUndefined()
  })

  it("re-executes the registry's commands of block 1 and holds the node's registry", () => {
    const { chain, block1 } = scene()
    expect(block1.txs.map((tx) => tx["kind"])).toEqual([
      "cards", "refill", "mint", "subscribe", "refill", "block", "refill", "reader", "reader", "cards", "asset", "place", "stewards", "observers", "rules",
    ])
    // Every transaction after block 0 carries the command it was made from.
    for (const tx of block1.txs) expect(tx["command"]).toMatchObject({ kind: tx["kind"] })
    agrees(chain, nodeAtBlock1())
    const state = chain.state
    expect(state.cards.get(cardOf("deadbeef"))?.status).toBe("blocked")
    expect(state.readers.get("bar-2" as never)?.revoked).toBe(true)
    expect(state.readers.get("bar-3" as never)).toMatchObject({ place: "manapany", role: "bar" })
    expect(state.cards.get(cardOf("0badcafe"))?.status).toBe("active")
    expect(state.cards.get(cardOf("04a1b2c3d4e5f6"))?.staff).toEqual({ places: ["raffinerie"], roles: ["bar"], until: t0 + day })
    expect(state.assets.get("kio-gift" as never)).toMatchObject({ kind: "gift", issuer: "kiosque" })
    expect(state.places.get("kiosque" as never)?.accepts).toEqual(["kio-gift", "mana-time"])
    expect(state.stewards).toEqual({ keys: [v0, v1], threshold: 1 })
    expect(state.observers).toEqual([v3])
    expect(state.rules).toEqual({ version: 1, from: 2 })
    expect(chain.lastTxTimeMs).toBe(t1)
  })

  it("accepts the honest block 2 and ends with the node's state", () => {
    const { node, chain, block2 } = scene()
    const before = replicaSnapshot(chain)
    const second = received(block2.text)
    expect(txRootOfValues(second.rawTxs)).toBe(block2.header.txRoot)
    // A check alone, accepted, leaves the replica as it was: its re-execution is undone.
    expect(checkBlock(chain, second.block, second.rawTxs)).toBeUndefined()
    expect(replicaSnapshot(chain)).toBe(before)
    follows(chain, second)
    agrees(chain, node)
    expect(chain.last).toEqual({ header: block2.header, hash: block2.hash })
    expect(chain.lastTxTimeMs).toBe(t2)
    // What the forged cases below change: the cascade, the rate and the melt the engine makes.
    expect(txOf(block2.txs, "sale").legs).toEqual([leg("raf-gift", card, "place:raffinerie", 50), leg("fed", card, "place:raffinerie", 250)])
    expect(txOf(block2.txs, "exchange").legs).toEqual([leg("fed", card, "place:manapany", 100), leg("mana-time", "issuance:mana-time", card, 5)])
    expect(txOf(block2.txs, "demurrage").legs.reduce((sum, l) => sum + (l["amount"] as number), 0)).toBe(20)
    // An empty block follows too: its root is the hash of nothing.
    const empty = node.seal(t2 + 1)
    expect(empty.header.txRoot).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    follows(chain, received(empty.text))
    expect(chain.last.header.height).toBe(3)
    expect(chain.lastTxTimeMs).toBe(t2)
  })

  // A card's record is also its wallet: the undo log must keep it as both.
  it("checks a block that moves a card's money and then blocks or fuses the card, and leaves both as they were", () => {
    const { chain } = scene()
    const node = nodeAtBlock1()
    node.run({ kind: "transfer", from: card, to: spare, asset: "fed", amount: 100 })
    node.run({ kind: "block", card: cardOf("04a1b2c3d4e5f6"), reason: "lost" })
    node.run({ kind: "fusion", card: cardOf("04a1b2c3"), user: "user:00000000-0000-4000-8000-000000000001" })
    const block = received(node.seal().text)
    const before = replicaSnapshot(chain)
    expect(checkBlock(chain, block.block, block.rawTxs)).toBeUndefined()
    expect(replicaSnapshot(chain)).toBe(before)
    expect(chain.state.cards.get(cardOf("04a1b2c3d4e5f6"))?.status).toBe("active")
    expect(chain.state.cards.get(cardOf("04a1b2c3"))?.wallet).toBe(card)
    follows(chain, block)
    agrees(chain, node)
  })

  it("accepts a block whose second transaction spends what its first brought", () => {
    const { chain } = scene()
    const node = nodeAtBlock1()
    node.run({ kind: "transfer", from: card, to: spare, asset: "fed", amount: 1_000 })
    node.run({ kind: "transfer", from: spare, to: other, asset: "fed", amount: 1_000 })
    follows(chain, received(node.seal().text))
    agrees(chain, node)
    expect(chain.state.wallets.get(other as never)?.balances.get("fed" as never)).toBe(1_000)
  })
})

describe("a tampered or forged block is refused with the fault of the check that catches it, and changes nothing", () => {
  interface Case {
    readonly name: string
    readonly code: BlockFaultCode
    /** What the fault's message must say, so that the check named is the one that caught it. */
    readonly says?: RegExp
    readonly block: (s: Scene) => Received
  }
  const notMade = /is not what its command makes/
  const refused = (status: string) => new RegExp(`the engine refuses its command: ${status} `)

  const header: readonly Case[] = [
    { name: "prev naming the block before the last", code: "prev", block: (s) => tampered(s, (raw) => (raw.header["prev"] = s.block1.header.prev)) },
    { name: "a height skipped", code: "height", block: (s) => tampered(s, (raw) => (raw.header["height"] = 3)) },
    { name: "the last height again", code: "height", block: (s) => tampered(s, (raw) => (raw.header["height"] = 1)) },
    { name: "a txRoot in the header that is not the transactions'", code: "txRoot", block: (s) => tampered(s, (raw) => (raw.header["txRoot"] = s.block1.header.txRoot)) },
    { name: "a txCount that is not the number of transactions", code: "txCount", block: (s) => tampered(s, (raw) => (raw.header["txCount"] = 6)) },
    { name: "a time earlier than the previous block's", code: "time", block: (s) => tampered(s, (raw) => (raw.header["time"] = s.block1.header.time - 1)) },
    { name: "another federation", code: "federation", block: (s) => tampered(s, (raw) => (raw.header["federation"] = "autre")) },
    {
      name: "the last transaction left out, the count adjusted",
      code: "txRoot",
      block: (s) => tampered(s, (raw) => { raw.txs.pop(); raw.header["txCount"] = 4 }),
    },
    {
      name: "two transactions of other wallets swapped (each still what its command makes)",
      code: "txRoot",
      block: (s) => tampered(s, (raw) => raw.txs.splice(3, 2, raw.txs[4] as TxValue, raw.txs[3] as TxValue)),
    },
  ]

  // The old checks of legs and memos, now as forged transactions: the command stays, what it made changes.
  const legsChanged: readonly Case[] = [
    { name: "an amount changed in a leg, header unchanged", code: "reexecution", says: notMade, block: (s) => tampered(s, (raw) => ((raw.txs[0] as TxValue).legs[1] as { amount: number }).amount++) },
    { name: "an amount changed in a leg, root recomputed", code: "reexecution", says: notMade, block: (s) => resealed(s, (txs) => ((txs[0] as TxValue).legs[1] as { amount: number }).amount++) },
    { name: "a leg added to a transfer", code: "reexecution", says: notMade, block: (s) => resealed(s, (txs) => txOf(txs, "transfer").legs.push(leg("fed", card, other, 1))) },
    {
      name: "a sale whose legs the cascade would not make (all in fed, the gift left on the card)",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => (txOf(txs, "sale").legs = [leg("fed", card, "place:raffinerie", 300)])),
    },
    {
      name: "a sale that mints fed out of its issuing wallet",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => (txOf(txs, "sale").legs = [leg("fed", "issuance:fed", "place:raffinerie", 300)])),
    },
    {
      name: "a membership leg added to a sale",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => txOf(txs, "sale").legs.push({ ...leg("raf-member", "issuance:raf-member", card, 0), until: t2 + 30 * day })),
    },
    {
      name: "a transfer of more than its command says (an overdraft)",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => (txOf(txs, "transfer").legs = [leg("fed", card, spare, 5_000)])),
    },
    {
      name: "a melt larger than the policy's",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => ((txOf(txs, "demurrage").legs[0] as { amount: number }).amount += 1)),
    },
    {
      name: "a melt whose melted-until time is not the policy's",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => ((txOf(txs, "demurrage")["memo"] as { meltedUntil: number }).meltedUntil += 30 * day)),
    },
    {
      name: "an exchange at another rate (6 for 100 fed where the rate gives 5)",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => ((txOf(txs, "exchange").legs[1] as { amount: number }).amount = 6)),
    },
    {
      name: "a top-up credited to another card than its command's",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => { const topup = txOf(txs, "topup"); topup["card"] = cardOf("04a1b2c3d4e5f6"); (topup.legs[0] as { to: string }).to = spare }),
    },
    { name: "a field the engine does not make (a memo on a sale)", code: "reexecution", says: notMade, block: (s) => resealed(s, (txs) => (txOf(txs, "sale")["memo"] = "tip")) },
    {
      name: "a sale and the top-up after it swapped: the cascade would then take the top-up",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => txs.splice(0, 2, txs[1] as TxValue, txs[0] as TxValue)),
    },
    {
      name: "a validators transaction whose set is not the one its command makes",
      code: "reexecution",
      says: notMade,
      block: (s) => resealed(s, (txs) => txs.push(forged("v1", { kind: "validators", add: v3 }, { memo: { keys: [v0, v1, v2, v3], threshold: 1 } }))),
    },
  ]

  // Forged commands: the transaction is what its command would make, but the engine refuses the command.
  const sale300 = [leg("raf-gift", card, "place:raffinerie", 50), leg("fed", card, "place:raffinerie", 250)]
  const forgedCommands: readonly Case[] = [
    {
      name: "a sale by a reader of another place",
      code: "reexecution",
      says: refused("forbidden"),
      block: (s) => resealed(s, (txs) => txs.splice(0, 1, forged("f1", { ...commandOf(txs[0] as TxValue), reader: "mana-bar" }, { place: "raffinerie", reader: "mana-bar", card: cardOf("04a1b2c3"), request: "s1", legs: sale300 }))),
    },
    {
      name: "a bar reader's top-up",
      code: "reexecution",
      says: refused("forbidden"),
      block: (s) =>
        resealed(s, (txs) => txs.push(forged("f1", { kind: "topup", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 20, asset: "raf-eur", request: "t9" }, { place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), request: "t9", legs: [leg("raf-eur", "issuance:raf-eur", card, 20)] }))),
    },
    {
      name: "a sale by a reader revoked in block 1",
      code: "reexecution",
      says: refused("forbidden"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "sale", place: "raffinerie", reader: "bar-2", card: cardOf("04a1b2c3d4e5f6"), amount: 50, request: "r1" }, { place: "raffinerie", reader: "bar-2", card: cardOf("04a1b2c3d4e5f6"), request: "r1", legs: [leg("fed", spare, "place:raffinerie", 50)] }))),
    },
    {
      name: "a sale by a reader that was never registered",
      code: "reexecution",
      says: refused("forbidden"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "sale", place: "raffinerie", reader: "bar-9", card: cardOf("04a1b2c3d4e5f6"), amount: 50, request: "r1" }, { place: "raffinerie", reader: "bar-9", card: cardOf("04a1b2c3d4e5f6"), request: "r1", legs: [leg("fed", spare, "place:raffinerie", 50)] }))),
    },
    {
      name: "a sale on a card blocked by a block transaction of block 1",
      code: "reexecution",
      says: refused("card_blocked"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("deadbeef"), amount: 100, request: "x1" }, { place: "raffinerie", reader: "bar-1", card: cardOf("deadbeef"), request: "x1", legs: [leg("fed", blocked, "place:raffinerie", 100)] }))),
    },
    {
      name: "a transfer beyond the balance, its legs what its command says",
      code: "reexecution",
      says: refused("insufficient_funds"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "transfer", from: card, to: other, asset: "fed", amount: 5_000 }, { legs: [leg("fed", card, other, 5_000)] }))),
    },
    {
      name: "two transfers that each fit alone but not together",
      code: "reexecution",
      says: /transaction f2: the engine refuses its command: insufficient_funds /,
      block: (s) =>
        received(
          sealAfter(
            s.block1,
            [
              forged("f1", { kind: "transfer", from: card, to: spare, asset: "fed", amount: 600 }, { legs: [leg("fed", card, spare, 600)] }),
              forged("f2", { kind: "transfer", from: card, to: other, asset: "fed", amount: 600 }, { legs: [leg("fed", card, other, 600)] }),
            ],
            t2,
          ).text,
        ),
    },
    {
      name: "a refill with a payment reference used in block 1",
      code: "reexecution",
      says: refused("duplicate_ref"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "refill", wallet: other, amount: 1_000, ref: "pi_1" }, { ref: "pi_1", legs: [leg("fed", "issuance:fed", other, 1_000)] }))),
    },
    {
      name: "a validators change whose threshold passes its keys",
      code: "reexecution",
      says: refused("threshold_out_of_range"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "validators", threshold: 4 }, { memo: { keys: [v0, v1, v2], threshold: 4 } }))),
    },
    {
      name: "a melt of a wallet active earlier in the block",
      code: "reexecution",
      says: refused("not_idle"),
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "demurrage", wallet: card, asset: "fed" }, { memo: { wallet: card, asset: "fed", meltedUntil: t1 + 210 * day }, legs: [leg("fed", card, "fund:common", 10)] }))),
    },
  ]

  const structure: readonly Case[] = [
    {
      name: "a transaction dated before the one before it",
      code: "time",
      says: /transaction tx-\d+'s time \d+ is before the one before it/,
      block: () => {
        const node = nodeAtBlock1()
        node.run(block2Commands[0] as Record<string, unknown>)
        node.session.now = t2 - 1
        node.run(block2Commands[1] as Record<string, unknown>)
        return received(node.seal(t2).text)
      },
    },
    {
      name: "a transaction dated before block 1's last",
      code: "time",
      says: /is before the one before it/,
      block: () => {
        const node = nodeAtBlock1()
        node.session.now = t1 - 1
        node.run(block2Commands[0] as Record<string, unknown>)
        return received(node.seal(t2).text)
      },
    },
    {
      name: "a transaction dated after its block",
      code: "time",
      says: /is after its block's/,
      block: () => {
        const node = nodeAtBlock1()
        node.session.now = t2 + 1
        node.run(block2Commands[0] as Record<string, unknown>)
        return received(node.seal(t2).text)
      },
    },
    {
      name: "a transaction without its command",
      code: "reexecution",
      says: /carries no command/,
      block: (s) => resealed(s, (txs) => delete (txs[0] as TxValue)["command"]),
    },
    {
      name: "a command that does not decode (an amount as text)",
      code: "reexecution",
      says: /its command is malformed at amount/,
      block: (s) => resealed(s, (txs) => (commandOf(txs[0] as TxValue)["amount"] = "300")),
    },
    {
      name: "a command of a kind the engine does not know",
      code: "reexecution",
      says: /its command is malformed at kind/,
      block: (s) => resealed(s, (txs) => (commandOf(txs[0] as TxValue)["kind"] = "steal")),
    },
    {
      // No transaction is of kind check: it comes as a badge, which has no legs either.
      name: "a check as a transaction",
      code: "reexecution",
      says: /a check makes no transaction/,
      block: (s) => resealed(s, (txs) => txs.push(forged("f1", { kind: "check", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3") }, { kind: "badge", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3") }))),
    },
    {
      name: "the same transaction id twice",
      code: "reexecution",
      says: /appears twice/,
      block: (s) => resealed(s, (txs) => ((txs[1] as TxValue)["id"] = (txs[0] as TxValue)["id"])),
    },
    {
      name: "a second genesis transaction",
      code: "reexecution",
      says: /a genesis transaction outside block 0/,
      block: (s) => resealed(s, (txs) => txs.push({ ...wire(genesisTx), time: t2 })),
    },
  ]

  for (const { name, code, says, block } of [...header, ...legsChanged, ...forgedCommands, ...structure]) {
    it(`${name}: ${code}`, () => {
      const s = scene()
      const bad = block(s)
      const before = replicaSnapshot(s.chain)
      const fault = checkBlock(s.chain, bad.block, bad.rawTxs)
      expect(fault?.code, fault === undefined ? "accepted" : faultText(fault)).toBe(code)
      expect(faultText(fault as BlockFault)).toMatch(new RegExp(`^${code}: .+`))
      if (says !== undefined) expect(fault?.message).toMatch(says)
      expect(replicaSnapshot(s.chain)).toBe(before)
      // Following it is refused the same way, and changes nothing either.
      expect(followBlock(s.chain, bad.block, bad.rawTxs)).toEqual(fault)
      expect(replicaSnapshot(s.chain)).toBe(before)
      // So is following it in one re-execution as a block from the feed, its frame's text compared.
      expect(followedFromFeed(s.chain, bad)).toEqual(fault)
      expect(replicaSnapshot(s.chain)).toBe(before)
      // The replica can still follow the honest block, and then agrees with the node.
      follows(s.chain, received(s.block2.text))
      agrees(s.chain, s.node)
    })
  }

  it("the forged transactions are well formed and their blocks' roots right: only re-execution tells", () => {
    const s = scene()
    for (const { block } of [...legsChanged.slice(1), ...forgedCommands]) {
      const bad = block(s)
      expect(txRootOfValues(bad.rawTxs)).toBe(bad.block.header.txRoot)
      expect(bad.block.header.txCount).toBe(bad.rawTxs.length)
    }
  })

  it("the two transfers of the case above each fit alone", () => {
    for (const [id, to] of [["f1", spare], ["f2", other]] as const) {
      const { chain, block1 } = scene()
      const alone = received(sealAfter(block1, [forged(id, { kind: "transfer", from: card, to, asset: "fed", amount: 600 }, { legs: [leg("fed", card, to, 600)] })], t2).text)
      expect(checkBlock(chain, alone.block, alone.rawTxs)).toBeUndefined()
    }
  })

  it("the transactions of the time cases are accepted at times that do not go back", () => {
    const { chain } = scene()
    const node = nodeAtBlock1()
    node.session.now = t1
    node.run(block2Commands[0] as Record<string, unknown>)
    node.session.now = t2
    node.run(block2Commands[1] as Record<string, unknown>)
    follows(chain, received(node.seal(t2).text))
    agrees(chain, node)
  })

  it("lists its fault codes in the order of the checks", () => {
    expect(blockFaultCodes).toEqual(["malformed", "federation", "height", "prev", "time", "txCount", "txRoot", "genesis", "reexecution", "signature", "threshold", "fork", "payment"])
  })
})

describe("checkSignatures", () => {
  const block1 = runBlock1(new Node())
  const hash = block1.hash
  const set = { keys: [v0, v1, v2], threshold: 2 }
  const [s0, s1, s2] = [signBlock(k0, v0, hash), signBlock(k1, v1, hash), signBlock(k2, v2, hash)]
  const code = (signatures: readonly BlockSignature[]) => checkSignatures(hash, signatures, set)?.code

  it("accepts 2 valid signatures of 3, in any order, and all 3", () => {
    expect(code([s0, s1])).toBeUndefined()
    expect(code([s2, s0])).toBeUndefined()
    expect(code([s0, s1, s2])).toBeUndefined()
    for (const signature of [s0, s1, s2]) expect(signatureValid(hash, signature)).toBe(true)
  })

  it("fails threshold with 1 valid signature, or none", () => {
    expect(code([s1])).toBe("threshold")
    expect(code([])).toBe("threshold")
  })

  it("counts a validator's signature given twice once", () => {
    expect(code([s0, s0])).toBe("threshold")
    expect(code([s0, { ...s0 }, s0])).toBe("threshold")
  })

  it("refuses a signature by a key outside the set, even beside enough valid ones", () => {
    expect(code([s0, s1, signBlock(k3, v3, hash)])).toBe("signature")
  })

  it("refuses a corrupted signature, even beside enough valid ones", () => {
    const flipped = s2.signature[10] === "A" ? "B" : "A"
    const corrupted = { ...s2, signature: `${s2.signature.slice(0, 10)}${flipped}${s2.signature.slice(11)}` }
    expect(signatureValid(hash, corrupted)).toBe(false)
    expect(code([s0, s1, corrupted])).toBe("signature")
    expect(code([s0, { ...s1, signature: "" }])).toBe("signature")
  })

  it("refuses a valid signature over a different hash", () => {
    const other = signBlock(k1, v1, headerHash({ ...block1.header, time: (block1.header.time + 1) as TimeMs }))
    expect(code([s0, other])).toBe("signature")
  })

  it("refuses a member's signature presented under another member's id", () => {
    expect(code([s0, { validator: v1, signature: s2.signature }])).toBe("signature")
  })
})

describe("a validators transaction", () => {
  it("changes the set in force from the next height: 3 of 4 signatures then make a block final", () => {
    const { node, chain, block2 } = scene()
    follows(chain, received(block2.text))
    node.session.now = t2 + 1_000
    const change = node.run({ kind: "validators", add: v3, threshold: 3 })
    expect(change["memo"]).toEqual({ keys: [v0, v1, v2, v3], threshold: 3 })
    const block3 = node.seal()
    // Block 3 itself is judged by the set before the change: 2 of the 3 first keys.
    expect(checkSignatures(block3.hash, [signBlock(k0, v0, block3.hash), signBlock(k1, v1, block3.hash)], chain.setInForce)).toBeUndefined()
    expect(checkSignatures(block3.hash, [signBlock(k0, v0, block3.hash), signBlock(k3, v3, block3.hash)], chain.setInForce)?.code).toBe("signature")
    follows(chain, received(block3.text))
    expect(chain.setInForce).toEqual({ keys: [v0, v1, v2, v3], threshold: 3 })
    expect(chain.state.validators).toEqual(node.session.state.validators)

    node.session.now = t2 + 2_000
    node.run({ kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 10, request: "s2" })
    const block4 = node.seal()
    const sign = (key: SigningKey, id: ValidatorId) => signBlock(key, id, block4.hash)
    expect(checkSignatures(block4.hash, [sign(k0, v0), sign(k1, v1)], chain.setInForce)?.code).toBe("threshold")
    expect(checkSignatures(block4.hash, [sign(k0, v0), sign(k1, v1), sign(k3, v3)], chain.setInForce)).toBeUndefined()
    expect(checkSignatures(block4.hash, [sign(k3, v3), sign(k2, v2), sign(k1, v1)], chain.setInForce)).toBeUndefined()
    follows(chain, received(block4.text))
    agrees(chain, node)
  })

  it("refused in a block leaves the set in force as it was", () => {
    const { chain } = scene()
    const node = nodeAtBlock1()
    node.run({ kind: "validators", add: v3, threshold: 3 })
    node.run({ kind: "transfer", from: card, to: spare, asset: "fed", amount: 1_000 })
    const raw = JSON.parse(node.seal().text) as RawBlock
    ;(raw.txs[1]?.legs[0] as { amount: number }).amount = 999
    const bad = received(JSON.stringify(raw))
    const before = replicaSnapshot(chain)
    expect(followBlock(chain, bad.block, bad.rawTxs)).toMatchObject({ code: "reexecution" })
    expect(replicaSnapshot(chain)).toBe(before)
    expect(chain.setInForce).toEqual({ keys: [v0, v1, v2], threshold: 2 })
  })
})

describe("decodeBlock and decodeHeader", () => {
  const block1 = runBlock1(new Node())
  const raw = () => JSON.parse(block1.text) as RawBlock
  const malformed = (value: unknown): void => {
    const decoded = decodeBlock(value)
    expect(isFault(decoded) ? decoded.code : "accepted", JSON.stringify(value)?.slice(0, 300)).toBe("malformed")
  }
  const withHeader = (change: Record<string, unknown>): RawBlock => ({ ...raw(), header: { ...raw().header, ...change } })

  it("reads the node's block back as it was sealed, with or without signatures", () => {
    const decoded = received(block1.text)
    expect(decoded.block.header).toEqual(block1.header)
    expect(decoded.block.txs.map(transactionJson)).toEqual(block1.txs.map(canonical))
    expect(decoded.block.signatures).toEqual([])
    const signatures = [signBlock(k0, v0, block1.hash)]
    expect(received(blockJson(block1.header, block1.txs.map(canonical), signatures)).block.signatures).toEqual(signatures)
    expect(decodeHeader(JSON.parse(JSON.stringify(block1.header)))).toEqual(block1.header)
  })

  it("refuses unknown fields, in the block, its header, a transaction and a signature", () => {
    malformed({ ...raw(), extra: 1 })
    malformed(withHeader({ nonce: 0 }))
    malformed({ ...raw(), txs: [{ ...raw().txs[0], tip: 1 }] })
    malformed({ ...raw(), signatures: [{ validator: v0, signature: signBlock(k0, v0, block1.hash).signature, at: 1 }] })
    expect(decodeHeader({ ...block1.header, hash: block1.hash })).toMatchObject({ code: "malformed" })
  })

  it("refuses a command that is not an object", () => {
    malformed({ ...raw(), txs: [{ ...raw().txs[0], command: "refill" }] })
    malformed({ ...raw(), txs: [{ ...raw().txs[0], command: [] }] })
  })

  it("refuses hashes that are not 64 lowercase hex digits", () => {
    for (const bad of [block1.header.prev.toUpperCase(), block1.header.prev.slice(1), `${block1.header.prev}0`, `${block1.header.prev.slice(1)}g`, 7]) {
      malformed(withHeader({ prev: bad }))
      malformed(withHeader({ txRoot: bad }))
    }
  })

  it("refuses a negative, fractional or missing height, and other malformed header fields", () => {
    for (const height of [-1, 1.5, "2", undefined]) malformed(withHeader({ height }))
    malformed(withHeader({ time: -1 }))
    malformed(withHeader({ txCount: -1 }))
    malformed(withHeader({ federation: "Reunion" }))
    malformed(withHeader({ proposer: "not-a-key" }))
    malformed({ ...raw(), header: null })
  })

  it("refuses a block without its list of transactions, or with a malformed one", () => {
    const { txs: _txs, ...noTxs } = raw()
    malformed(noTxs)
    malformed({ ...raw(), txs: {} })
    const bad = raw()
    bad.txs[0] = { ...(bad.txs[0] as TxValue), legs: [leg("fed", card, spare, -5)] }
    malformed(bad)
    malformed({ ...raw(), signatures: "none" })
    malformed([raw()])
  })
})

describe("chainFromGenesisBlock", () => {
  const block0 = genesisBlock()
  const codeOf = (header: BlockHeader, txs: readonly Transaction[]): string | undefined => {
    const decoded = received(blockJson(header, txs.map(transactionJson), undefined))
    const chain = chainFromGenesisBlock(decoded.block, decoded.rawTxs)
    return isFault(chain) ? chain.code : undefined
  }

  it("accepts the node's block 0", () => {
    expect(codeOf(block0.header, [genesisTx])).toBeUndefined()
  })

  it("with a pinned hash, accepts that block 0 only", () => {
    const decoded = received(blockJson(block0.header, [genesisTx].map(transactionJson), undefined))
    expect(isFault(chainFromGenesisBlock(decoded.block, decoded.rawTxs, headerHash(block0.header)))).toBe(false)
    const other = chainFromGenesisBlock(decoded.block, decoded.rawTxs, "0".repeat(64))
    expect(isFault(other) ? other.code : "accepted").toBe("genesis")
  })

  it("refuses a first block whose height is not 0", () => {
    expect(codeOf({ ...block0.header, height: 1 }, [genesisTx])).toBe("height")
  })

  it("refuses a block 0 that does not link to 64 zeros", () => {
    expect(codeOf({ ...block0.header, prev: "1".repeat(64) }, [genesisTx])).toBe("prev")
  })

  it("refuses a block 0 with two transactions, or with another one than the genesis transaction", () => {
    const two = [genesisTx, { ...genesisTx, id: "second" as TxId }]
    expect(codeOf({ ...block0.header, txCount: 2, txRoot: txRootOfTexts(two.map(transactionJson)) }, two)).toBe("genesis")
    const sale = { ...genesisTx, kind: "sale" as const }
    expect(codeOf(genesisHeader(genesis, sale, v0), [sale])).toBe("genesis")
    const withLegs = { ...genesisTx, legs: [leg("fed", "issuance:fed", card, 5)] } as unknown as Transaction
    expect(codeOf(genesisHeader(genesis, withLegs, v0), [withLegs])).toBe("genesis")
  })

  it("refuses a genesis document that does not decode, even with a matching root", () => {
    const badDocument = { ...(document as Record<string, JsonValue>), validators: { keys: [v0], threshold: 2 } }
    const bad = genesisTransaction(badDocument, t0 as TimeMs)
    expect(codeOf(genesisHeader(genesis, bad, v0), [bad])).toBe("genesis")
  })

  it("refuses a txRoot that is not the genesis transaction's, and a txCount other than 1", () => {
    expect(codeOf(genesisHeader(genesis, { ...genesisTx, time: (t0 + 1) as TimeMs }, v0), [genesisTx])).toBe("txRoot")
    expect(codeOf({ ...block0.header, txCount: 2 }, [genesisTx])).toBe("txCount")
  })

  it("refuses a block 0 of another federation than its document's", () => {
    expect(codeOf({ ...block0.header, federation: "autre" as FederationId }, [genesisTx])).toBe("federation")
  })
})
