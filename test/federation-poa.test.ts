/**
 * Proof of Authority with real processes on loopback: a node, `gesell validator` processes and a
 * `gesell peer`, each with its own storage. Finality with validators down and back; the node taking
 * taps meanwhile; co-optation adding and removing a validator at the right height; a fresh peer
 * catching up on more than 10,000 blocks with the node's supply exactly.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  admin,
  blackBoxGenesis,
  freshDataDir,
  ReaderClient,
  startNode,
  tokenOf,
  within,
  type NodeProcess,
  approvedCommand,
  memberFetch,
  outputLine,
  runCli,
  testObserver,
  testSteward,
} from "./node-process.js"
import {
  genesisHashOf,
  nodeDataDir,
  startPeer,
  startValidator,
  testKey,
  writeKeyFile,
  type FollowerProcess as CliProcess,
  type TestKey,
} from "./federation-process.js"

const processes: Array<CliProcess | NodeProcess> = []
afterAll(async () => {
  await Promise.all(processes.map((process) => process.kill()))
})

const track = <P extends CliProcess | NodeProcess>(process: P): P => {
  processes.push(process)
  return process
}

/** A GET of a node's or a peer's path; as the test observer, a member, for the blocks. */
const getJson = async (base: string, path: string): Promise<Record<string, unknown>> => (await (await memberFetch(base, path)).json()) as Record<string, unknown>

interface FinalBlock {
  readonly header: { readonly height: number; readonly txCount: number }
  readonly txs: ReadonlyArray<{ readonly kind: string; readonly memo?: unknown; readonly approvals?: unknown }>
  readonly signatures: ReadonlyArray<{ readonly validator: string }>
}

/** Every final block the node serves, page by page. */
const finalBlocks = async (node: NodeProcess): Promise<FinalBlock[]> => {
  const blocks: FinalBlock[] = []
  for (;;) {
    const page = (await getJson(node.http, `/v1/blocks?from=${blocks.length}&limit=1000`))["blocks"] as FinalBlock[]
    if (page.length === 0) return blocks
    blocks.push(...page)
  }
}

/** Transactions in final blocks after block 0, but for the genesis's cards (unapproved `cards`, PROTOCOL.md section 9.4). */
const finalTransactions = async (node: NodeProcess): Promise<number> =>
  (await finalBlocks(node))
    .slice(1)
    .reduce((sum, block) => sum + block.txs.filter((tx) => !(tx.kind === "cards" && tx.approvals === undefined)).length, 0)

const metric = async (node: NodeProcess, name: string): Promise<number> => {
  const text = await (await fetch(`${node.http}/metrics`)).text()
  const line = text.split("\n").find((row) => row.startsWith(`${name} `))
  return Number(line?.split(" ")[1])
}

/** Polls until `probe` holds; the deadline only keeps a broken run from hanging. */
const eventually = async (what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> =>
  within(
    what,
    (async () => {
      while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 100))
    })(),
    timeoutMs,
  )

let topups = 0
/** Tops a card up `count` times at the cash desk; every one must be acknowledged. */
const topUp = async (node: NodeProcess, count: number, card = "04000000000001"): Promise<void> => {
  const desk = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
  const replies = await Promise.all(
    Array.from({ length: count }, () => desk.request({ type: "topup", id: `topup-${topups++}`, card, amount: 100, asset: "raf-gift" })),
  )
  desk.close()
  await desk.closed
  expect(replies.filter((reply) => reply.ok === true)).toHaveLength(count)
}

describe("three validators, threshold 2", () => {
  const [a, b, c] = [testKey(1), testKey(2), testKey(3)] as const
  const validatorDirs = [freshDataDir(), freshDataDir(), freshDataDir()] as const

  it("blocks become final with one validator down, not with two, and catch up when they return, across a crash of the node; a peer follows", async () => {
    const genesis = { ...blackBoxGenesis, validators: { keys: [a.id, b.id, c.id], threshold: 2 } }
    const dataDir = freshDataDir()
    const env = { GESELL_BLOCK_INTERVAL_MS: "20" }
    let node = track(await startNode({ genesis, dataDir, env }))
    // Members pin block 0 as the node printed it; a restarted node prints the same.
    const genesisHash = await genesisHashOf(node)
    const start = (key: TestKey, index: 0 | 1 | 2) => startValidator({ engine: node.http, key: key.seed, dataDir: validatorDirs[index], genesisHash }).then(track)
    const validators: CliProcess[] = await Promise.all([start(a, 0), start(b, 1), start(c, 2)])

    await topUp(node, 20)
    await eventually("20 transactions final with three validators", async () => (await finalTransactions(node)) === 20)

    await validators[0]?.kill()
    await topUp(node, 20)
    await eventually("40 transactions final with one validator down", async () => (await finalTransactions(node)) === 40)

    await validators[1]?.kill()
    await topUp(node, 20)
    await eventually("the block of the last top-ups sealed", async () => (await metric(node, "gesell_block_sealed_height")) > (await metric(node, "gesell_block_height")))
    // Absence cannot be awaited: give the one validator left time to vote, then look again.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await finalTransactions(node), "one signature of three is below the threshold").toBe(40)
    expect((await getJson(node.http, `/v1/health`))["transactions"], "the node kept taking taps (after the genesis's cards)").toBe(1 + 60)

    // kill -9 with a sealed block waiting for votes: the restarted node proposes the same block again.
    const sealedBefore = await metric(node, "gesell_block_sealed_height")
    const finalBefore = await metric(node, "gesell_block_height")
    await node.kill()
    await validators[2]?.kill()
    node = track(await startNode({ genesis, dataDir, env }))
    expect(await genesisHashOf(node)).toBe(genesisHash)
    // At least those: a top-up committed in a later batch than the block awaited above may have been
    // sealed only now, if the node was slow to get there before it was killed.
    expect(await metric(node, "gesell_block_sealed_height"), "the sealed blocks are read back").toBeGreaterThanOrEqual(sealedBefore)
    await Promise.all([start(a, 0), start(b, 1), start(c, 2)])
    await eventually("finality catches up once they return", async () => (await finalTransactions(node)) === 60)
    expect(await metric(node, "gesell_block_height"), "every sealed block final").toBe(await metric(node, "gesell_block_sealed_height"))
    expect(await metric(node, "gesell_block_height")).toBeGreaterThanOrEqual(sealedBefore)

    const blocks = await finalBlocks(node)
    for (const block of blocks) {
      const signers = block.signatures.map((signature) => signature.validator)
      expect(new Set(signers).size, `block ${block.header.height} has distinct signers`).toBe(signers.length)
      expect(signers.length).toBeGreaterThanOrEqual(2)
      for (const signer of signers) expect([a.id, b.id, c.id]).toContain(signer)
    }

    const metrics = await (await fetch(`${node.http}/metrics`)).text()
    const finalSinceRestart = blocks.length - 1 - finalBefore
    expect(metrics, "a finality lag for every block final since the restart").toMatch(new RegExp(`^gesell_finality_lag_seconds_count ${finalSinceRestart}$`, "m"))
    expect(metrics).toMatch(/^gesell_validator_votes_total\{outcome="counted"\} [1-9]\d*$/m)

    const peer = track(await startPeer({ engine: node.http, dataDir: freshDataDir(), genesisHash }))
    const height = blocks.length - 1
    await eventually("the peer holds every final block", async () => (await getJson(peer.http, `/v1/health`))["height"] === height)
    expect(await getJson(peer.http, `/v1/supply`)).toEqual(await getJson(node.http, `/v1/supply`))
    expect(await getJson(peer.http, `/v1/blocks/${height}`)).toEqual(await getJson(node.http, `/v1/blocks/${height}`))
  }, 300_000)
})

describe("blocks waiting for finality", () => {
  it("are bounded: with no validator answering, sealing pauses at blocksPendingTxMax while taps go on", async () => {
    // The genesis names a validator that never connects: no block can become final.
    const absent = testKey(7)
    const genesis = { ...blackBoxGenesis, validators: { keys: [absent.id], threshold: 1 } }
    // Blocks are sealed full only (the interval never runs out), so their sizes do not depend on
    // how the top-ups happen to be spread in time.
    const env = { GESELL_BLOCK_INTERVAL_MS: "600000", GESELL_BLOCK_TX_MAX: "5", GESELL_BLOCKS_PENDING_TX_MAX: "20" }
    const node = track(await startNode({ genesis, env }))
    await topUp(node, 50)
    // The ledger holds the genesis's cards too, registered with the genesis (PROTOCOL.md section 9.4).
    expect((await getJson(node.http, `/v1/health`))["transactions"], "every top-up committed").toBe(1 + 50)
    // Block 0 holds the genesis transaction and block 1 the genesis's cards (committed with it, sealed
    // as the node starts); 1 + 1 + 3 × 5 = 17 fit in 20, a fourth block of 5 top-ups does not.
    await eventually("three blocks of top-ups sealed", async () => (await metric(node, "gesell_block_sealed_height")) === 4)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await metric(node, "gesell_block_sealed_height"), "no fourth block of top-ups").toBe(4)
    expect(await metric(node, "gesell_block_height")).toBe(-1)
  }, 120_000)
})

describe("co-optation", () => {
  const nodeKey = testKey(4)
  const newcomer = testKey(5)

  it("a validator added by co-optation counts from the height after its block; once removed it stops counting", async () => {
    const dataDir = nodeDataDir(nodeKey.seed)
    const genesis = { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } }
    const node = track(await within("the node", startNode({ genesis, dataDir, env: { GESELL_BLOCK_INTERVAL_MS: "20" } }), 60_000))
    const genesisHash = await genesisHashOf(node)
    track(await within("the validator", startValidator({ engine: node.http, key: newcomer.seed, dataDir: freshDataDir(), genesisHash }), 60_000))
    /** Top-ups in blocks of their own: the ones before are final first. */
    const topUpAfterFinal = async (transactions: number) => {
      await eventually(`${transactions} transactions final`, async () => (await finalTransactions(node)) === transactions)
      await within("top-ups", topUp(node, 5), 30_000)
    }

    await topUpAfterFinal(0)
    // Co-optation: the node's key approves as the one member, but the newcomer must approve too.
    const unapproved = await within("an admin command", admin(node, "POST", "/v1/admin/commands", { kind: "validators", add: newcomer.id, threshold: 2 }), 30_000)
    expect(unapproved.status).toBe(403)
    expect(unapproved.body).toMatchObject({ ok: false, error: { code: "approvals_missing", message: expect.stringContaining(newcomer.id) } })
    const add = (await within("an approved command", approvedCommand(node, { kind: "validators", add: newcomer.id, threshold: 2 }, [newcomer]), 30_000)).body
    expect(add).toMatchObject({ ok: true, tx: { kind: "validators", memo: { keys: [nodeKey.id, newcomer.id], threshold: 2 } } })
    await topUpAfterFinal(6)
    // The set is now two with a threshold of 2: a removal needs both members' approvals.
    const remove = (await within("an approved command", approvedCommand(node, { kind: "validators", remove: newcomer.id, threshold: 1 }, [newcomer]), 30_000)).body
    expect(remove).toMatchObject({ ok: true, tx: { kind: "validators", memo: { keys: [nodeKey.id], threshold: 1 } } })
    await topUpAfterFinal(12)
    await eventually("every transaction final", async () => (await finalTransactions(node)) === 17)

    const blocks = await finalBlocks(node)
    const carrying = (keys: number) =>
      blocks.findIndex((block) => block.txs.some((tx) => tx.kind === "validators" && (tx.memo as { keys?: unknown[] }).keys?.length === keys && block.header.height > 0))
    const added = carrying(2)
    const removed = carrying(1)
    expect(added).toBeGreaterThan(0)
    expect(removed).toBeGreaterThan(added)
    const signers = (block: FinalBlock) => block.signatures.map((signature) => signature.validator).sort()
    for (const block of blocks.slice(0, added + 1)) expect(signers(block), `block ${block.header.height}, up to the addition`).toEqual([nodeKey.id])
    for (const block of blocks.slice(added + 1, removed + 1)) {
      expect(signers(block), `block ${block.header.height}, after the addition`).toEqual([nodeKey.id, newcomer.id].sort())
    }
    for (const block of blocks.slice(removed + 1)) expect(signers(block), `block ${block.header.height}, after the removal`).toEqual([nodeKey.id])
    expect(blocks.length).toBeGreaterThan(removed + 1)
  }, 180_000)
})

describe("a fresh peer", () => {
  const nodeKey = testKey(6)

  it("catches up on more than 10,000 blocks and its supply equals the node's exactly", async () => {
    const dataDir = nodeDataDir(nodeKey.seed)
    const genesis = { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } }
    // One transaction per block: every top-up makes a block.
    // Eight cash desk connections at once, past the default of four per reader (a fifth would close
    // the first); a round's connections may not all be seen closed when the next round opens its own.
    const env = { GESELL_BLOCK_TX_MAX: "1", GESELL_BLOCK_INTERVAL_MS: "5", GESELL_READER_CONNECTIONS_PER_READER_MAX: "64" }
    const node = track(await startNode({ genesis, dataDir, env }))
    const rounds = 21
    for (let round = 0; round < rounds; round++) {
      await Promise.all(Array.from({ length: 8 }, (_, connection) => topUp(node, 60, `04${(connection * 7 + 1).toString(16).padStart(12, "0")}`)))
    }
    // Block 1 holds the genesis's cards (PROTOCOL.md section 9.4), then one top-up per block.
    const transactions = 1 + rounds * 8 * 60
    await eventually("every top-up in a final block", async () => (await getJson(node.http, `/v1/health`))["height"] === transactions, 180_000)

    const peer = track(await startPeer({ engine: node.http, dataDir: freshDataDir(), genesisHash: await genesisHashOf(node) }))
    await eventually("the peer holds every block", async () => (await getJson(peer.http, `/v1/health`))["height"] === transactions, 240_000)
    expect(transactions).toBeGreaterThan(10_000)
    expect(await getJson(peer.http, `/v1/supply`)).toEqual(await getJson(node.http, `/v1/supply`))
    const last = await getJson(node.http, `/v1/blocks/${transactions}`)
    expect(await getJson(peer.http, `/v1/blocks/${transactions}`)).toEqual(last)
  }, 600_000)
})

describe("a federation of stewards and members (PROTOCOL.md sections 9.3 and 9.7)", () => {
  const [v1, v2, v3, v4] = [testKey(11), testKey(12), testKey(13), testKey(14)] as const
  const steward2 = testKey(15)

  /** A member's approval of a prepared command, signed by the command line as a member would. */
  const approvalByCli = async (role: "steward" | "validator", key: typeof v1, prepared: Record<string, unknown>, genesisHash: string) => {
    const dir = freshDataDir()
    const keyFile = writeKeyFile(key.seed, dir).file
    const commandFile = join(dir, "command.json")
    writeFileSync(commandFile, JSON.stringify(prepared))
    const args = role === "steward" ? ["steward", "sign"] : ["validator", "approve"]
    const run = await runCli([...args, "--key", keyFile, "--genesis-hash", genesisHash, "--command", commandFile])
    expect(run.code, run.output).toBe(0)
    const line = run.output.split("\n").find((row) => row.startsWith("{"))
    return JSON.parse(line ?? "null") as { key: string; signature: string }
  }

  it("two stewards approve a fed mint, the members co-opt a fourth validator, and an observer's peer follows all of it", async () => {
    // The node holds the first steward's key (the test steward) and signs with v1; v2 and v3 validate.
    const genesis = {
      ...blackBoxGenesis,
      validators: { keys: [v1.id, v2.id, v3.id], threshold: 2 },
      stewards: { keys: [testSteward.id, steward2.id], threshold: 2 },
      observers: [testObserver.id],
    }
    const node = track(await within("the node", startNode({ genesis, dataDir: nodeDataDir(v1.seed), env: { GESELL_BLOCK_INTERVAL_MS: "20" } }), 60_000))
    const genesisHash = await genesisHashOf(node)
    for (const key of [v2, v3]) track(await within("a validator", startValidator({ engine: node.http, key: key.seed, dataDir: freshDataDir(), genesisHash }), 60_000))
    const peer = track(await startPeer({ engine: node.http, dataDir: freshDataDir(), genesisHash }))

    // A fed mint: the node's steward alone is one of the two it needs.
    const mint = { kind: "mint", asset: "fed", to: "card:04000000000001", amount: 2_500, request: "fed-mint-1" }
    const alone = await admin(node, "POST", "/v1/admin/commands", mint)
    expect(alone.status).toBe(403)
    expect(alone.body).toMatchObject({ error: { code: "approvals_missing", message: expect.stringContaining("1 more of the stewards (2 of 2)") } })
    const preparedMint = await admin(node, "POST", "/v1/admin/commands/prepare", mint)
    expect(preparedMint.body).toMatchObject({ authority: { by: "stewards", count: 2 }, nodeApproves: [testSteward.id] })
    // The command stewards sign names the card by its pseudonym (PROTOCOL.md section 9.4), never by its uid.
    const pseudonym = String((await admin(node, "POST", "/v1/admin/cards/find", { card: "04000000000001" })).body["card"])
    expect(preparedMint.body["message"]).toBe(`gesell/approval/v1:${genesisHash}:{"amount":2500,"asset":"fed","kind":"mint","request":"fed-mint-1","to":"card:${pseudonym}"}`)
    const bySteward2 = await approvalByCli("steward", steward2, preparedMint.body, genesisHash)
    const minted = await admin(node, "POST", "/v1/admin/commands", { ...mint, approvals: [bySteward2] })
    expect(minted.body).toMatchObject({ ok: true, tx: { kind: "mint", approvals: expect.arrayContaining([bySteward2]) } })
    expect((minted.body["tx"] as { approvals: unknown[] }).approvals).toHaveLength(2)
    // The same approvals again, under the same request id: the first answer, nothing minted twice.
    expect((await admin(node, "POST", "/v1/admin/commands", { ...mint, approvals: [bySteward2] })).body).toEqual(minted.body)

    // Co-optation: v4 joins with the approvals of two members (the node's v1 and v2) and its own.
    const coopt = { kind: "validators", add: v4.id, threshold: 3, request: "coopt-v4" }
    const withoutMembers = await admin(node, "POST", "/v1/admin/commands", { ...coopt, approvals: [await approvalByCli("validator", v4, coopt, genesisHash)] })
    expect(withoutMembers.status).toBe(403)
    expect(withoutMembers.body).toMatchObject({ error: { code: "approvals_missing", message: expect.stringContaining("1 more of the validators") } })
    const preparedCoopt = (await admin(node, "POST", "/v1/admin/commands/prepare", coopt)).body
    expect(preparedCoopt).toMatchObject({ authority: { by: "validators", count: 2, newcomer: v4.id }, nodeApproves: [v1.id] })
    const approvals = [await approvalByCli("validator", v2, preparedCoopt, genesisHash), await approvalByCli("validator", v4, preparedCoopt, genesisHash)]
    const coopted = await admin(node, "POST", "/v1/admin/commands", { ...coopt, approvals })
    expect(coopted.body).toMatchObject({ ok: true, tx: { kind: "validators", memo: { keys: [v1.id, v2.id, v3.id, v4.id], threshold: 3 } } })
    track(await within("the new validator", startValidator({ engine: node.http, key: v4.seed, dataDir: freshDataDir(), genesisHash }), 60_000))

    // Blocks after the co-optation need 3 of the 4.
    await within("top-ups", topUp(node, 10), 30_000)
    await eventually("every transaction final", async () => (await finalTransactions(node)) === 12, 120_000)
    const blocks = await finalBlocks(node)
    const carrying = blocks.findIndex((block) => block.txs.some((tx) => tx.kind === "validators" && block.header.height > 0))
    for (const block of blocks.slice(carrying + 1)) expect(new Set(block.signatures.map((signature) => signature.validator)).size).toBeGreaterThanOrEqual(3)

    // The observer's peer re-executed all of it, approvals included, and holds the node's books.
    const height = blocks.length - 1
    await eventually("the peer holds every final block", async () => (await getJson(peer.http, "/v1/health"))["height"] === height)
    expect(await getJson(peer.http, "/v1/supply")).toEqual(await getJson(node.http, "/v1/supply"))
    expect(await getJson(peer.http, `/v1/blocks/${height}`)).toEqual(await getJson(node.http, `/v1/blocks/${height}`))
    expect(peer.output()).not.toMatch(/PEER STOPPED/)
  }, 300_000)
})

describe("payment checkers (PROTOCOL.md section 9.5)", () => {
  const [node1, checker] = [testKey(21), testKey(22)] as const

  it("a refill is final only once a payment checker has found its payment; one not paid is rejected and never final", async () => {
    // The node's key alone makes a block final, except a block holding a refill: it needs the checker's.
    const genesis = { ...blackBoxGenesis, validators: { keys: [node1.id, checker.id], threshold: 1, paymentCheckers: [checker.id] } }
    const node = track(await within("the node", startNode({ genesis, dataDir: nodeDataDir(node1.seed), env: { GESELL_BLOCK_INTERVAL_MS: "20" } }), 60_000))
    const genesisHash = await genesisHashOf(node)
    const payments = join(freshDataDir(), "payments.json")
    // The processor knows the card by its pseudonym (PROTOCOL.md section 9.4), as the node names it.
    const wallet = String((await admin(node, "POST", "/v1/admin/cards/find", { card: "04000000000001" })).body["wallet"])
    writeFileSync(payments, JSON.stringify({ pi_paid: { amount: 1_500, wallet } }))
    track(await within("the checker", startValidator({ engine: node.http, key: checker.seed, dataDir: freshDataDir(), genesisHash, payments }), 60_000))

    const paid = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:04000000000001", amount: 1_500, ref: "pi_paid" })
    expect(paid.body).toMatchObject({ ok: true })
    await eventually("the paid refill final", async () => (await finalTransactions(node)) === 1)
    const blocks = await finalBlocks(node)
    const refillBlock = blocks.find((block) => block.txs.some((tx) => tx.kind === "refill"))
    expect(refillBlock?.signatures.map((signature) => signature.validator)).toContain(checker.id)

    // The engine takes a refill whose payment was never made: the checker rejects its block.
    const unpaid = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:04000000000002", amount: 900, ref: "pi_never_paid" })
    expect(unpaid.body).toMatchObject({ ok: true })
    const line = await within("the checker's reject", outputLine(node, `validator ${checker.id} rejected block`), 30_000)
    expect(line).toMatch(/payment: refill \S+: no payment pi_never_paid/)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await finalTransactions(node), "the unpaid refill is not final, though the node signed it").toBe(1)
    // The supply counts final blocks only: the unpaid refill, committed, is not in it.
    const fed = ((await getJson(node.http, "/v1/supply"))["assets"] as Array<{ asset: string }>).find((asset) => asset.asset === "fed")
    expect(fed).toMatchObject({ circulation: 1_500, euros: { received: 1_500 } })
    expect(await metric(node, "gesell_block_sealed_height")).toBeGreaterThan(await metric(node, "gesell_block_height"))
    // And so after a restart, which counts the transactions committed after the last final one apart.
    await node.stop()
    const again = track(await within("the node again", startNode({ genesis, dataDir: node.dataDir, env: { GESELL_BLOCK_INTERVAL_MS: "20" } }), 60_000))
    const restarted = ((await getJson(again.http, "/v1/supply"))["assets"] as Array<{ asset: string }>).find((asset) => asset.asset === "fed")
    expect(restarted).toMatchObject({ circulation: 1_500, euros: { received: 1_500 } })
  }, 180_000)

  it("an online refund is final only once a payment checker has found the processor's refund; one never made is rejected", async () => {
    const genesis = { ...blackBoxGenesis, validators: { keys: [node1.id, checker.id], threshold: 1, paymentCheckers: [checker.id] } }
    const node = track(await within("the node", startNode({ genesis, dataDir: nodeDataDir(node1.seed), env: { GESELL_BLOCK_INTERVAL_MS: "20" } }), 60_000))
    const genesisHash = await genesisHashOf(node)
    const payments = join(freshDataDir(), "payments.json")
    const wallet = String((await admin(node, "POST", "/v1/admin/cards/find", { card: "04000000000001" })).body["wallet"])
    // What the processor did: the payment, and one refund of 400 of it.
    writeFileSync(payments, JSON.stringify({ cs_paid: { amount: 1_500, wallet }, re_done: { amount: 400, payment: "cs_paid" } }))
    track(await within("the checker", startValidator({ engine: node.http, key: checker.seed, dataDir: freshDataDir(), genesisHash, payments }), 60_000))

    const command = async (body: Record<string, unknown>) => expect((await admin(node, "POST", "/v1/admin/commands", body)).body).toMatchObject({ ok: true })
    await command({ kind: "refill", wallet: "card:04000000000001", amount: 1_500, ref: "cs_paid" })
    await command({ kind: "withdraw", payment: "cs_paid", amount: 400 })
    await command({ kind: "payback", payment: "cs_paid", ref: "re_done" })
    await eventually("the refund final", async () => (await finalTransactions(node)) === 3)
    const refunded = (await finalBlocks(node)).find((block) => block.txs.some((tx) => tx.kind === "payback"))
    expect(refunded?.signatures.map((signature) => signature.validator)).toContain(checker.id)
    // The backing proof holds: fed in circulation is what was received less what was refunded.
    const fed = ((await getJson(node.http, "/v1/supply"))["assets"] as Array<{ asset: string }>).find((asset) => asset.asset === "fed")
    expect(fed).toMatchObject({ circulation: 1_100, euros: { received: 1_500, refunded: 400, paidOut: 0 } })

    // The engine takes a payback whose refund the processor never made (a node lying about it): rejected.
    await command({ kind: "withdraw", payment: "cs_paid", amount: 300 })
    await eventually("the withdrawal final", async () => (await finalTransactions(node)) === 4)
    await command({ kind: "payback", payment: "cs_paid", ref: "re_never" })
    const line = await within("the checker's reject", outputLine(node, `validator ${checker.id} rejected block`), 30_000)
    expect(line).toMatch(/payment: payback \S+: no refund re_never/)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await finalTransactions(node), "the unmade refund is not final, though the node signed it").toBe(4)
    const after = ((await getJson(node.http, "/v1/supply"))["assets"] as Array<{ asset: string }>).find((asset) => asset.asset === "fed")
    expect(after, "the unmade refund is not counted: the supply is of final blocks").toMatchObject({ circulation: 1_100, euros: { received: 1_500, refunded: 400 } })
  }, 180_000)
})
