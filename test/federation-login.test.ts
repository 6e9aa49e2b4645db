/**
 * The federation feed's login (PROTOCOL.md section 9.7) from both sides, with real processes.
 *
 * The built `gesell validator` against a fake engine (a plain `ws` server) that plays a node trying
 * to use the login as a signing oracle: a block hash offered as the nonce must get no signature
 * that verifies over that block hash, and a nonce of any other form than 32 bytes as 64 lowercase
 * hex gets no signature at all; one login per connection.
 *
 * A real node's feed: validators of the set in force have connection slots of their own that
 * public followers cannot fill; a key that is not a validator is refused before anything is sent;
 * a validator's reject reason is logged on one bounded line.
 */
import { rmSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { genesisHeader, headerHash, signatureValid, type BlockHeader } from "../engine/block.js"
import { sign, verify } from "../engine/ed25519.js"
import { feedLoginValid, memberHttpAuthorization, signFeedLogin } from "../engine/feed-login.js"
import { decodeGenesis, genesisTransaction } from "../engine/genesis.js"
import type { TimeMs } from "../engine/names.js"
import type { JsonValue } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { genesisDocument, ledgerDocumentOf, t0 } from "./federation.js"
import { FakeEngine, genesisHashOf, honestChallenge, nodeDataDir, startValidator, testKey, type FederationConnection, type ValidatorProcess } from "./federation-process.js"
import { admin, blackBoxGenesis, outputLine, startNode, testObserver, within, type NodeProcess } from "./node-process.js"

const deadlineMs = 30_000
const [alice, bruno, chloe] = [testKey(1), testKey(2), testKey(3)] as const

const processes: Array<{ kill(): Promise<unknown> }> = []
afterAll(async () => {
  await Promise.all(processes.map((process) => process.kill()))
})

// A federation whose one validator is alice: block 0 is the first block she votes.
const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [alice.id], threshold: 1 } })
const decoded = decodeGenesis(document)
if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
const genesisTx = genesisTransaction(document as unknown as JsonValue, t0 as TimeMs)
const block0 = { header: genesisHeader(decoded.value, genesisTx, alice.id), txs: [JSON.parse(transactionJson(genesisTx)) as unknown] }
const genesisHash = headerHash(block0.header)
const proposalOf = (block: { header: BlockHeader; txs: unknown[] }) => ({ type: "proposal", block })

/** Whether the connection ended before the validator answered its challenge. */
const endedWithoutAuth = async (connection: FederationConnection): Promise<boolean> =>
  (await within("the connection to end", Promise.race([connection.auth.then(() => "auth"), connection.closed.then(() => "closed")]), deadlineMs)) ===
  "closed"

describe("gesell validator against a node that plays a signing oracle", () => {
  // Connection 0 offers block 0's hash as the nonce, then a second challenge; 1 and 2 offer nonces
  // of other forms; from 3 on the challenge is honest.
  const challenges = [
    { type: "challenge", nonce: genesisHash, genesis: genesisHash },
    { type: "challenge", nonce: genesisHash + genesisHash, genesis: genesisHash },
    { type: "challenge", nonce: genesisHash.toUpperCase(), genesis: genesisHash },
  ]
  let engine: FakeEngine
  let validator: ValidatorProcess

  afterAll(async () => {
    await validator?.kill()
    await engine?.close()
    if (validator !== undefined) rmSync(validator.dataDir, { recursive: true, force: true })
  })

  it("a block hash offered as the nonce gets a login, never a signature of that block hash, and no vote", async () => {
    engine = await FakeEngine.start({ genesisHash, challenge: (hash, index) => challenges[index] ?? honestChallenge(hash, index) })
    validator = await startValidator({ engine: engine.url, key: alice.seed, genesisHash })
    processes.push(validator)
    const feed = await within("the validator to connect", engine.connection(0), deadlineMs)
    const auth = await within("the validator's auth", feed.auth, deadlineMs)
    const signature = auth.frame["signature"] as string
    expect(signatureValid(genesisHash, { validator: alice.id, signature })).toBe(false)
    expect(verify(alice.id, Buffer.from(genesisHash, "hex"), signature)).toBe(false)
    // What it signed is the login for this nonce, which no block signature can be.
    expect(auth.verified).toBe(true)
    expect(feedLoginValid(alice.id, genesisHash, genesisHash, signature)).toBe(true)
    // A second challenge on the same connection gets nothing: the validator hangs up.
    feed.send({ type: "challenge", nonce: "7".repeat(64), genesis: genesisHash })
    await within("the validator to hang up", feed.closed, deadlineMs)
    await expect(feed.next()).rejects.toThrow(/closed/)
  })

  it("a nonce of 64 bytes, or in capitals, gets no signature at all", async () => {
    for (const index of [1, 2]) {
      const connection = await within(`connection ${index}`, engine.connection(index), deadlineMs)
      expect(await endedWithoutAuth(connection), `challenge ${JSON.stringify(challenges[index])}`).toBe(true)
      await expect(connection.next()).rejects.toThrow(/closed/)
    }
    expect(validator.stderr()).toMatch(/no login: the challenge's nonce is not 32 bytes as 64 lowercase hex digits/)
  })

  it("logs in to an honest challenge, refuses a block 0 of another hash than the one it logged in for, and votes block 0", async () => {
    const feed = await within("connection 3", engine.connection(3), deadlineMs)
    expect((await within("the validator's auth", feed.auth, deadlineMs)).verified).toBe(true)
    const other = { header: { ...block0.header, time: (t0 + 1) as TimeMs }, txs: block0.txs }
    feed.send(proposalOf(other))
    expect(await within("the validator's answer", feed.next(), deadlineMs)).toEqual({ type: "reject", height: 0, reason: expect.stringMatching(/^genesis: /) })
    feed.send(proposalOf(block0))
    const vote = await within("the validator's vote", feed.next(), deadlineMs)
    expect(vote).toMatchObject({ type: "vote", height: 0, hash: genesisHash, validator: alice.id })
    expect(signatureValid(genesisHash, { validator: alice.id, signature: vote["signature"] as string })).toBe(true)
  })

  it("pinned with --genesis-hash, does not log in to an engine of another federation", async () => {
    const elsewhere = await FakeEngine.start({ genesisHash })
    const pinned = await startValidator({ engine: elsewhere.url, key: alice.seed, genesisHash: "e".repeat(64) })
    processes.push(pinned)
    try {
      expect(await endedWithoutAuth(await within("the validator to connect", elsewhere.connection(0), deadlineMs))).toBe(true)
      expect(pinned.stderr()).toContain(`no login: the engine's federation has block 0 ${genesisHash}, not the pinned ${"e".repeat(64)}`)
    } finally {
      await pinned.kill()
      await elsewhere.close()
      rmSync(pinned.dataDir, { recursive: true, force: true })
    }
  })
})

/** A connection to a node's feed, with every frame it receives. */
class FeedSession {
  readonly frames: Record<string, unknown>[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private readonly waiting: (() => void)[] = []

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })))
    socket.on("message", (data) => {
      this.frames.push(JSON.parse(String(data)) as Record<string, unknown>)
      for (const wake of this.waiting.splice(0)) wake()
    })
  }

  /** Opens `/v1/federation` with this query; rejects with `HTTP <status>` when the upgrade is refused. */
  static open(node: NodeProcess, query: Record<string, string>): Promise<FeedSession> {
    const socket = new WebSocket(`ws://127.0.0.1:${node.port}/v1/federation?${new URLSearchParams(query).toString()}`)
    return new Promise((resolve, reject) => {
      // Made before `open` resolves, so that no frame sent at once is missed.
      const session = new FeedSession(socket)
      socket.once("open", () => resolve(session))
      socket.once("error", reject)
      socket.once("unexpected-response", (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)))
    })
  }

  /** The frame at `index`, once it has arrived. */
  async frame(index: number): Promise<Record<string, unknown>> {
    for (;;) {
      const frame = this.frames[index]
      if (frame !== undefined) return frame
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  send(frame: object): void {
    this.socket.send(JSON.stringify(frame))
  }

  /** Logs in as `key` (answers the challenge as a validator does); resolves with the challenge. */
  async logIn(key: typeof alice): Promise<Record<string, unknown>> {
    const challenge = await within("the challenge", this.frame(0), deadlineMs)
    const signature = signFeedLogin(key.key, challenge["genesis"] as string, challenge["nonce"] as string)
    this.send({ type: "auth", validator: key.id, signature })
    return challenge
  }
}

describe("a node's feed", () => {
  let node: NodeProcess
  /** alice's connection, logged in by the first case and used by the later ones. */
  let alicesFeed: FeedSession
  /** Two connections naming bruno, logging in and never answering. */
  let squatters: FeedSession[] = []
  const sessions: FeedSession[] = []
  const open = async (query: Record<string, string>): Promise<FeedSession> => {
    const session = await FeedSession.open(node, query)
    sessions.push(session)
    return session
  }

  afterAll(async () => {
    for (const session of sessions) session.socket.terminate()
    await node?.kill()
  })

  it("members that only read, filling their bound, do not stop a validator from logging in", async () => {
    // The node's own key is not in the set: block 0 waits for alice's or bruno's vote.
    const genesis = { ...blackBoxGenesis, validators: { keys: [alice.id, bruno.id], threshold: 1 } }
    node = await startNode({ genesis, env: { GESELL_FEED_PUBLIC_CONNECTIONS_MAX: "2", GESELL_FEED_VALIDATOR_CONNECTIONS_MAX: "3" } })
    processes.push(node)
    await open({ from: "0", member: testObserver.id })
    await open({ from: "0", member: testObserver.id })
    await expect(open({ from: "0", member: testObserver.id })).rejects.toThrow("HTTP 503")

    alicesFeed = await open({ from: "0", validator: alice.id })
    const challenge = await alicesFeed.logIn(alice)
    expect(challenge).toEqual({ type: "challenge", nonce: expect.stringMatching(/^[0-9a-f]{64}$/), genesis: expect.stringMatching(/^[0-9a-f]{64}$/) })
    const proposal = await within("block 0's proposal", alicesFeed.frame(1), deadlineMs)
    expect(proposal["type"]).toBe("proposal")
    const header = (proposal["block"] as { header: BlockHeader }).header
    expect(header.height).toBe(0)
    // The login names the federation by the hash of its block 0.
    expect(headerHash(header)).toBe(challenge["genesis"])
  })

  it("each connection gets a new nonce", async () => {
    squatters = await Promise.all([open({ validator: bruno.id }), open({ validator: bruno.id })])
    const nonces = await Promise.all(squatters.map(async (session) => (await within("the challenge", session.frame(0), deadlineMs))["nonce"]))
    expect(nonces[0]).not.toBe(nonces[1])
  })

  it("when the validators' slots are full, a login takes the place of the oldest one still logging in", async () => {
    // alice and the two connections naming bruno without his key hold the three slots.
    const validator = await open({ from: "0", validator: bruno.id })
    await validator.logIn(bruno)
    expect((await within("block 0's proposal", validator.frame(1), deadlineMs))["type"]).toBe("proposal")
    const [oldest, newer] = squatters
    if (oldest === undefined || newer === undefined) throw new Error("the squatters connected in the case before")
    expect(await within("the oldest squatter to be closed", oldest.closed, deadlineMs)).toEqual({ code: 1008, reason: expect.stringMatching(/newer login/) })
    expect(newer.socket.readyState).toBe(WebSocket.OPEN)
  })

  it("a key that is not a validator of the set in force is refused with 1008 and a reason, before anything is sent", async () => {
    const outsider = await open({ from: "0", validator: chloe.id })
    expect(await within("the refusal", outsider.closed, deadlineMs)).toEqual({ code: 1008, reason: `${chloe.id} is not a validator of the set in force` })
    expect(outsider.frames).toEqual([])
  })

  it("a login signed over the raw nonce (not the login text) is refused", async () => {
    const session = await open({ from: "0", validator: alice.id })
    const challenge = await within("the challenge", session.frame(0), deadlineMs)
    session.send({ type: "auth", validator: alice.id, signature: sign(alice.key, Buffer.from(challenge["nonce"] as string, "hex")) })
    expect(await within("the refusal", session.closed, deadlineMs)).toMatchObject({ code: 1008 })
    expect(session.frames).toHaveLength(1)
  })

  it("a validator's reject reason is logged on one line, bounded, without control characters", async () => {
    const reason = `height: bad\nvalidator x rejected nothing: FORGED\r\n\u001b[2J\u001b[31mred\u2028${"x".repeat(10_000)}`
    alicesFeed.send({ type: "reject", height: "0\nFORGED HEIGHT", reason })
    const line = await within("the reject's log line", outputLine(node, `validator ${alice.id} rejected block`), deadlineMs)
    expect(line).toMatch(/^validator \S+ rejected block \?: height: bad validator x rejected nothing: FORGED \[2J \[31mred x+…$/)
    expect(line.length).toBeLessThan(400)
    expect(node.output()).not.toMatch(/^(FORGED|validator x)/m)
    expect(node.output()).not.toMatch(/[\u001b\u2028]/)
  })

  it("a validator holds one connection: a new login replaces the older one", async () => {
    const again = await open({ from: "0", validator: alice.id })
    await again.logIn(alice)
    expect((await within("block 0's proposal", again.frame(1), deadlineMs))["type"]).toBe("proposal")
    expect(await within("the older connection to be closed", alicesFeed.closed, deadlineMs)).toEqual({ code: 1008, reason: expect.stringMatching(/replaced by a newer login/) })
  })
})

describe("members only (PROTOCOL.md section 9.7)", () => {
  const nodeKey = testKey(7)
  let node: NodeProcess
  const sessions: FeedSession[] = []
  const open = async (query: Record<string, string>): Promise<FeedSession> => {
    const session = await FeedSession.open(node, query)
    sessions.push(session)
    return session
  }
  /** The status of a GET of `path` with this Authorization header (none: undefined). */
  const statusOf = async (path: string, authorization?: string): Promise<number> =>
    (await fetch(`${node.http}${path}`, authorization === undefined ? {} : { headers: { authorization } })).status

  afterAll(async () => {
    for (const session of sessions) session.socket.terminate()
    await node?.kill()
  })

  it("the feed serves the observers and the validators that log in, and no one else", async () => {
    // The node signs its own blocks: block 0 is final at once. The genesis's observer is the test observer.
    const genesis = { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } }
    node = await startNode({ genesis, dataDir: nodeDataDir(nodeKey.seed) })
    processes.push(node)
    const anonymous = await open({ from: "0" })
    expect(await within("the refusal", anonymous.closed, deadlineMs)).toEqual({ code: 1008, reason: expect.stringMatching(/for the federation's members/) })
    expect(anonymous.frames).toEqual([])
    const stranger = await open({ from: "0", member: chloe.id })
    expect(await within("the refusal", stranger.closed, deadlineMs)).toEqual({ code: 1008, reason: `${chloe.id} is not a member of the federation (a validator in force or an observer)` })
    expect(stranger.frames).toEqual([])
    // Naming the observer without its key: the login fails.
    const impostor = await open({ from: "0", member: testObserver.id })
    await within("the challenge", impostor.frame(0), deadlineMs)
    impostor.send({ type: "auth", validator: testObserver.id, signature: signFeedLogin(chloe.key, "0".repeat(64), "0".repeat(64)) })
    expect(await within("the refusal", impostor.closed, deadlineMs)).toMatchObject({ code: 1008 })
    expect(impostor.frames).toHaveLength(1)

    const observer = await open({ from: "0", member: testObserver.id })
    await observer.logIn({ ...alice, id: testObserver.id, key: testObserver.key })
    const block = await within("block 0", observer.frame(1), deadlineMs)
    expect(block["type"]).toBe("block")
    expect((block["block"] as { header: BlockHeader }).header.height).toBe(0)
  })

  it("over HTTP, blocks need a member's credentials; headers are public", async () => {
    const headers = (await (await fetch(`${node.http}/v1/headers?from=0&limit=10`)).json()) as { headers: Array<{ height: number; hash: string; header: BlockHeader; signatures: unknown[] }> }
    const [zero] = headers.headers
    if (zero === undefined) throw new Error("block 0 is final: its header is public")
    expect(zero).toMatchObject({ height: 0, hash: headerHash(zero.header), signatures: [expect.objectContaining({ validator: nodeKey.id })] })
    const genesisHash = zero.hash
    const now = Date.now()
    expect(await statusOf("/v1/blocks/0")).toBe(401)
    expect(await statusOf("/v1/blocks?from=0")).toBe(401)
    expect(await statusOf("/v1/blocks/0", memberHttpAuthorization(chloe.id, chloe.key, genesisHash, now)), "a key that is no member").toBe(401)
    expect(await statusOf("/v1/blocks/0", memberHttpAuthorization(testObserver.id, testObserver.key, "0".repeat(64), now)), "signed for another federation").toBe(401)
    expect(await statusOf("/v1/blocks/0", memberHttpAuthorization(testObserver.id, testObserver.key, genesisHash, now - 61_000)), "too old").toBe(401)
    expect(await statusOf("/v1/blocks/0", memberHttpAuthorization(testObserver.id, chloe.key, genesisHash, now)), "another key's signature").toBe(401)
    expect(await statusOf("/v1/blocks/0", memberHttpAuthorization(testObserver.id, testObserver.key, genesisHash, now))).toBe(200)
    expect(await statusOf("/v1/blocks?from=0", memberHttpAuthorization(nodeKey.id, nodeKey.key, genesisHash, now)), "a validator").toBe(200)
  })

  it("an observer added by the stewards' observers transaction reads at once; one removed no longer does", async () => {
    const genesisHash = await genesisHashOf(node)
    const chloeReads = async () => statusOf("/v1/blocks/0", memberHttpAuthorization(chloe.id, chloe.key, genesisHash, Date.now()))
    expect(await chloeReads()).toBe(401)
    const added = await admin(node, "POST", "/v1/admin/commands", { kind: "observers", keys: [testObserver.id, chloe.id] })
    expect(added.body).toMatchObject({ ok: true, tx: { kind: "observers" } })
    expect(await chloeReads()).toBe(200)
    const feed = await open({ from: "0", member: chloe.id })
    await feed.logIn(chloe)
    expect((await within("block 0", feed.frame(1), deadlineMs))["type"]).toBe("block")
    const removed = await admin(node, "POST", "/v1/admin/commands", { kind: "observers", keys: [testObserver.id] })
    expect(removed.body).toMatchObject({ ok: true })
    expect(await chloeReads()).toBe(401)
    const refused = await open({ from: "0", member: chloe.id })
    expect(await within("the refusal", refused.closed, deadlineMs)).toMatchObject({ code: 1008 })
  })
})
