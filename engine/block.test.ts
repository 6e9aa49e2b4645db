/**
 * Blocks and Proof of Authority (PROTOCOL.md section 5) between a node and a replica, with real
 * Ed25519 keys from fixed seeds. The node runs commands on its own ledger and seals what they
 * commit, as the producer does (canonical texts, their Merkle root, the previous header's hash);
 * each block travels as JSON text and the replica decodes it, checks it against its own ledger and
 * follows it. Every tampered block must be refused with the fault code of the check that catches
 * it, and leave the replica as it was.
 */
import { describe, expect, it } from "vitest"
import { sameBalances, stateBalances } from "./apply.js"
import {
  blockFaultCodes,
  blockJson,
  chainFromGenesisBlock,
  checkBlock,
  checkSignatures,
  decodeBlock,
  decodeHeader,
  faultText,
  followBlock,
  genesisHeader,
  headerHash,
  reexecutionFault,
  signatureValid,
  signBlock,
  txRootOfTexts,
  txRootOfValues,
  zeroHash,
  type Block,
  type BlockFault,
  type BlockHeader,
  type BlockSignature,
  type Chain,
} from "./block.js"
import { keyFromSeed, validatorId, type SigningKey } from "./ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis, type Genesis } from "./genesis.js"
import type { AssetId, FederationId, TimeMs, TxId, ValidatorId, WalletId } from "./names.js"
import type { JsonValue, Leg, Transaction } from "./state.js"
import { transactionJson } from "./transaction.js"
import { day, genesisDocument, ledgerSnapshot, Session, t0 } from "../test/federation.js"

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
const document = { ...genesisDocument, validators: { keys: [v0, v1, v2], threshold: 2 } } as unknown as JsonValue
const decodedGenesis = (doc: JsonValue): Genesis => {
  const decoded = decodeGenesis(doc)
  if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
  return decoded.value
}
const genesis = decodedGenesis(document)
const genesisTx = genesisTransaction(document, t0 as TimeMs)

type Received = { readonly block: Block; readonly rawTxs: readonly unknown[] }
const isFault = (value: object): value is BlockFault => "code" in value && !("block" in value)

/** What a peer does with a block's text: parse and decode it. */
const received = (text: string): Received => {
  const decoded = decodeBlock(JSON.parse(text))
  if (isFault(decoded)) throw new Error(`an honest block was refused: ${faultText(decoded)}`)
  return decoded
}

/** The JSON of a block, to change something in as a dishonest proposer would. */
interface RawBlock {
  header: Record<string, unknown>
  txs: Array<Record<string, unknown> & { legs: Array<Record<string, unknown>> }>
  signatures?: unknown
}
const tampered = (text: string, change: (raw: RawBlock) => void): Received => {
  const raw = JSON.parse(text) as RawBlock
  change(raw)
  return received(JSON.stringify(raw))
}

interface Sealed {
  readonly header: BlockHeader
  readonly hash: string
  readonly texts: readonly string[]
  /** The block as the node sends it, without signatures. */
  readonly text: string
}

/** A block the way the node seals one: canonical texts, their root, the previous header's hash. */
const sealAfter = (prev: { header: BlockHeader; hash: string }, txs: readonly Transaction[], time: number, proposer = v0): Sealed => {
  const texts = txs.map(transactionJson)
  const header: BlockHeader = {
    federation: prev.header.federation,
    height: prev.header.height + 1,
    prev: prev.hash,
    time: time as TimeMs,
    txRoot: txRootOfTexts(texts),
    txCount: texts.length,
    proposer,
  }
  return { header, hash: headerHash(header), texts, text: blockJson(header, texts, undefined) }
}

const genesisBlock = (): Sealed => {
  const header = genesisHeader(genesis, genesisTx, v0)
  const texts = [transactionJson(genesisTx)]
  return { header, hash: headerHash(header), texts, text: blockJson(header, texts, undefined) }
}

/** The node: a ledger that commands change, and the transactions committed since its last block. */
class Node {
  readonly session = new Session(ledgerFromGenesis(genesis), t0)
  last: Sealed = genesisBlock()
  private committed: Transaction[] = []

  run(raw: Record<string, unknown>): Transaction {
    const outcome = this.session.must(raw)
    if (!outcome.ok || outcome.tx === null) throw new Error(`${String(raw["kind"])} committed no transaction`)
    this.committed.push(outcome.tx)
    return outcome.tx
  }

  /** Seals what was committed since the last block, at the node's time. */
  seal(): Sealed {
    this.last = sealAfter(this.last, this.committed, this.session.now)
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

const card = "card:04a1b2c3" as WalletId
const spare = "card:deadbeef" as WalletId
const other = "card:cafebabe" as WalletId

/**
 * A node and a replica that followed block 1 (money on a card, a gift, a membership), and block 2
 * sealed by the node but not yet received: a sale, a top-up and a transfer.
 */
const scene = () => {
  const node = new Node()
  const chain = replicaOf(node.last)
  node.session.now = t0 + 1_000
  node.run({ kind: "refill", wallet: card, amount: 1_000, ref: "pi_1" })
  node.run({ kind: "mint", asset: "raf-gift", to: card, amount: 100 })
  node.run({ kind: "subscribe", place: "raffinerie", wallet: card, asset: "raf-member", periodMs: 30 * day, amount: 50 })
  const block1 = node.seal()
  const first = received(block1.text)
  expect(checkBlock(chain, first.block, first.rawTxs)).toBeUndefined()
  followBlock(chain, first.block)
  node.session.now = t0 + 2_000
  node.run({ kind: "sale", place: "raffinerie", reader: "bar-1", card: "04a1b2c3", amount: 300, request: "s1" })
  node.run({ kind: "topup", place: "raffinerie", reader: "desk-1", card: "04a1b2c3", amount: 20, asset: "raf-eur" })
  node.run({ kind: "transfer", from: card, to: spare, asset: "fed", amount: 100 })
  const block2 = node.seal()
  return { node, chain, block1, block2 }
}

/** A node's block 1 with a few transactions, sealed with no replica to check it (nothing here can fail). */
const nodeBlock = (): Sealed => {
  const node = new Node()
  node.session.now = t0 + 1_000
  node.run({ kind: "refill", wallet: card, amount: 1_000, ref: "pi_1" })
  node.run({ kind: "sale", place: "raffinerie", reader: "bar-1", card: "04a1b2c3", amount: 300, request: "s1" })
  node.run({ kind: "transfer", from: card, to: spare, asset: "fed", amount: 100 })
  return node.seal()
}

/** Everything of a replica that a refused block must leave as it was. */
const replicaSnapshot = (chain: Chain): string =>
  JSON.stringify({ ledger: ledgerSnapshot(chain.state), last: chain.last, set: chain.setInForce, validators: chain.state.validators })

const follows = (chain: Chain, block: Received): void => {
  expect(checkBlock(chain, block.block, block.rawTxs)).toBeUndefined()
  followBlock(chain, block.block)
}

/** A transaction a dishonest proposer writes itself. */
const forged = (id: string, legs: readonly Leg[], fields: Partial<Transaction> = {}): Transaction => ({
  id: id as TxId,
  kind: "transfer",
  time: (t0 + 2_000) as TimeMs,
  legs,
  ...fields,
})
const fed = (from: string, to: string, amount: number): Leg => ({ asset: "fed", from, to, amount }) as Leg

describe("a replica following the node", () => {
  it("starts from the node's block 0 with the genesis document's set, and nothing else", () => {
    const block0 = genesisBlock()
    expect(block0.header).toMatchObject({ federation: "reunion", height: 0, prev: zeroHash, time: t0, txCount: 1, proposer: v0 })
    // The node's root over stored texts is the peer's root over the values it received.
    expect(block0.header.txRoot).toBe(txRootOfTexts(block0.texts))
    expect(txRootOfValues(received(block0.text).rawTxs)).toBe(block0.header.txRoot)
    const chain = replicaOf(block0)
    expect(chain.setInForce).toEqual({ keys: [v0, v1, v2], threshold: 2 })
    expect(chain.last).toEqual({ header: block0.header, hash: block0.hash })
    expect(stateBalances(chain.state).size).toBe(0)
    expect(checkSignatures(block0.hash, [signBlock(k0, v0, block0.hash), signBlock(k2, v2, block0.hash)], chain.setInForce)).toBeUndefined()
  })

  it("accepts the honest next blocks and ends with the node's balances and memberships", () => {
    const { node, chain, block2 } = scene()
    expect(sameBalances(stateBalances(chain.state), stateBalances(node.session.state))).toBe(false)
    const second = received(block2.text)
    expect(txRootOfValues(second.rawTxs)).toBe(block2.header.txRoot)
    follows(chain, second)
    expect(sameBalances(stateBalances(chain.state), stateBalances(node.session.state))).toBe(true)
    expect(chain.state.wallets.get(card)?.memberships).toEqual(node.session.state.wallets.get(card)?.memberships)
    expect(chain.state.wallets.get(card)?.memberships.size).toBe(1)
    expect(chain.last).toEqual({ header: block2.header, hash: block2.hash })
    // An empty block follows too: its root is the hash of nothing.
    node.session.now += 1
    const empty = node.seal()
    expect(empty.header.txRoot).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    follows(chain, received(empty.text))
    expect(chain.last.header.height).toBe(3)
  })

  it("accepts a block whose second transaction spends what its first brought", () => {
    const { chain, block1 } = scene()
    const txs = [forged("f1", [fed(card, spare, 1_000)]), forged("f2", [fed(spare, other, 1_000)])]
    follows(chain, received(sealAfter(block1, txs, t0 + 2_000).text))
    expect(stateBalances(chain.state).get(other)?.get("fed" as AssetId)).toBe(1_000)
  })
})

describe("a tampered block is refused with the fault of the check that catches it, and changes nothing", () => {
  type Case = { readonly name: string; readonly code: (typeof blockFaultCodes)[number]; readonly block: (s: ReturnType<typeof scene>) => Received }
  const cases: readonly Case[] = [
    {
      name: "an amount changed in a leg",
      code: "txRoot",
      block: ({ block2 }) => tampered(block2.text, (raw) => { (raw.txs[0]?.legs[0] as { amount: number }).amount += 1 }),
    },
    {
      name: "a leg added",
      code: "txRoot",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.txs[2]?.legs.push({ asset: "fed", from: card, to: spare, amount: 1 }) }),
    },
    {
      name: "a transaction left out, the count adjusted",
      code: "txRoot",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.txs.pop(); raw.header["txCount"] = 2 }),
    },
    {
      name: "two transactions swapped",
      code: "txRoot",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.txs.reverse() }),
    },
    {
      name: "prev naming the block before the last",
      code: "prev",
      block: ({ block2, block1 }) => tampered(block2.text, (raw) => { raw.header["prev"] = block1.header.prev }),
    },
    {
      name: "a height skipped",
      code: "height",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.header["height"] = 3 }),
    },
    {
      name: "the last height again",
      code: "height",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.header["height"] = 1 }),
    },
    {
      name: "a txRoot in the header that is not the transactions'",
      code: "txRoot",
      block: ({ block2, block1 }) => tampered(block2.text, (raw) => { raw.header["txRoot"] = block1.header.txRoot }),
    },
    {
      name: "a txCount that is not the number of transactions",
      code: "txCount",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.header["txCount"] = 4 }),
    },
    {
      name: "a time earlier than the previous block's",
      code: "time",
      block: ({ block2, block1 }) => tampered(block2.text, (raw) => { raw.header["time"] = block1.header.time - 1 }),
    },
    {
      name: "another federation",
      code: "federation",
      block: ({ block2 }) => tampered(block2.text, (raw) => { raw.header["federation"] = "autre" }),
    },
    {
      name: "an overdraft, with a txRoot recomputed to match",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("f1", [fed(card, spare, 1_001)])], t0 + 2_000).text),
    },
    {
      name: "two transactions that each fit alone but not together",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("f1", [fed(card, spare, 600)]), forged("f2", [fed(card, other, 600)])], t0 + 2_000).text),
    },
    {
      name: "two legs of one transaction that each fit alone but not together",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("f1", [fed(card, spare, 600), fed(card, other, 600)])], t0 + 2_000).text),
    },
    {
      name: "a validators transaction whose memo is no valid set (threshold above the keys)",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("v1", [], { kind: "validators", memo: { keys: [v0], threshold: 2 } })], t0 + 2_000).text),
    },
    {
      name: "a validators transaction whose memo is no set at all",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("v1", [], { kind: "validators", memo: "everyone" })], t0 + 2_000).text),
    },
    {
      name: "a validators transaction naming one key twice",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("v1", [], { kind: "validators", memo: { keys: [v0, v0], threshold: 1 } })], t0 + 2_000).text),
    },
    {
      name: "a sale that mints fed out of its issuing wallet",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("m1", [fed("issuance:fed", card, 1_000_000)], { kind: "sale" })], t0 + 2_000).text),
    },
    {
      name: "a mint of fed out of another asset's issuing wallet",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("m1", [fed("issuance:raf-gift", card, 100)], { kind: "mint" })], t0 + 2_000).text),
    },
    {
      name: "a membership leg outside a subscription",
      code: "reexecution",
      block: ({ block1 }) =>
        received(sealAfter(block1, [forged("m1", [{ asset: "raf-member", from: "issuance:raf-member", to: card, amount: 0, until: t0 } as Leg], { kind: "mint" })], t0 + 2_000).text),
    },
    {
      name: "a fusion whose memo gives the card a wallet that is no user's",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("u1", [], { kind: "fusion", card: "04a1b2c3" as never, memo: { wallet: "not a wallet" } })], t0 + 2_000).text),
    },
    {
      name: "a demurrage whose melted-until time is no time",
      code: "reexecution",
      block: ({ block1 }) =>
        received(sealAfter(block1, [forged("d1", [fed(card, "fund:common", 1)], { kind: "demurrage", memo: { wallet: card, asset: "fed", meltedUntil: -5 } })], t0 + 2_000).text),
    },
    {
      name: "a void whose memo names no card status",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [forged("x1", [], { kind: "void", card: "04a1b2c3" as never, memo: { status: "gone" } })], t0 + 2_000).text),
    },
    {
      name: "two refills with one payment reference",
      code: "reexecution",
      block: ({ block1 }) =>
        received(
          sealAfter(
            block1,
            [forged("r1", [fed("issuance:fed", card, 10)], { kind: "refill", ref: "pi_twice" }), forged("r2", [fed("issuance:fed", card, 10)], { kind: "refill", ref: "pi_twice" })],
            t0 + 2_000,
          ).text,
        ),
    },
    {
      name: "a second genesis transaction",
      code: "reexecution",
      block: ({ block1 }) => received(sealAfter(block1, [{ ...genesisTx, time: (t0 + 2_000) as TimeMs }], t0 + 2_000).text),
    },
  ]

  for (const { name, code, block } of cases) {
    it(`${name}: ${code}`, () => {
      const s = scene()
      const bad = block(s)
      const before = replicaSnapshot(s.chain)
      const fault = checkBlock(s.chain, bad.block, bad.rawTxs)
      expect(fault?.code, fault === undefined ? "accepted" : faultText(fault)).toBe(code)
      expect(faultText(fault as BlockFault)).toMatch(new RegExp(`^${code}: .+`))
      expect(replicaSnapshot(s.chain)).toBe(before)
      // The replica can still follow the honest block, and then agrees with the node.
      follows(s.chain, received(s.block2.text))
      expect(sameBalances(stateBalances(s.chain.state), stateBalances(s.node.session.state))).toBe(true)
    })
  }

  it("the two transactions of the case above each fit alone", () => {
    for (const tx of [forged("f1", [fed(card, spare, 600)]), forged("f2", [fed(card, other, 600)])]) {
      const { chain, block1 } = scene()
      const alone = received(sealAfter(block1, [tx], t0 + 2_000).text)
      expect(checkBlock(chain, alone.block, alone.rawTxs)).toBeUndefined()
    }
  })

  it("reexecutionFault accepts what fits and names the transaction that does not", () => {
    const { chain } = scene()
    expect(reexecutionFault(chain.state, [forged("f1", [fed(card, spare, 1_000)])])).toBeUndefined()
    const fault = reexecutionFault(chain.state, [forged("f1", [fed(card, spare, 700)]), forged("f2", [fed(card, spare, 301)])])
    expect(fault?.code).toBe("reexecution")
    expect(fault?.message).toContain("f2")
  })

  it("lists its fault codes in the order of the checks", () => {
    expect(blockFaultCodes).toEqual(["malformed", "federation", "height", "prev", "time", "txCount", "txRoot", "genesis", "reexecution", "signature", "threshold", "fork"])
  })
})

describe("checkSignatures", () => {
  const block2 = nodeBlock()
  const hash = block2.hash
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
    const other = signBlock(k1, v1, headerHash({ ...block2.header, time: (block2.header.time + 1) as TimeMs }))
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
    node.session.now = t0 + 3_000
    const change = node.run({ kind: "validators", add: v3, threshold: 3 })
    expect(change.memo).toEqual({ keys: [v0, v1, v2, v3], threshold: 3 })
    const block3 = node.seal()
    // Block 3 itself is judged by the set before the change: 2 of the 3 first keys.
    expect(checkSignatures(block3.hash, [signBlock(k0, v0, block3.hash), signBlock(k1, v1, block3.hash)], chain.setInForce)).toBeUndefined()
    expect(checkSignatures(block3.hash, [signBlock(k0, v0, block3.hash), signBlock(k3, v3, block3.hash)], chain.setInForce)?.code).toBe("signature")
    follows(chain, received(block3.text))
    expect(chain.setInForce).toEqual({ keys: [v0, v1, v2, v3], threshold: 3 })
    expect(chain.state.validators).toEqual(node.session.state.validators)

    node.session.now = t0 + 4_000
    node.run({ kind: "sale", place: "raffinerie", reader: "bar-1", card: "04a1b2c3", amount: 10 })
    const block4 = node.seal()
    const sign = (key: SigningKey, id: ValidatorId) => signBlock(key, id, block4.hash)
    expect(checkSignatures(block4.hash, [sign(k0, v0), sign(k1, v1)], chain.setInForce)?.code).toBe("threshold")
    expect(checkSignatures(block4.hash, [sign(k0, v0), sign(k1, v1), sign(k3, v3)], chain.setInForce)).toBeUndefined()
    expect(checkSignatures(block4.hash, [sign(k3, v3), sign(k2, v2), sign(k1, v1)], chain.setInForce)).toBeUndefined()
    follows(chain, received(block4.text))
    expect(sameBalances(stateBalances(chain.state), stateBalances(node.session.state))).toBe(true)
  })
})

describe("decodeBlock and decodeHeader", () => {
  const block2 = nodeBlock()
  const raw = () => JSON.parse(block2.text) as RawBlock
  const malformed = (value: unknown): void => {
    const decoded = decodeBlock(value)
    expect(isFault(decoded) ? decoded.code : "accepted", JSON.stringify(value)?.slice(0, 300)).toBe("malformed")
  }
  const withHeader = (change: Record<string, unknown>): RawBlock => ({ ...raw(), header: { ...raw().header, ...change } })

  it("reads the node's block back as it was sealed, with or without signatures", () => {
    const decoded = received(block2.text)
    expect(decoded.block.header).toEqual(block2.header)
    expect(decoded.block.txs.map(transactionJson)).toEqual(block2.texts)
    expect(decoded.block.signatures).toEqual([])
    const signatures = [signBlock(k0, v0, block2.hash)]
    expect(received(blockJson(block2.header, block2.texts, signatures)).block.signatures).toEqual(signatures)
    expect(decodeHeader(JSON.parse(JSON.stringify(block2.header)))).toEqual(block2.header)
  })

  it("refuses unknown fields, in the block, its header and a signature", () => {
    malformed({ ...raw(), extra: 1 })
    malformed(withHeader({ nonce: 0 }))
    malformed({ ...raw(), signatures: [{ validator: v0, signature: signBlock(k0, v0, block2.hash).signature, at: 1 }] })
    expect(decodeHeader({ ...block2.header, hash: block2.hash })).toMatchObject({ code: "malformed" })
  })

  it("refuses hashes that are not 64 lowercase hex digits", () => {
    for (const bad of [block2.header.prev.toUpperCase(), block2.header.prev.slice(1), `${block2.header.prev}0`, `${block2.header.prev.slice(1)}g`, 7]) {
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
    bad.txs[0] = { ...bad.txs[0], legs: [{ asset: "fed", from: card, to: spare, amount: -5 }] }
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
    const withLegs = { ...genesisTx, legs: [fed("issuance:fed", card, 5)] }
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
