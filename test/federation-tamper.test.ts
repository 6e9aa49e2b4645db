/**
 * The built `gesell validator` and `gesell peer` against a fake engine that serves tampered blocks
 * (PROTOCOL.md section 5). A validator must reject each tampered proposal with the fault's code and
 * keep its replica as it was, so that it still votes the honest block; a peer must stop (exit 3) at
 * the first block that is not a valid final block, and print the evidence: heights and hashes.
 *
 * The chain is built here from the engine's pure functions: a genesis whose validators are three
 * test keys (threshold 2), block 1 with top-ups and a sale, block 2 with two sales.
 */
import { cpSync, rmSync } from "node:fs"
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
import { signApproval, sortedApprovals } from "../engine/authority.js"
import { decodeCommand } from "../engine/command.js"
import { canonicalJson } from "../engine/canonical.js"
import { base64urlDecode, base64urlEncode, verify } from "../engine/ed25519.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis } from "../engine/genesis.js"
import type { FederationId, TimeMs, ValidatorId } from "../engine/names.js"
import type { JsonValue, Transaction } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { cardOf, day, genesisCardsCommand, genesisDocument, ledgerDocumentOf, Session, stewardSigners, t0 } from "./federation.js"
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
import { freshDataDir, memberFetch, within } from "./node-process.js"

const deadlineMs = 30_000

const [alice, bruno, chloe, outsider] = [testKey(1), testKey(2), testKey(3), testKey(4)] as [TestKey, TestKey, TestKey, TestKey]

const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [alice.id, bruno.id, chloe.id], threshold: 2 } })
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

// Block 1, made by the engine itself: top-ups, a sale, a refill paid by card (its payment's ref), a
// gift, time credits that will melt, and a card funded and then blocked by its place's cash desk.
const block1Commands: ReadonlyArray<Record<string, unknown>> = [
  { kind: "topup", place: "raffinerie", reader: "desk-1", card: cardOf("04a1b2c3"), asset: "raf-eur", amount: 2_000, request: "top-1" },
  { kind: "topup", place: "raffinerie", card: cardOf("04a1b2c3d4e5f6"), asset: "raf-eur", amount: 1_000 },
  { kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 300 },
  { kind: "refill", wallet: `card:${cardOf("deadbeef")}`, amount: 1_000, ref: "pi_1" },
  { kind: "mint", asset: "raf-gift", to: `card:${cardOf("04a1b2c3")}`, amount: 100 },
  { kind: "topup", place: "manapany", card: cardOf("0102030405060708090a"), asset: "mana-time", amount: 100 },
  { kind: "refill", wallet: `card:${cardOf("cafebabe")}`, amount: 500, ref: "pi_2" },
  { kind: "block", reader: "desk-1", place: "raffinerie", card: cardOf("cafebabe"), reason: "lost", request: "lost-1" },
]

/** A ledger that executed block 1, whose commands then make transactions as the node's engine would. */
class Engine {
  readonly session = new Session(ledgerFromGenesis(genesis), t0 + 1_000, headerHash(block0.header))
  // The genesis's cards come first (PROTOCOL.md section 9.4), then block 1's commands.
  readonly block1Txs = [genesisCardsCommand(), ...block1Commands].map((command) => this.made(command))

  made(command: Record<string, unknown>, now = this.session.now): TxValue {
    this.session.now = now
    const outcome = this.session.must(command)
    if (!outcome.ok || outcome.tx === null) throw new Error(`${JSON.stringify(command)} made no transaction`)
    return wire(outcome.tx)
  }
}

const node = new Engine()
const block1Txs = node.block1Txs
const block1: TestBlock = { header: headerOf(1, headerHash(block0.header), t0 + 1_000, block1Txs), txs: block1Txs }
const made = (command: Record<string, unknown>): TxValue => node.made(command)
const session = node.session
const cardHolds = { gift: session.balance(`card:${cardOf("04a1b2c3")}`, "raf-gift"), euros: session.balance(`card:${cardOf("04a1b2c3")}`, "raf-eur") }

// Block 2, honest: two sales.
session.now = t0 + 2_000
const block2Txs = [
  made({ kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 500 }),
  made({ kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3d4e5f6"), amount: 200 }),
]
const block2: TestBlock = { header: headerOf(2, headerHash(block1.header), t0 + 2_000, block2Txs), txs: block2Txs }

// Block 3's transactions: a sale. Its header (and time) is made by the test that sends it.
session.now = t0 + 3_000
const block3Txs = [made({ kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3d4e5f6"), amount: 100 })]

const hashOf = (block: TestBlock): string => headerHash(block.header)
/**
 * A transaction whose command was edited, with the approvals that command gets from the federation's
 * signers (none when it needs none): what a node holding the stewards' keys would forge, so that only
 * re-executing the command can refuse it.
 */
const resigned = (tx: TxValue): TxValue => {
  const { approvals: _approvals, ...rest } = tx
  const approvals = new Engine().session.approvalsOf(commandOf(tx))
  return approvals === undefined ? rest : { ...rest, approvals: sortedApprovals(approvals) }
}
const copy = <T>(value: T): T => structuredClone(value)
/** Block 2's transactions with one changed; the header is left as it was. */
const editedTxs = (edit: (txs: TxValue[]) => void): TxValue[] => {
  const txs = copy(block2.txs) as TxValue[]
  edit(txs)
  return txs
}
const legsOf = (tx: TxValue | undefined): Record<string, unknown>[] => {
  const legs = tx?.["legs"] as Record<string, unknown>[] | undefined
  if (legs === undefined || legs.length === 0) throw new Error("the transaction has no leg")
  return legs
}
const firstLeg = (tx: TxValue | undefined): Record<string, unknown> => legsOf(tx)[0] as Record<string, unknown>
const commandOf = (tx: TxValue): Record<string, unknown> => tx["command"] as Record<string, unknown>
/** A block 2 of these transactions, sealed at `time`: its root and count are right. */
const block2Of = (txs: readonly TxValue[], time = t0 + 2_000): TestBlock => ({ header: headerOf(2, hashOf(block1), time, txs), txs })

/**
 * A sale of one more than the card holds (its gift and its euros), its legs those the command would
 * make: the engine refuses the command.
 */
const overdraft = block2Of([
  resigned({
    ...copy(block2Txs[0] as TxValue),
    id: "tx-overdraft",
    command: { ...commandOf(block2Txs[0] as TxValue), amount: cardHolds.gift + cardHolds.euros + 1 },
    legs: [
      { amount: cardHolds.gift, asset: "raf-gift", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie" },
      { amount: cardHolds.euros + 1, asset: "raf-eur", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie" },
    ],
  }),
])

/**
 * Block 2 carrying block 1's first top-up again, same id, time and command, first (its time is then
 * not before the last one's): its root and count are right, and it re-executes to the very same
 * transaction (a top-up draws on an issuance wallet), so only a replica that knows which
 * transactions it holds can tell. Applied, it would credit the card 2,000 a second time.
 */
const replayed = block2Of([copy(block1Txs[1] as TxValue), ...block2.txs])

/**
 * Block 2 carrying block 1's refill again under a new id: the same payment (its ref) would credit
 * the card a second time. Its legs apply (a refill draws on the issuance wallet) and its id is new.
 */
const paidTwice = block2Of([{ ...copy(block1Txs[4] as TxValue), id: "tx-refill-again" }, ...block2.txs])

/** Tampered versions of block 2, each with the code of the check that must catch it. */
const tamperedProposals: ReadonlyArray<{ what: string; code: string; block: TestBlock }> = [
  { what: "an amount changed in a leg, header unchanged", code: "reexecution", block: { header: block2.header, txs: editedTxs((txs) => (firstLeg(txs[0])["amount"] = 99)) } },
  {
    what: "a leg added, header unchanged",
    code: "reexecution",
    block: {
      header: block2.header,
      txs: editedTxs((txs) => legsOf(txs[1]).push({ amount: 100, asset: "raf-eur", from: "place:raffinerie", to: `card:${cardOf("04a1b2c3d4e5f6")}` })),
    },
  },
  { what: "a wrong prev", code: "prev", block: { header: { ...block2.header, prev: hashOf(block0) }, txs: block2.txs } },
  { what: "a wrong txRoot in the header", code: "txRoot", block: { header: { ...block2.header, txRoot: txRootOfTexts([]) }, txs: block2.txs } },
  { what: "a height skipped", code: "height", block: { header: { ...block2.header, height: 3 }, txs: block2.txs } },
  { what: "a time before block 1's", code: "time", block: { header: { ...block2.header, time: (t0 + 999) as TimeMs }, txs: block2.txs } },
  { what: "a txCount that is not the number of transactions", code: "txCount", block: { header: { ...block2.header, txCount: 3 }, txs: block2.txs } },
  { what: "another federation's block", code: "federation", block: { header: { ...block2.header, federation: "elsewhere" as FederationId }, txs: block2.txs } },
  { what: "a transaction with a field no transaction has", code: "malformed", block: { header: block2.header, txs: editedTxs((txs) => ((txs[0] as TxValue)["tip"] = 1)) } },
  // Cards by pseudonym (PROTOCOL.md section 9.4): a uid in a block is refused as it is decoded.
  {
    what: "a card uid in a block, in a sale's card and its leg",
    code: "malformed",
    block: block2Of(
      editedTxs((txs) => {
        const sale = txs[0] as TxValue
        sale["card"] = "04a1b2c3"
        sale["command"] = { ...(sale["command"] as object), card: "04a1b2c3" }
        firstLeg(sale)["from"] = "card:04a1b2c3"
      }),
    ),
  },
]

/**
 * Forged commands (PROTOCOL.md section 9.1): blocks whose header, root and count are right and whose
 * transactions are well formed, so that only re-executing each transaction's command against the
 * ledger tells them apart from honest ones. `says` is what the reason must say after its code.
 */
interface Forged {
  readonly what: string
  readonly code: string
  readonly says: RegExp
  readonly block: TestBlock
}
const notMade = /is not what its command makes/
const refused = (status: string) => new RegExp(`the engine refuses its command: ${status} `)
/** What the engine makes of commands after block 1, at these times: the transactions a dishonest node starts from. */
const madeAfterBlock1 = (...runs: ReadonlyArray<readonly [Record<string, unknown>, number]>): TxValue[] => {
  const engine = new Engine()
  return runs.map(([command, now]) => engine.made(command, now))
}
const at2 = t0 + 2_000
const fedMint = { kind: "mint", asset: "fed", to: `card:${cardOf("04a1b2c3")}`, amount: 1_000, request: "fed-1" }
/** The approvals of these keys of a raw command, over block 0's hash (or another). */
const approvalsBy = (signers: ReadonlyArray<{ readonly id: string; readonly key: TestKey["key"] }>, raw: Record<string, unknown>, genesisHash = hashOf(block0)) => {
  const command = decodeCommand(raw)
  if (!command.ok) throw new Error(`not a command: ${command.message}`)
  return sortedApprovals(signers.map((signer) => signApproval(signer.key, signer.id as ValidatorId, genesisHash, command.value)))
}
/** When the time credits of block 1, idle 30 days, have melted for two 7-day periods. */
const meltMs = t0 + 1_000 + 44 * day
const withReader = (tx: TxValue, reader: string): TxValue => resigned({ ...tx, reader, command: { ...commandOf(tx), reader } })

const forgedProposals: readonly Forged[] = [
  { what: "a sale of more than the card holds, its legs those of its command", code: "reexecution", says: refused("insufficient_funds"), block: overdraft },
  {
    what: "a sale whose legs the cascade would not make (the card's euros, its gift left)",
    code: "reexecution",
    says: notMade,
    block: block2Of(editedTxs((txs) => ((txs[0] as TxValue)["legs"] = [{ amount: 500, asset: "raf-eur", from: `card:${cardOf("04a1b2c3")}`, to: "place:raffinerie" }]))),
  },
  {
    what: "a melt larger than the policy's",
    code: "reexecution",
    says: notMade,
    block: (() => {
      const [melt] = madeAfterBlock1([{ kind: "demurrage", wallet: `card:${cardOf("0102030405060708090a")}`, asset: "mana-time" }, meltMs]) as [TxValue]
      firstLeg(melt)["amount"] = (firstLeg(melt)["amount"] as number) + 1
      return block2Of([melt], meltMs)
    })(),
  },
  {
    what: "an exchange at another rate (6 time credits for 100 fed where the rate gives 5)",
    code: "reexecution",
    says: notMade,
    block: (() => {
      const [exchange] = madeAfterBlock1([{ kind: "exchange", wallet: `card:${cardOf("deadbeef")}`, asset: "mana-time", direction: "from_fed", amount: 100 }, at2]) as [TxValue]
      ;(legsOf(exchange)[1] as Record<string, unknown>)["amount"] = 6
      return block2Of([exchange])
    })(),
  },
  {
    what: "an online refund of more than its payment (1,001 fed of a refill of 1,000)",
    code: "reexecution",
    says: refused("refund_exceeds_payment"),
    block: (() => {
      const [withdrawal] = madeAfterBlock1([{ kind: "withdraw", payment: "pi_1", amount: 1_000 }, at2]) as [TxValue]
      commandOf(withdrawal)["amount"] = 1_001
      firstLeg(withdrawal)["amount"] = 1_001
      return block2Of([withdrawal])
    })(),
  },
  {
    what: "a sale by a reader of another place",
    code: "reexecution",
    says: refused("forbidden"),
    block: block2Of(madeAfterBlock1([{ kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 500, request: "s-1" }, at2]).map((tx) => withReader(tx, "mana-bar"))),
  },
  {
    what: "a top-up by a bar's reader",
    code: "reexecution",
    says: refused("forbidden"),
    block: block2Of(madeAfterBlock1([{ kind: "topup", place: "raffinerie", card: cardOf("04a1b2c3"), asset: "raf-eur", amount: 5_000, request: "t-1" }, at2]).map((tx) => withReader(tx, "bar-1"))),
  },
  {
    what: "a sale on a card blocked in block 1",
    code: "reexecution",
    says: refused("card_blocked"),
    block: block2Of([
      resigned({
        ...copy(block2Txs[1] as TxValue),
        id: "tx-blocked-sale",
        card: cardOf("cafebabe"),
        request: "s-blocked",
        command: { kind: "sale", place: "raffinerie", card: cardOf("cafebabe"), amount: 200, request: "s-blocked" },
        legs: [{ amount: 200, asset: "fed", from: `card:${cardOf("cafebabe")}`, to: "place:raffinerie" }],
      }),
    ]),
  },
  {
    what: "a transaction dated before the one before it",
    code: "time",
    says: /time \d+ is before the one before it/,
    block: block2Of(madeAfterBlock1([block1Commands[2] as Record<string, unknown>, at2], [block1Commands[2] as Record<string, unknown>, at2 - 500])),
  },
  {
    what: "a transaction dated after its block",
    code: "time",
    says: /is after its block's/,
    block: block2Of(madeAfterBlock1([block1Commands[2] as Record<string, unknown>, at2 + 500]), at2),
  },
  { what: "a transaction without its command", code: "reexecution", says: /carries no command/, block: block2Of(editedTxs((txs) => delete (txs[0] as TxValue)["command"])) },
  {
    what: "a command that does not decode (its amount as text)",
    code: "reexecution",
    says: /its command is malformed at amount/,
    block: block2Of(editedTxs((txs) => (commandOf(txs[0] as TxValue)["amount"] = "500"))),
  },
  {
    what: "a check as a transaction (of kind badge, which moves nothing either)",
    code: "reexecution",
    says: /a check makes no transaction/,
    block: block2Of([{ id: "tx-check", kind: "badge", time: at2, place: "raffinerie", card: cardOf("04a1b2c3"), legs: [], command: { kind: "check", place: "raffinerie", card: cardOf("04a1b2c3") } }]),
  },
  {
    what: "the same transaction id twice",
    code: "reexecution",
    says: /appears twice/,
    block: block2Of(editedTxs((txs) => ((txs[1] as TxValue)["id"] = (txs[0] as TxValue)["id"]))),
  },
  {
    what: "a transaction of block 1 again (its id, time and command), first in block 2",
    code: "reexecution",
    says: /transaction tx-2 is already in the ledger/,
    block: replayed,
  },
  {
    what: "block 1's payment again under a new id",
    code: "reexecution",
    says: refused("duplicate_ref"),
    block: paidTwice,
  },
  // Authority (PROTOCOL.md section 9.3): who approved the command.
  {
    what: "a mint of fed without the stewards' approvals",
    code: "reexecution",
    says: refused("approvals_missing"),
    block: block2Of(madeAfterBlock1([fedMint, at2]).map(({ approvals: _approvals, ...tx }) => tx)),
  },
  {
    what: "a mint of fed approved by one steward of the two it needs",
    code: "reexecution",
    says: refused("approvals_missing"),
    block: block2Of(madeAfterBlock1([fedMint, at2]).map((tx) => ({ ...tx, approvals: (tx["approvals"] as unknown[]).slice(0, 1) }))),
  },
  {
    what: "a mint of fed approved by keys that are not stewards (validators)",
    code: "reexecution",
    says: refused("forbidden"),
    block: block2Of(madeAfterBlock1([fedMint, at2]).map((tx) => ({ ...tx, approvals: approvalsBy([alice, bruno], commandOf(tx)) }))),
  },
  {
    what: "a mint of fed approved by the stewards over another federation's genesis",
    code: "reexecution",
    says: refused("forbidden"),
    block: block2Of(madeAfterBlock1([fedMint, at2]).map((tx) => ({ ...tx, approvals: approvalsBy([...stewardSigners], commandOf(tx), "0".repeat(64)) }))),
  },
  {
    what: "block 1's approved mint again under a new id (its approvals replayed)",
    code: "reexecution",
    says: refused("conflict"),
    block: block2Of([{ ...copy(block1Txs[5] as TxValue), id: "tx-mint-again", time: at2 }]),
  },
  {
    what: "a validator added with the newcomer's approval only, not the members'",
    code: "reexecution",
    says: refused("approvals_missing"),
    block: block2Of([
      {
        id: "tx-coopt",
        kind: "validators",
        time: at2,
        legs: [],
        request: "v-1",
        memo: { keys: [alice.id, bruno.id, chloe.id, outsider.id], threshold: 2 },
        command: { kind: "validators", request: "v-1", add: outsider.id },
        approvals: approvalsBy([outsider], { kind: "validators", request: "v-1", add: outsider.id }),
      },
    ]),
  },
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

  for (const { what, code, says, block } of forgedProposals) {
    it(`rejects a forged block 2, and never votes it: ${what}: ${code}`, async () => {
      const reject = await answer(proposal(block))
      expect(reject).toEqual({ type: "reject", height: 2, reason: expect.any(String) })
      expect(reject["reason"]).toMatch(new RegExp(`^${code}: .+`))
      expect(reject["reason"]).toMatch(says)
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

  /**
   * Starts an engine that serves these final-block frames from the height each connection asks, and a
   * peer on it (on a copy of `dataDir` when given).
   */
  const follow = async (frames: readonly ReturnType<typeof final>[], dataDir?: string): Promise<PeerProcess> => {
    engine = await FakeEngine.start({
      genesisHash: hashOf(block0),
      onConnection: (connection) => {
        for (const frame of frames) if (frame.block.header.height >= connection.from) connection.send(frame)
      },
    })
    const copied = dataDir === undefined ? undefined : freshDataDir()
    if (dataDir !== undefined && copied !== undefined) cpSync(dataDir, copied, { recursive: true })
    peer = await startPeer({ engine: engine.url, genesisHash: hashOf(block0), ...(copied === undefined ? {} : { dataDir: copied }) })
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

  /** Asks a peer's `path` until `done` holds of its answer (bound the wait with `within`). */
  const poll = async (running: PeerProcess, path: string, done: (status: number, body: Record<string, unknown>) => boolean) => {
    for (;;) {
      const response = await memberFetch(running.http, path)
      const body = (await response.json()) as Record<string, unknown>
      if (done(response.status, body)) return body
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
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

  it("stops on a header root that is not its transactions': txRoot", async () => {
    const rootless = { header: { ...block2.header, txRoot: txRootOfTexts([]) }, txs: block2.txs }
    const running = await follow([...honest, final(rootless)])
    namesBlock1(await stopsWith(running, "txRoot", rootless))
  })

  describe("on a validly signed block 2 of forged commands", () => {
    // A new PGlite data dir costs tens of seconds on a busy machine (initdb in WASM); a copy of a
    // peer's that holds blocks 0 and 1, about half of that. Each peer then starts from block 2.
    let holdingBlock1: string | undefined

    beforeAll(async () => {
      const running = await follow(honest)
      await within("block 1 to be stored", poll(running, "/v1/blocks/1", (status) => status === 200), deadlineMs)
      expect(await within("the peer to stop", running.stop(), deadlineMs)).toBe(0)
      holdingBlock1 = running.dataDir
      peer = undefined
      await engine?.close()
      engine = undefined
    }, readyMsDefault + 2 * deadlineMs)

    afterAll(() => {
      if (holdingBlock1 !== undefined) rmSync(holdingBlock1, { recursive: true, force: true })
    })

    for (const { what, code, says, block } of forgedProposals) {
      it(`stops on ${what}: ${code}`, async () => {
        const running = await follow([...honest, final(block)], holdingBlock1)
        // A peer that let the block pass would ask for block 3 on a new connection instead of stopping.
        const skipped = (engine as FakeEngine).connection(1).then((connection) => `asked again from ${connection.from}`)
        expect(await within("the peer to stop or go on", Promise.race([running.exited, skipped]), deadlineMs), running.output()).toBe(3)
        const evidence = await stopsWith(running, code, block)
        namesBlock1(evidence)
        expect(evidence["reason"]).toMatch(says)
      }, readyMsDefault + deadlineMs)
    }
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
    const health = await within("the peer to reach height 2", poll(running, "/v1/health", (_, body) => body["height"] === 2), deadlineMs)
    expect(health).toMatchObject({ ok: true, height: 2 })
    // The height is the replica's in memory; its block may reach storage, and the endpoint, just after.
    const block = (await within("block 2 to be served", poll(running, "/v1/blocks/2", (status) => status === 200), deadlineMs)) as unknown as {
      header: BlockHeader
      txs: unknown[]
      signatures: BlockSignature[]
    }
    expect(block.header).toEqual(block2.header)
    expect(headerHash(block.header)).toBe(hashOf(block2))
    expect(block.txs).toEqual(block2.txs)
    expect(block.signatures).toEqual(signatures(block2, [alice, bruno]))
    expect((await memberFetch(running.http, "/v1/blocks/3")).status).toBe(404)
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
  })

  it("has forged blocks 2 that are well formed, with their roots and counts right, which the engine refuses as the followers must", () => {
    const decoded = (block: TestBlock) => {
      const result = decodeBlock(JSON.parse(JSON.stringify(final(block).block)))
      if ("code" in result) throw new Error(faultText(result))
      return result
    }
    const first = decoded(block0)
    const chain = chainFromGenesisBlock(first.block, first.rawTxs)
    if ("code" in chain) throw new Error(faultText(chain))
    const one = decoded(block1)
    expect(followBlock(chain, one.block, one.rawTxs)).not.toHaveProperty("code")
    for (const { what, code, says, block } of forgedProposals) {
      const { block: forged, rawTxs } = decoded(block)
      expect(txRootOfTexts(block.txs.map(canonical)), what).toBe(block.header.txRoot)
      expect(block.header.txCount, what).toBe(block.txs.length)
      // A transaction of block 1 again is known only to a replica that stored block 1.
      if (block === replayed) continue
      const fault = checkBlock(chain, forged, rawTxs)
      expect(fault?.code, what).toBe(code)
      expect(fault?.message, what).toMatch(says)
    }
    expect(legsOf(overdraft.txs[0]).map((leg) => leg["amount"])).toEqual([cardHolds.gift, cardHolds.euros + 1])
  })
})
