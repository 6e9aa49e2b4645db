/**
 * Final blocks as a follower receives them from the feed (PROTOCOL.md sections 5 and 9.1): checked
 * and followed in one re-execution (`receivedBlockFault`, then `followReceivedBlock`), their
 * transactions compared with the engine's as the text they arrived in. Whatever the frame holds,
 * the outcome must be the one of decoding every transaction, checking the block, checking its
 * signatures and following it: the same fault, or the same replica; and a refused block leaves the
 * replica as it was.
 */
import { describe, expect, it } from "vitest"
import {
  blockJson,
  chainFromGenesisBlock,
  checkBlock,
  checkSignatures,
  decodeBlock,
  decodeReceivedBlock,
  followBlock,
  followReceivedBlock,
  genesisHeader,
  headerHash,
  receivedBlockFault,
  receivedFault,
  signBlock,
  txRootOfTexts,
  type BlockFault,
  type BlockHeader,
  type BlockSignature,
  type Chain,
  type ReceivedBlock,
} from "./block.js"
import { canonicalJson } from "./canonical.js"
import { keyFromSeed, validatorId, type SigningKey } from "./ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis } from "./genesis.js"
import type { TimeMs, ValidatorId } from "./names.js"
import type { JsonValue } from "./state.js"
import { transactionJson } from "./transaction.js"
import { genesisCardsCommand, genesisDocument, ledgerDocumentOf, Session, t0, cardOf } from "../test/federation.js"

const keyOf = (seed: number): SigningKey => {
  const key = keyFromSeed(new Uint8Array(32).fill(seed))
  if (key === undefined) throw new Error("a 32-byte seed makes a key")
  return key
}
const [k1, k2, k3] = [keyOf(1), keyOf(2), keyOf(3)] as const
const [v1, v2] = [k1, k2].map((key) => validatorId(key.publicKeyRaw) as ValidatorId) as [ValidatorId, ValidatorId]

/** The test federation, two validators of which both must sign. */
const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [v1, v2], threshold: 2 } }) as unknown as JsonValue
const decoded = decodeGenesis(document)
if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.message}`)
const genesis = decoded.value
const genesisTx = genesisTransaction(document, t0 as TimeMs)
const t1 = t0 + 1_000

type TxValue = Record<string, unknown> & { legs: Array<Record<string, unknown>> }

const canonical = (value: unknown): string => {
  const text = canonicalJson(value)
  if (!text.ok) throw new Error(`no canonical form: ${text.reason}`)
  return text.value
}

const header0 = genesisHeader(genesis, genesisTx, v1)
const hash0 = headerHash(header0)

/** The node's session, from block 0, its genesis cards registered as block 1 holds them (PROTOCOL.md section 9.4). */
const nodeSession = (): { readonly node: Session; readonly cardsTx: TxValue } => {
  const node = new Session(ledgerFromGenesis(genesis), t1, hash0)
  const cards = node.must(genesisCardsCommand())
  if (!cards.ok || cards.tx === null) throw new Error("the genesis cards made no transaction")
  return { node, cardsTx: JSON.parse(transactionJson(cards.tx)) as TxValue }
}
const block1Txs = [nodeSession().cardsTx]
const header1: BlockHeader = {
  federation: header0.federation,
  height: 1,
  prev: hash0,
  time: t1 as TimeMs,
  txRoot: txRootOfTexts(block1Txs.map((tx) => canonical(tx))),
  txCount: 1,
  proposer: v1,
}
const hash1 = headerHash(header1)

/** A replica of the federation that followed block 1, the genesis cards. */
const replica = (): Chain => {
  const block0 = decodeBlock(JSON.parse(blockJson(header0, [transactionJson(genesisTx)], undefined)))
  if ("code" in block0) throw new Error(block0.message)
  const chain = chainFromGenesisBlock(block0.block, block0.rawTxs)
  if ("code" in chain) throw new Error(chain.message)
  const block1 = decodeBlock(JSON.parse(blockJson(header1, block1Txs.map((tx) => canonical(tx)), [k1, k2].map((key) => signBlock(key, validatorId(key.publicKeyRaw) as ValidatorId, hash1)))))
  if ("code" in block1) throw new Error(block1.message)
  const followed = followBlock(chain, block1.block, block1.rawTxs)
  if ("code" in followed) throw new Error(followed.message)
  return chain
}

/** Block 2's transactions as the node's engine makes them: a refill, a sale, a top-up and a transfer. */
const honestTxs = (): TxValue[] => {
  const { node } = nodeSession()
  const commands = [
    { kind: "refill", wallet: `card:${cardOf("04a1b2c3")}`, amount: 1_000, ref: "pi_1" },
    { kind: "sale", place: "raffinerie", reader: "bar-1", card: cardOf("04a1b2c3"), amount: 300, request: "s1" },
    { kind: "topup", place: "raffinerie", reader: "desk-1", card: cardOf("04a1b2c3"), amount: 20, asset: "raf-eur", request: "t1" },
    { kind: "transfer", from: `card:${cardOf("04a1b2c3")}`, to: `card:${cardOf("04a1b2c3d4e5f6")}`, asset: "fed", amount: 100 },
  ]
  return commands.map((command) => {
    const outcome = node.must(command)
    if (!outcome.ok || outcome.tx === null) throw new Error(`${command.kind} made no transaction`)
    return JSON.parse(transactionJson(outcome.tx)) as TxValue
  })
}

interface Sealed {
  readonly header: BlockHeader
  readonly txs: readonly TxValue[]
  readonly signatures: readonly BlockSignature[]
}

/** Block 2 over these transactions, its root and count right, signed by the keys given. */
const sealed = (txs: readonly TxValue[], signers: readonly SigningKey[] = [k1, k2], change: (header: BlockHeader) => BlockHeader = (h) => h): Sealed => {
  const header = change({
    federation: header0.federation,
    height: 2,
    prev: hash1,
    time: t1 as TimeMs,
    txRoot: txRootOfTexts(txs.map(canonical)),
    txCount: txs.length,
    proposer: v1,
  })
  const hash = headerHash(header)
  return { header, txs, signatures: signers.map((key) => signBlock(key, validatorId(key.publicKeyRaw) as ValidatorId, hash)) }
}

/** The feed's frame as the node writes it: stored texts put together, never serialized again. */
const frameOf = (block: Sealed, txTexts: readonly string[] = block.txs.map(canonical)): string =>
  `{"type":"block","block":${blockJson(block.header, txTexts, block.signatures)}}`

const receivedOf = (frame: string): ReceivedBlock => {
  const received = decodeReceivedBlock((JSON.parse(frame) as { block: unknown }).block, frame)
  if ("code" in received) throw new Error(`not a block: ${received.message}`)
  return received
}

/** What a follower does with a final block in one re-execution: the fault, or "followed". */
const inOneGo = (chain: Chain, frame: string): BlockFault | "followed" => {
  const received = receivedOf(frame)
  const early = receivedBlockFault(chain, received)
  if (early !== undefined) return receivedFault(received, early)
  const executed = followReceivedBlock(chain, received)
  return "code" in executed ? receivedFault(received, executed) : "followed"
}

/** What a follower did before: decode every transaction, check the block and its signatures, then follow it. */
const checkedThenFollowed = (chain: Chain, frame: string): BlockFault | "followed" => {
  const block = decodeBlock((JSON.parse(frame) as { block: unknown }).block)
  if ("code" in block) return block
  const fault = checkBlock(chain, block.block, block.rawTxs) ?? checkSignatures(headerHash(block.block.header), block.block.signatures, chain.setInForce)
  if (fault !== undefined) return fault
  const executed = followBlock(chain, block.block, block.rawTxs)
  return "code" in executed ? executed : "followed"
}

/** Everything of a replica a block changes, in an order that does not depend on its maps' history. */
const snapshot = (chain: Chain): string =>
  JSON.stringify({
    wallets: [...chain.state.wallets]
      .map(([id, wallet]) => [id, [...wallet.balances].sort(), [...wallet.memberships].sort(), wallet.lastActivityMs] as const)
      .filter(([, balances, memberships, last]) => balances.length > 0 || memberships.length > 0 || last !== 0)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
    refs: [...chain.state.refs].sort(),
    backing: chain.state.backing,
    last: chain.last,
    lastTxTimeMs: chain.lastTxTimeMs,
  })

/** Both ways on fresh replicas: the same outcome, the same replica after; a refused block changes nothing. */
const sameBothWays = (frame: string): BlockFault | "followed" => {
  const [one, two] = [replica(), replica()]
  const before = snapshot(one)
  const outcome = inOneGo(one, frame)
  expect(outcome).toEqual(checkedThenFollowed(two, frame))
  expect(snapshot(one)).toBe(snapshot(two))
  if (outcome !== "followed") expect(snapshot(one)).toBe(before)
  return outcome
}

const withLegAmount = (txs: readonly TxValue[], index: number, amount: number): TxValue[] => {
  const changed = structuredClone(txs) as TxValue[]
  ;((changed[index] as TxValue).legs[0] as { amount: number }).amount = amount
  return changed
}

describe("a final block received from the feed, followed in one re-execution", () => {
  it("follows the honest block as checking then following does, its transactions compared as the text they came in", () => {
    const block = sealed(honestTxs())
    const frame = frameOf(block)
    expect(receivedOf(frame).txsText).toBe(block.txs.map(canonical).join(","))
    expect(sameBothWays(frame)).toBe("followed")
    const chain = replica()
    inOneGo(chain, frame)
    expect(chain.last.hash).toBe(headerHash(block.header))
    expect(chain.lastTxTimeMs).toBe(t1)
  })

  const refused: ReadonlyArray<{ readonly what: string; readonly code: string; readonly frame: () => string }> = [
    { what: "the first transaction's leg changed, root and signatures made again", code: "reexecution", frame: () => frameOf(sealed(withLegAmount(honestTxs(), 0, 999))) },
    { what: "the last transaction's leg changed, root and signatures made again", code: "reexecution", frame: () => frameOf(sealed(withLegAmount(honestTxs(), 3, 99))) },
    {
      what: "a field no transaction has, root and signatures made again",
      code: "malformed",
      frame: () => frameOf(sealed(honestTxs().map((tx, index) => (index === 2 ? { ...tx, tip: 1 } : tx)))),
    },
    {
      what: "a field no transaction has and a height skipped, signed: the decoder speaks first",
      code: "malformed",
      frame: () => frameOf(sealed(honestTxs().map((tx, index) => (index === 2 ? { ...tx, tip: 1 } : tx)), [k1, k2], (h) => ({ ...h, height: 3 }))),
    },
    { what: "a height skipped, signed", code: "height", frame: () => frameOf(sealed(honestTxs(), [k1, k2], (h) => ({ ...h, height: 3 }))) },
    {
      what: "a prev changed after signing: the header's checks come before the signatures'",
      code: "prev",
      frame: () => {
        const block = sealed(honestTxs())
        return frameOf({ ...block, header: { ...block.header, prev: "0".repeat(64) } })
      },
    },
    { what: "a root that is not its transactions', signed", code: "txRoot", frame: () => frameOf(sealed(honestTxs(), [k1, k2], (h) => ({ ...h, txRoot: txRootOfTexts([]) }))) },
    { what: "one signature of two", code: "threshold", frame: () => frameOf(sealed(honestTxs(), [k1])) },
    { what: "a signature of a key outside the set", code: "signature", frame: () => frameOf(sealed(honestTxs(), [k1, k3])) },
    {
      what: "the honest transactions' text, then a second txs (which JSON.parse keeps) with a forged leg",
      code: "reexecution",
      frame: () => {
        const block = sealed(honestTxs())
        const forged = withLegAmount(block.txs, 0, 999).map(canonical)
        return frameOf(block, [...block.txs.map(canonical).slice(0, -1), `${canonical(block.txs[3])}],"txs":[${forged.join(",")}`])
      },
    },
    {
      what: "the honest transactions' text, then a second txs with a forged leg and, after it, a command the engine refuses: the first fault is named",
      code: "reexecution",
      frame: () => {
        const block = sealed(honestTxs())
        const forged = withLegAmount(block.txs, 0, 999)
        ;(forged[2] as TxValue)["command"] = { ...((forged[2] as TxValue)["command"] as object), reader: "bar-9" }
        return frameOf(block, [...block.txs.map(canonical).slice(0, -1), `${canonical(block.txs[3])}],"txs":[${forged.map(canonical).join(",")}`])
      },
    },
  ]

  for (const { what, code, frame } of refused) {
    it(`refuses ${what}: ${code}, as checking then following does, and changes nothing`, () => {
      const outcome = sameBothWays(frame())
      expect(outcome === "followed" ? "followed" : outcome.code).toBe(code)
    })
  }

  it("checks signatures before re-execution: a forged block signed by an outsider is refused for its signature, and re-executes nothing", () => {
    const frame = frameOf(sealed(withLegAmount(honestTxs(), 1, 1), [k1, k3]))
    const chain = replica()
    const before = snapshot(chain)
    const outcome = inOneGo(chain, frame)
    expect(outcome === "followed" ? "followed" : outcome.code).toBe("signature")
    expect(snapshot(chain)).toBe(before)
    // Checked then followed, the forgery was found first; either way it is refused.
    expect(checkedThenFollowed(replica(), frame)).toMatchObject({ code: "reexecution" })
  })

  it("follows the same transactions sent in another form (keys in another order, spaces), comparing them one by one", () => {
    const block = sealed(honestTxs())
    const texts = block.txs.map(canonical)
    const reordered = texts.map((text, index) => (index === 1 ? JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as object).reverse())) : text))
    expect(reordered[1]).not.toBe(texts[1])
    expect(sameBothWays(frameOf(block, reordered))).toBe("followed")
    const spaced = frameOf(block).replace('"type":"block",', '"type": "block", ')
    expect(receivedOf(spaced).txsText).toBeUndefined()
    expect(sameBothWays(spaced)).toBe("followed")
  })

  it("follows a frame whose second txs (which JSON.parse keeps) is the honest one", () => {
    const block = sealed(honestTxs())
    const forged = withLegAmount(block.txs, 0, 999).map(canonical)
    const texts = block.txs.map(canonical)
    expect(sameBothWays(frameOf(block, [...forged.slice(0, -1), `${forged.at(-1) ?? ""}],"txs":[${texts.join(",")}`]))).toBe("followed")
  })
})
