/**
 * The built `gesell validator` and `gesell peer` against a fake engine that serves tampered blocks
 * (PROTOCOL.md section 5). A validator must reject each tampered proposal with the fault's code and
 * keep its replica as it was, so that it still votes the honest block; a peer must stop (exit 3) at
 * the first block that is not a valid final block, and print the evidence: heights and hashes.
 *
 * The chain is built here from the engine's pure functions: a genesis whose validators are three
 * test keys (threshold 2), block 1 with top-ups and a sale, block 2 with two sales.
 */
import { rmSync } from "node:fs"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import {
  chainFromGenesisBlock,
  checkBlock,
  checkSignatures,
  decodeBlock,
  faultText,
  followBlock,
  genesisHeader,
  headerHash,
  signBlock,
  txRootOfTexts,
  type BlockHeader,
  type BlockSignature,
} from "../engine/block.js"
import { canonicalJson } from "../engine/canonical.js"
import { base64urlDecode, base64urlEncode, verify } from "../engine/ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis } from "../engine/genesis.js"
import type { FederationId, TimeMs } from "../engine/names.js"
import type { JsonValue, Transaction } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { genesisDocument, Session, t0 } from "./federation.js"
import {
  FakeEngine,
  readyMsDefault,
  startPeer,
  startValidator,
  testKey,
  type TestKey,
  type FederationConnection,
  type PeerProcess,
  type ValidatorProcess,
} from "./federation-process.js"
import { within } from "./node-process.js"

const deadlineMs = 30_000

const [alice, bruno, chloe, outsider] = [testKey(1), testKey(2), testKey(3), testKey(4)] as [TestKey, TestKey, TestKey, TestKey]

const document = { ...genesisDocument, validators: { keys: [alice.id, bruno.id, chloe.id], threshold: 2 } }
const decodedGenesis = decodeGenesis(document)
if (!decodedGenesis.ok) throw new Error(`test genesis rejected: ${decodedGenesis.field}: ${decodedGenesis.message}`)
const genesis = decodedGenesis.value

type TxValue = Record<string, unknown>

const canonical = (value: unknown): string => {
  const text = canonicalJson(value)
  if (!text.ok) throw new Error(`no canonical form: ${text.reason} at ${text.path}`)
  return text.value
}

/** A transaction as it travels: the object of its canonical text. */
const wire = (tx: Transaction): TxValue => JSON.parse(transactionJson(tx)) as TxValue

const headerOf = (height: number, prev: string, time: number, txs: readonly TxValue[]): BlockHeader => ({
  federation: genesis.federation.id,
  height,
  prev,
  time: time as TimeMs,
  txRoot: txRootOfTexts(txs.map(canonical)),
  txCount: txs.length,
  proposer: alice.id,
})

interface TestBlock {
  readonly header: BlockHeader
  readonly txs: readonly TxValue[]
}

// Block 0: the genesis transaction, carrying the document.
const genesisTx = genesisTransaction(document as unknown as JsonValue, t0 as TimeMs)
const block0: TestBlock = { header: genesisHeader(genesis, genesisTx, alice.id), txs: [wire(genesisTx)] }

// Block 1: top-ups, a sale and a refill paid by card (its payment's ref), made by the engine itself.
const session = new Session(ledgerFromGenesis(genesis), t0 + 1_000)
const made = (command: Record<string, unknown>): TxValue => {
  const outcome = session.must(command)
  if (!outcome.ok || outcome.tx === null) throw new Error(`${JSON.stringify(command)} made no transaction`)
  return wire(outcome.tx)
}
const block1Txs = [
  made({ kind: "topup", place: "raffinerie", card: "04a1b2c3", asset: "raf-eur", amount: 2_000 }),
  made({ kind: "topup", place: "raffinerie", card: "04a1b2c3d4e5f6", asset: "raf-eur", amount: 1_000 }),
  made({ kind: "sale", place: "raffinerie", card: "04a1b2c3", amount: 300 }),
  made({ kind: "refill", wallet: "card:deadbeef", amount: 1_000, ref: "pi_1" }),
]
const block1: TestBlock = { header: headerOf(1, headerHash(block0.header), t0 + 1_000, block1Txs), txs: block1Txs }
const cardHolds = session.balance("card:04a1b2c3", "raf-eur")

// Block 2, honest: two sales.
session.now = t0 + 2_000
const block2Txs = [
  made({ kind: "sale", place: "raffinerie", card: "04a1b2c3", amount: 500 }),
  made({ kind: "sale", place: "raffinerie", card: "04a1b2c3d4e5f6", amount: 200 }),
]
const block2: TestBlock = { header: headerOf(2, headerHash(block1.header), t0 + 2_000, block2Txs), txs: block2Txs }

// Block 3's transactions: a sale. Its header (and time) is made by the test that sends it.
session.now = t0 + 3_000
const block3Txs = [made({ kind: "sale", place: "raffinerie", card: "04a1b2c3d4e5f6", amount: 100 })]

const hashOf = (block: TestBlock): string => headerHash(block.header)
const copy = <T>(value: T): T => structuredClone(value)
/** Block 2's transactions with one changed; the header is left as it was. */
const editedTxs = (edit: (txs: TxValue[]) => void): TxValue[] => {
  const txs = copy(block2.txs) as TxValue[]
  edit(txs)
  return txs
}
const firstLeg = (tx: TxValue | undefined): Record<string, unknown> => {
  const leg = (tx?.["legs"] as Record<string, unknown>[] | undefined)?.[0]
  if (leg === undefined) throw new Error("the transaction has no leg")
  return leg
}

/** A sale of one more than the card holds, in a block whose root and count are right. */
const overdraftTxs = editedTxs((txs) => {
  const sale = txs[0] as TxValue
  sale["id"] = "tx-overdraft"
  firstLeg(sale)["amount"] = cardHolds + 1
  txs.splice(1)
})
const overdraft: TestBlock = { header: headerOf(2, hashOf(block1), t0 + 2_000, overdraftTxs), txs: overdraftTxs }

/**
 * Block 2 carrying block 1's first top-up again, same id, dated as block 2's transactions (its
 * command makes it again at that time): its root and count are right, and every leg can apply (a
 * top-up draws on an issuance wallet), so only a replica that knows which transactions it holds
 * can tell. Applied, it would credit the card 2,000 a second time.
 */
const replayedTxs = [...block2.txs, { ...copy(block1Txs[0] as TxValue), time: t0 + 2_000 }]
const replayed: TestBlock = { header: headerOf(2, hashOf(block1), t0 + 2_000, replayedTxs), txs: replayedTxs }

/**
 * Block 2 carrying block 1's refill again under a new id, dated as block 2's transactions: the same
 * payment (its ref) would credit the card a second time. Its legs apply (a refill draws on the
 * issuance wallet) and its id is new.
 */
const paidTwiceTxs = [...block2.txs, { ...copy(block1Txs[3] as TxValue), id: "tx-refill-again", time: t0 + 2_000 }]
const paidTwice: TestBlock = { header: headerOf(2, hashOf(block1), t0 + 2_000, paidTwiceTxs), txs: paidTwiceTxs }

/**
 * Tampered versions of block 2, each with the code of the check that must catch it. A transaction
 * changed is caught by re-executing its command (which does not make it) before the root is.
 */
const tamperedProposals: ReadonlyArray<{ what: string; code: string; block: TestBlock }> = [
  { what: "an amount changed in a leg, header unchanged", code: "reexecution", block: { header: block2.header, txs: editedTxs((txs) => (firstLeg(txs[0])["amount"] = 499)) } },
  {
    what: "a leg added, header unchanged",
    code: "reexecution",
    block: {
      header: block2.header,
      txs: editedTxs((txs) => (txs[1]?.["legs"] as unknown[]).push({ amount: 100, asset: "raf-eur", from: "place:raffinerie", to: "card:04a1b2c3d4e5f6" })),
    },
  },
  { what: "a wrong prev", code: "prev", block: { header: { ...block2.header, prev: hashOf(block0) }, txs: block2.txs } },
  { what: "a wrong txRoot in the header", code: "txRoot", block: { header: { ...block2.header, txRoot: txRootOfTexts([]) }, txs: block2.txs } },
  { what: "an overdraft with its root recomputed", code: "reexecution", block: overdraft },
  { what: "a top-up of block 1 replayed, its root recomputed", code: "reexecution", block: replayed },
  { what: "a height skipped", code: "height", block: { header: { ...block2.header, height: 3 }, txs: block2.txs } },
  { what: "a time before block 1's", code: "time", block: { header: { ...block2.header, time: (t0 + 999) as TimeMs }, txs: block2.txs } },
  { what: "a txCount that is not the number of transactions", code: "txCount", block: { header: { ...block2.header, txCount: 3 }, txs: block2.txs } },
  { what: "another federation's block", code: "federation", block: { header: { ...block2.header, federation: "elsewhere" as FederationId }, txs: block2.txs } },
  { what: "a transaction with a field no transaction has", code: "malformed", block: { header: block2.header, txs: editedTxs((txs) => ((txs[0] as TxValue)["tip"] = 1)) } },
]

const proposal = (block: TestBlock) => ({ type: "proposal", block: { header: block.header, txs: block.txs } })

const signatures = (block: TestBlock, signers: readonly TestKey[]): BlockSignature[] =>
  signers.map((signer) => signBlock(signer.key, signer.id, hashOf(block)))

const final = (block: TestBlock, signed: readonly BlockSignature[] = signatures(block, [alice, bruno])) => ({
  type: "block",
  block: { header: block.header, txs: block.txs, signatures: signed },
})

const hashBytes = (hash: string): Buffer => Buffer.from(hash, "hex")

/** A well-formed signature that does not verify: one bit of the real one flipped. */
const corrupted = (signature: BlockSignature): BlockSignature => {
  const bytes = base64urlDecode(signature.signature)
  if (bytes === undefined) throw new Error("a signature is base64url")
  bytes[10] = (bytes[10] ?? 0) ^ 0x01
  return { validator: signature.validator, signature: base64urlEncode(bytes) }
}

/** A vote of alice's for this block: its hash, and her signature of it. */
const expectVote = (vote: Record<string, unknown>, block: TestBlock) => {
  expect(vote).toEqual({ type: "vote", height: block.header.height, hash: hashOf(block), validator: alice.id, signature: expect.any(String) })
  expect(verify(alice.id, hashBytes(hashOf(block)), vote["signature"] as string)).toBe(true)
}

describe("gesell validator against a fake engine", () => {
  let engine: FakeEngine
  let validator: ValidatorProcess
  let feed: FederationConnection

  beforeAll(async () => {
    engine = await FakeEngine.start({ genesisHash: hashOf(block0) })
    validator = await startValidator({ engine: engine.url, key: alice.seed, genesisHash: hashOf(block0) })
    feed = await within("the validator to connect", engine.connection(), deadlineMs)
    // A validator may take up to readyMsDefault to open its replica on a busy machine.
  }, readyMsDefault + deadlineMs)

  afterAll(async () => {
    await validator?.kill()
    await engine?.close()
    if (validator !== undefined) rmSync(validator.dataDir, { recursive: true, force: true })
  })

  const answer = (frame: object) => {
    feed.send(frame)
    return within("the validator's answer", feed.next(), deadlineMs)
  }

  it("asks for the chain from block 0 and logs in with its key, for the challenge's nonce and the genesis hash", async () => {
    expect(validator.validator).toBe(alice.id)
    expect(feed.query.get("validator")).toBe(alice.id)
    expect(feed.from).toBe(0)
    const auth = await within("the validator's auth", feed.auth, deadlineMs)
    expect(auth.frame).toEqual({ type: "auth", validator: alice.id, signature: expect.any(String) })
    const login = new TextEncoder().encode(`gesell/feed-auth/v1:${hashOf(block0)}:${auth.nonce}`)
    expect(verify(alice.id, login, auth.frame["signature"] as string)).toBe(true)
    expect(auth.verified).toBe(true)
  })

  it("votes the genesis block", async () => {
    expectVote(await answer(proposal(block0)), block0)
  })

  it("votes an honest block 1", async () => {
    expectVote(await answer(proposal(block1)), block1)
  })

  for (const { what, code, block } of tamperedProposals) {
    it(`rejects block 2 with ${what}: ${code}`, async () => {
      const reject = await answer(proposal(block))
      expect(reject).toEqual({ type: "reject", height: block.header.height, reason: expect.any(String) })
      expect(reject["reason"]).toMatch(new RegExp(`^${code}: .+`))
    })
  }

  it("rejects block 2 dated more than 5 s ahead of its clock: time", async () => {
    // The honest block 2 but for its header's time, a minute after the validator's clock.
    const ahead = { header: { ...block2.header, time: (Date.now() + 60_000) as TimeMs }, txs: block2.txs }
    expect(await answer(proposal(ahead))).toEqual({ type: "reject", height: 2, reason: expect.stringMatching(/^time: .+ ahead of this validator's clock/) })
  })

  it("rejects another block at a height it has voted: fork", async () => {
    const other = { header: { ...block1.header, time: (t0 + 1_001) as TimeMs }, txs: block1.txs }
    const reject = await answer(proposal(other))
    expect(reject).toEqual({ type: "reject", height: 1, reason: expect.stringMatching(/^fork: /) })
    expect(reject["reason"]).toContain(hashOf(block1))
  })

  it("still votes the honest block 2 after every rejection: its replica was left unchanged", async () => {
    expectVote(await answer(proposal(block2)), block2)
  })

  it("reconnects from its height + 1, and after a restart resumes from its stored replica", async () => {
    feed.close()
    const again = await within("the validator to reconnect", engine.connection(1), deadlineMs)
    expect(again.from).toBe(3)
    expect((await within("the auth again", again.auth, deadlineMs)).verified).toBe(true)

    expect(await within("the validator to stop", validator.stop(), deadlineMs)).toBe(0)
    validator = await startValidator({ engine: engine.url, key: alice.seed, dataDir: validator.dataDir, genesisHash: hashOf(block0) })
    feed = await within("the restarted validator to connect", engine.connection(2), deadlineMs)
    expect(feed.from).toBe(3)
    expect((await within("the restarted validator's auth", feed.auth, deadlineMs)).verified).toBe(true)
    // The engine resends the proposals it has no final block for: the same block is voted again.
    expectVote(await answer(proposal(block2)), block2)
  })

  it("takes a final block dated ahead of its clock while catching up: the clock judges proposals only", async () => {
    const ahead = { header: headerOf(3, hashOf(block2), Date.now() + 60_000, block3Txs), txs: block3Txs }
    feed.send(final(ahead))
    // Frames are handled in order: the answer to a proposal sent next comes once block 3 is handled,
    // and it would be a reject of block 3 if the final block had been refused.
    expectVote(await answer(proposal(block2)), block2)
    // The final block is stored, not voted: the next connection asks for the chain after it.
    feed.close()
    const again = await within("the validator to reconnect", engine.connection(3), deadlineMs)
    expect(again.from).toBe(4)
  })
})

// A payment's external reference is used once: a refill replayed under another transaction id
// would mint its euros twice. Re-execution refuses it before anything is applied or stored.
describe("a payment replayed under a new transaction id", () => {
  let engine: FakeEngine | undefined
  let follower: ValidatorProcess | PeerProcess | undefined

  afterEach(async () => {
    await follower?.kill()
    await engine?.close()
    if (follower !== undefined) rmSync(follower.dataDir, { recursive: true, force: true })
    follower = undefined
    engine = undefined
  })

  it("is rejected by a validator (reexecution), who then votes the honest block 2", async () => {
    engine = await FakeEngine.start({ genesisHash: hashOf(block0) })
    follower = await startValidator({ engine: engine.url, key: alice.seed, genesisHash: hashOf(block0) })
    const feed = await within("the validator to connect", engine.connection(), deadlineMs)
    const answer = (frame: object) => {
      feed.send(frame)
      return within("the validator's answer", feed.next(), deadlineMs)
    }
    expectVote(await answer(proposal(block0)), block0)
    expectVote(await answer(proposal(block1)), block1)
    expect(await answer(proposal(paidTwice))).toEqual({ type: "reject", height: 2, reason: expect.stringMatching(/^reexecution: /) })
    expectVote(await answer(proposal(block2)), block2)
  })

  it("stops a peer (reexecution), with the evidence, when it comes validly signed", async () => {
    const served = [final(block0), final(block1), final(paidTwice)]
    const fake = await FakeEngine.start({
      genesisHash: hashOf(block0),
      onConnection: (connection) => {
        for (const frame of served) if (frame.block.header.height >= connection.from) connection.send(frame)
      },
    })
    engine = fake
    const peer = await startPeer({ engine: fake.url, genesisHash: hashOf(block0) })
    follower = peer
    // A peer that skipped the block asks for block 3 on a new connection instead of stopping.
    const skipped = fake.connection(1).then((connection) => `asked again from ${connection.from}`)
    expect(await within("the peer to stop or go on", Promise.race([peer.exited, skipped]), deadlineMs), peer.output()).toBe(3)
    expect(peer.stderr()).toMatch(/^PEER STOPPED: reexecution: /m)
    expect(peer.stderr()).toContain(`"hash":"${hashOf(paidTwice)}"`)
  })
})

describe("gesell peer against a fake engine", () => {
  let engine: FakeEngine | undefined
  let peer: PeerProcess | undefined

  afterEach(async () => {
    await peer?.kill()
    await engine?.close()
    if (peer !== undefined) rmSync(peer.dataDir, { recursive: true, force: true })
    peer = undefined
    engine = undefined
  })

  /** Starts an engine that serves these final-block frames from the height each connection asks, and a peer on it. */
  const follow = async (frames: readonly ReturnType<typeof final>[]): Promise<PeerProcess> => {
    engine = await FakeEngine.start({
      genesisHash: hashOf(block0),
      onConnection: (connection) => {
        for (const frame of frames) if (frame.block.header.height >= connection.from) connection.send(frame)
      },
    })
    peer = await startPeer({ engine: engine.url, genesisHash: hashOf(block0) })
    return peer
  }

  const honest = [final(block0), final(block1)]

  /** The peer must exit with 3 after saying why; returns the evidence it printed. */
  const stopsWith = async (running: PeerProcess, violation: string, received: TestBlock): Promise<Record<string, Record<string, unknown>>> => {
    const code = await within("the peer to stop", running.exited, deadlineMs)
    expect(code, running.output()).toBe(3)
    const lines = running.stderr().split("\n")
    const stopped = lines.findIndex((line) => line.startsWith("PEER STOPPED: "))
    expect(stopped, running.output()).toBeGreaterThanOrEqual(0)
    expect(lines[stopped]).toMatch(new RegExp(`^PEER STOPPED: ${violation}: .+`))
    const evidence = JSON.parse(lines[stopped + 1] ?? "") as Record<string, Record<string, unknown>>
    expect(evidence["violation"]).toBe(violation)
    expect(evidence["reason"]).toMatch(new RegExp(`^${violation}: `))
    expect(evidence["received"]?.["height"]).toBe(received.header.height)
    expect(evidence["received"]?.["hash"]).toBe(hashOf(received))
    expect(evidence["received"]?.["header"]).toEqual(received.header)
    return evidence
  }

  /** The evidence of a block that does not follow block 1 names block 1 as the one before. */
  const namesBlock1 = (evidence: Record<string, Record<string, unknown>>) => {
    expect(evidence["previous"]).toMatchObject({ height: 1, hash: hashOf(block1), header: block1.header })
  }

  it("stops on a corrupted signature among valid ones: signature", async () => {
    const [a, b, c] = signatures(block2, [alice, bruno, chloe]) as [BlockSignature, BlockSignature, BlockSignature]
    const running = await follow([...honest, final(block2, [a, corrupted(b), c])])
    const evidence = await stopsWith(running, "signature", block2)
    namesBlock1(evidence)
    expect(evidence["received"]?.["signatures"]).toContainEqual(corrupted(b))
  })

  it("stops on a signature of a key outside the validator set: signature", async () => {
    const running = await follow([...honest, final(block2, signatures(block2, [alice, bruno, outsider]))])
    const evidence = await stopsWith(running, "signature", block2)
    namesBlock1(evidence)
    expect(evidence["reason"]).toContain(outsider.id)
  })

  it("stops on fewer valid signatures than the threshold: threshold", async () => {
    const running = await follow([...honest, final(block2, signatures(block2, [alice]))])
    namesBlock1(await stopsWith(running, "threshold", block2))
  })

  it("counts a validator who signed twice once: threshold", async () => {
    const running = await follow([...honest, final(block2, signatures(block2, [alice, alice]))])
    namesBlock1(await stopsWith(running, "threshold", block2))
  })

  it("stops on a block that does not link to block 1: prev", async () => {
    const unlinked = { header: { ...block2.header, prev: hashOf(block0) }, txs: block2.txs }
    const running = await follow([...honest, final(unlinked)])
    namesBlock1(await stopsWith(running, "prev", unlinked))
  })

  it("stops on a root that is not its transactions': txRoot", async () => {
    const rootless = { header: { ...block2.header, txRoot: txRootOfTexts([]) }, txs: block2.txs }
    const running = await follow([...honest, final(rootless)])
    namesBlock1(await stopsWith(running, "txRoot", rootless))
  })

  it("stops on a validly signed overdraft whose root is right: reexecution", async () => {
    const running = await follow([...honest, final(overdraft)])
    const evidence = await stopsWith(running, "reexecution", overdraft)
    namesBlock1(evidence)
    expect(evidence["reason"]).toContain("tx-overdraft")
  })

  it("stops on a validly signed block that replays a transaction of block 1: reexecution", async () => {
    const running = await follow([...honest, final(replayed)])
    const evidence = await stopsWith(running, "reexecution", replayed)
    namesBlock1(evidence)
    expect(evidence["reason"]).toContain(String(replayed.txs.at(-1)?.["id"]))
  })

  it("stops on two different final blocks at one height: fork, with both hashes", async () => {
    const later = { header: { ...block2.header, time: (t0 + 2_500) as TimeMs }, txs: block2.txs }
    expect(hashOf(later)).not.toBe(hashOf(block2))
    const running = await follow([...honest, final(block2), final(later, signatures(later, [bruno, chloe]))])
    const evidence = await stopsWith(running, "fork", later)
    expect(evidence["held"]).toMatchObject({ height: 2, hash: hashOf(block2), header: block2.header })
    expect(evidence["reason"]).toContain(hashOf(block2))
    expect(evidence["reason"]).toContain(hashOf(later))
  })

  // Both blocks 0 are final under the genesis set: a fork, as at any other height.
  it("stops on two different final blocks 0: fork, with both hashes", async () => {
    const other = { header: { ...block0.header, time: (t0 + 1) as TimeMs }, txs: block0.txs }
    const running = await follow([final(block0), final(other, signatures(other, [bruno, chloe]))])
    const evidence = await stopsWith(running, "fork", other)
    expect(evidence["held"]).toMatchObject({ height: 0, hash: hashOf(block0) })
  })

  it("follows valid blocks without stopping, and serves them as received", async () => {
    const running = await follow([...honest, final(block2)])
    /** Asks `path` until `done` holds of its answer (bounded by `within`). */
    const poll = async (path: string, done: (status: number, body: Record<string, unknown>) => boolean) => {
      for (;;) {
        const response = await fetch(`${running.http}${path}`)
        const body = (await response.json()) as Record<string, unknown>
        if (done(response.status, body)) return body
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    const health = await within("the peer to reach height 2", poll("/v1/health", (_, body) => body["height"] === 2), deadlineMs)
    expect(health).toMatchObject({ ok: true, height: 2 })
    // The height is the replica's in memory; its block may reach storage, and the endpoint, just after.
    const block = (await within("block 2 to be served", poll("/v1/blocks/2", (status) => status === 200), deadlineMs)) as unknown as {
      header: BlockHeader
      txs: unknown[]
      signatures: BlockSignature[]
    }
    expect(block.header).toEqual(block2.header)
    expect(headerHash(block.header)).toBe(hashOf(block2))
    expect(block.txs).toEqual(block2.txs)
    expect(block.signatures).toEqual(signatures(block2, [alice, bruno]))
    expect((await fetch(`${running.http}/v1/blocks/3`)).status).toBe(404)
    expect(running.child.exitCode).toBeNull()
    expect(running.output()).not.toContain("PEER STOPPED")
  })
})

// The chain built above must itself be one a replica follows, or the cases prove nothing.
describe("the test chain", () => {
  it("is valid: block 0 starts a replica, blocks 1 and 2 follow it, each final with two of three signatures", () => {
    const decode = (block: TestBlock) => {
      const decoded = decodeBlock(JSON.parse(JSON.stringify(final(block).block)))
      if ("code" in decoded) throw new Error(faultText(decoded))
      return decoded
    }
    const first = decode(block0)
    const chain = chainFromGenesisBlock(first.block, first.rawTxs)
    if ("code" in chain) throw new Error(faultText(chain))
    expect(checkSignatures(hashOf(block0), first.block.signatures, chain.setInForce)).toBeUndefined()
    for (const block of [block1, block2]) {
      const { block: decoded, rawTxs } = decode(block)
      expect(checkBlock(chain, decoded, rawTxs)).toBeUndefined()
      expect(checkSignatures(hashOf(block), decoded.signatures, chain.setInForce)).toBeUndefined()
      expect(followBlock(chain, decoded, rawTxs)).not.toHaveProperty("code")
    }
    expect(chain.last.hash).toBe(hashOf(block2))
    expect(firstLeg(overdraft.txs[0])["amount"]).toBe(cardHolds + 1)
  })
})
