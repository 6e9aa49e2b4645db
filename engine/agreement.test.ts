/**
 * Agreement of node and replicas by construction (ledger format 2): whatever the node commits, a
 * replica that re-executes the commands its blocks carry accepts, and ends on the node's ledger.
 * Every scenario of the statuses test that commits a transaction (one per status `ok` of every
 * command kind, test/scenarios.ts) is played on a node, which seals its scene and then its
 * transaction in blocks as the producer does; a replica built from the same block 0 follows the
 * scene's blocks, checks the last one (which changes nothing), follows it, and must hold the node's
 * balances, memberships, cards and registry. Then random commands of every kind after an opening
 * that puts money about, sealed in random cuts, on a fresh replica each time.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import {
  blockJson,
  chainFromGenesisBlock,
  checkBlock,
  decodeBlock,
  faultText,
  followBlock,
  genesisHeader,
  headerHash,
  txRootOfTexts,
  type Block,
  type BlockFault,
  type BlockHeader,
  type Chain,
} from "./block.js"
import { commandKinds, type CommandKind } from "./command.js"
import type { Executed } from "./execute.js"
import { decodeGenesis, genesisTransaction, ledgerFromGenesis } from "./genesis.js"
import type { TimeMs, ValidatorId } from "./names.js"
import type { JsonValue, Transaction } from "./state.js"
import { transactionJson } from "./transaction.js"
import { day, genesisCardsCommand, genesisCardsOf, genesisDocument, ledgerDocumentOf, Session, t0 } from "../test/federation.js"
import { ledgerContents } from "../test/ledger-contents.js"
import { anyCommand, delay, open } from "../test/random-commands.js"
import { allScenarios, cardW, raf, title, uid, user, type GenesisDocument, type Raw, type Scenario } from "../test/scenarios.js"

const proposer = genesisDocument.validators.keys[0] as ValidatorId
/** A node seals at most this many transactions in a block (its blockTxMax is larger; more blocks test more). */
const blockTxMax = 256

/** A node: it executes commands as the writer does, and keeps what each commits for the next block. */
class Node extends Session {
  private pending: Transaction[] = []
  last: Sealed

  constructor(readonly document: GenesisDocument) {
    const ledgerDoc = ledgerDocumentOf(document)
    const genesis = decodeGenesis(ledgerDoc)
    if (!genesis.ok) throw new Error(`test genesis rejected: ${genesis.field}: ${genesis.message}`)
    super(ledgerFromGenesis(genesis.value), t0)
    const tx = genesisTransaction(ledgerDoc as unknown as JsonValue, t0 as TimeMs)
    const header = genesisHeader(genesis.value, tx, proposer)
    this.last = { header, hash: headerHash(header), text: blockJson(header, [transactionJson(tx)], undefined), txs: [tx] }
    this.state.genesisHash = this.last.hash
    // The genesis's cards come first, by pseudonym, as block 1 (PROTOCOL.md section 9.4).
    const cards = genesisCardsOf(document)
    if (cards.length > 0) this.must(genesisCardsCommand(cards))
  }

  override run(raw: Raw): Executed {
    const outcome = super.run(raw)
    if (outcome.ok && !outcome.replayed && outcome.tx !== null) this.pending.push(outcome.tx)
    return outcome
  }

  /** Seals what was committed since the last block, in blocks of at most blockTxMax, at the node's time. */
  seal(): Sealed[] {
    const sealed: Sealed[] = []
    do {
      this.last = sealAfter(this.last, this.pending.splice(0, blockTxMax), this.now)
      sealed.push(this.last)
    } while (this.pending.length > 0)
    return sealed
  }
}

interface Sealed {
  readonly header: BlockHeader
  readonly hash: string
  /** The block as the node serves it: header and canonical texts, no signatures. */
  readonly text: string
  readonly txs: readonly Transaction[]
}

/** A block the way the producer seals one: canonical texts, their root, the previous header's hash. */
const sealAfter = (prev: Sealed, txs: readonly Transaction[], time: number): Sealed => {
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
  return { header, hash: headerHash(header), text: blockJson(header, texts, undefined), txs }
}

const isFault = (value: object): value is BlockFault => "code" in value && "message" in value

/** What a replica does with a block's text: parse and decode it. */
const received = (sealed: Sealed): { readonly block: Block; readonly rawTxs: readonly unknown[] } => {
  const decoded = decodeBlock(JSON.parse(sealed.text))
  if (isFault(decoded)) throw new Error(`the node's block ${sealed.header.height} does not decode: ${faultText(decoded)}`)
  return decoded
}

/** A replica of the node's federation, from its block 0. */
const replicaOf = (block0: Sealed): Chain => {
  const { block, rawTxs } = received(block0)
  const chain = chainFromGenesisBlock(block, rawTxs)
  if (isFault(chain)) throw new Error(`block 0 refused: ${faultText(chain)}`)
  return chain
}

/** The replica checks the block, which changes nothing, then follows it. */
const follows = (chain: Chain, sealed: Sealed): void => {
  const { block, rawTxs } = received(sealed)
  const before = ledgerContents(chain.state)
  const checked = checkBlock(chain, block, rawTxs)
  expect(checked === undefined ? "accepted" : faultText(checked), `block ${sealed.header.height} checked`).toBe("accepted")
  expect(ledgerContents(chain.state), "a check changes nothing").toEqual(before)
  const followed = followBlock(chain, block, rawTxs)
  expect(isFault(followed) ? faultText(followed) : "followed", `block ${sealed.header.height} followed`).toBe("followed")
  expect(chain.last.hash).toBe(sealed.hash)
}

/**
 * Plays a scenario on a node: its scene, sealed, then its command, sealed alone. A replica follows
 * the scene's blocks and then the command's, and must end on the node's ledger.
 */
const agree = (scenario: Scenario): { node: Node; chain: Chain; tx: Transaction } => {
  const node = new Node(scenario.genesis ?? genesisDocument)
  const block0 = node.last
  scenario.scene?.(node)
  const scene = node.seal()
  const outcome = node.run(scenario.command)
  expect(outcome.status, outcome.ok ? "ok" : `${outcome.status}: ${outcome.message}`).toBe("ok")
  const tx = outcome.ok ? outcome.tx : null
  if (tx === null) throw new Error("the scenario commits no transaction")
  const [last, ...more] = node.seal()
  expect(more).toEqual([])
  expect(last?.txs).toEqual([tx])
  const chain = replicaOf(block0)
  for (const sealed of scene) follows(chain, sealed)
  if (last !== undefined) follows(chain, last)
  expect(ledgerContents(chain.state)).toEqual(ledgerContents(node.state))
  return { node, chain, tx }
}

/** The scenarios that commit a transaction: every `ok` of every kind but check, which commits none. */
const committing = allScenarios().filter(({ kind, scenario }) => scenario.status === "ok" && kind !== "check")

describe("a replica accepts what every scenario commits, and ends on the node's ledger", () => {
  it("has a committing scenario for every kind of command that commits", () => {
    expect(new Set(committing.map(({ kind }) => kind))).toEqual(new Set(commandKinds.filter((kind) => kind !== "check")))
  })

  it.each(committing.map(({ kind, scenario }) => [`${kind} ${title(scenario)}`, scenario] as const))("%s", (_, scenario) => {
    const { tx } = agree(scenario)
    expect(tx.command).toBeDefined()
  })
})

describe("the cases that split node and replicas", () => {
  const scenarioNamed = (kind: CommandKind, start: string): Scenario => {
    const found = allScenarios().find((entry) => entry.kind === kind && entry.scenario.name?.startsWith(start) === true)
    if (found === undefined) throw new Error(`no ${kind} scenario named ${start}`)
    return found.scenario
  }

  it("a fusion of a card holding a membership: the replica moves the membership and the card's wallet too", () => {
    const { chain, tx } = agree(scenarioNamed("fusion", "every balance and membership moves"))
    expect(tx.legs.some((leg) => leg.until !== undefined)).toBe(true)
    expect(chain.state.wallets.get(user as never)?.memberships.get("raf-member" as never)).toBe(t0 + 60 * day)
    expect(chain.state.wallets.get(cardW as never)?.memberships.size ?? 0).toBe(0)
    expect(chain.state.cards.get(uid as never)?.wallet).toBe(user)
  })

  it("a void with a refund place: the replica pays the place, burns the local money and voids the card", () => {
    const { chain, tx } = agree(scenarioNamed("void", "voided with a refund place"))
    expect(tx.legs.length).toBeGreaterThan(0)
    expect(chain.state.cards.get(uid as never)?.status).toBe("voided")
    expect(chain.state.wallets.get(raf as never)?.balances.get("fed" as never)).toBe(200)
    expect(chain.state.wallets.get(cardW as never)?.balances.get("raf-eur" as never)).toBeUndefined()
  })
})

describe("random commands of every kind, sealed in random cuts", () => {
  it("are accepted by a fresh replica, which ends on the node's ledger", () => {
    const committed = new Set<string>()
    // Each step: a command, the time since the one before, and whether the node seals after it.
    const step = fc.tuple(anyCommand, delay, fc.nat(4).map((dice) => dice === 0))
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const node = new Node(genesisDocument)
        const blocks = [node.last]
        open(node)
        for (const [raw, wait, seal] of steps) {
          node.now += wait
          const outcome = node.run(raw)
          if (outcome.ok && outcome.tx !== null) committed.add(outcome.tx.kind)
          if (seal) blocks.push(...node.seal())
        }
        blocks.push(...node.seal())
        const chain = replicaOf(blocks[0] as Sealed)
        for (const sealed of blocks.slice(1)) follows(chain, sealed)
        expect(ledgerContents(chain.state)).toEqual(ledgerContents(node.state))
      }),
      { numRuns: 150, seed: 11 },
    )
    // Guards the generator: the runs committed every kind that makes a transaction.
    expect([...committed].sort()).toEqual(commandKinds.filter((kind) => kind !== "check").sort())
  })
})
