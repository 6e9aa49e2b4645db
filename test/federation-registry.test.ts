/**
 * The registry in the ledger (PROTOCOL.md section 9.2), with real processes: a node whose registry
 * is changed through the admin API (a place, an asset, a reader created then revoked, cards imported,
 * staff rights, a card blocked), taps made with the new reader, and a `gesell peer` that follows the
 * final blocks. The peer re-executes every transaction against its replica: its `/v1/supply` lists
 * the new asset, and once both are stopped, the registry, cards and wallets in the peer's storage
 * equal the node's.
 */
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { stateFromSnapshot } from "../actors/snapshot.js"
import { headerHash, type BlockHeader } from "../engine/block.js"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { nodeDataDir, startPeer, testKey, type FollowerProcess } from "./federation-process.js"
import { ledgerContents } from "./ledger-contents.js"
import { admin, blackBoxGenesis, freshDataDir, memberFetch, ReaderClient, startNode, within, type NodeProcess } from "./node-process.js"

const processes: Array<FollowerProcess | NodeProcess> = []
afterAll(async () => {
  await Promise.all(processes.map((process) => process.kill()))
})
const track = <P extends FollowerProcess | NodeProcess>(process: P): P => {
  processes.push(process)
  return process
}

/** A GET of a node's or a peer's path; as the test observer, a member, for the blocks. */
const getJson = async (base: string, path: string): Promise<Record<string, unknown>> => (await (await memberFetch(base, path)).json()) as Record<string, unknown>

const eventually = async (what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> =>
  within(
    what,
    (async () => {
      while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 100))
    })(),
    timeoutMs,
  )

/** What a stopped process's PGlite data dir holds, as the engine reads it. */
const storedContents = (dataDir: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* Ledger
      return ledgerContents(stateFromSnapshot(yield* store.load(0)))
    }).pipe(Effect.provide(pgliteLedger(join(dataDir, "pglite"))), Effect.scoped),
  )

const ok = (answer: { status: number; body: Record<string, unknown> }, what: string) => {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(200)
  return answer.body
}

describe("the registry in the ledger", () => {
  const nodeKey = testKey(21)

  it("changes made through the admin API reach a peer as transactions: same supply, same registry, cards, wallets and payments", async () => {
    const genesis = { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } }
    const node = track(await startNode({ genesis, dataDir: nodeDataDir(nodeKey.seed), env: { GESELL_BLOCK_INTERVAL_MS: "20" } }))
    const block0 = (await getJson(node.http, `/v1/blocks/0`)) as { header: BlockHeader }
    const genesisHash = headerHash(block0.header)

    ok(await admin(node, "POST", "/v1/admin/places", { id: "cafe", name: "Le Café", accepts: ["fed"] }), "a place")
    ok(await admin(node, "POST", "/v1/admin/assets", { id: "cafe-gift", kind: "gift", issuer: "cafe", name: "Cadeau du café" }), "its asset")
    const place = { id: "cafe", name: "Le Café", accepts: ["cafe-gift", "fed"], payout: { iban: "FR1420041010050500013M02606", name: "Le Café SCIC" } }
    ok(await admin(node, "POST", "/v1/admin/places", place), "the place accepting it")
    const created = ok(await admin(node, "POST", "/v1/admin/readers", { id: "cafe-desk", place: "cafe", role: "cashdesk" }), "a reader")
    const cards = ["04c0ffee000001", "04c0ffee000002"]
    expect(ok(await admin(node, "POST", "/v1/admin/cards", { cards: cards.map((uid, index) => ({ uid, number: `CAFE${index}` })) }), "cards")).toEqual({ added: 2, known: 0 })
    const staff = { places: ["cafe"], roles: ["cashdesk"], until: 1_900_000_000_000 }
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "cards", cards: [{ card: cards[1], staff }] }), "staff rights")

    const desk = await ReaderClient.connect(node.ws, created["token"] as string)
    expect(await desk.request({ type: "topup", id: "t1", card: cards[0], amount: 500, asset: "cafe-gift" })).toMatchObject({ ok: true })
    expect(await desk.request({ type: "sale", id: "s1", card: cards[0], amount: 120 })).toMatchObject({ ok: true })
    desk.close()
    await desk.closed
    // An online refund of a refill (PROTOCOL.md section 9.5): one refunded, one waiting for the processor.
    const card0 = `card:${String((await admin(node, "POST", "/v1/admin/cards/find", { card: cards[0] })).body["card"])}`
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: card0, amount: 900, ref: "cs_cafe_1" }), "a refill")
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "withdraw", payment: "cs_cafe_1", amount: 200 }), "a refund asked")
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "payback", payment: "cs_cafe_1", ref: "re_cafe_1" }), "the refund made")
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "withdraw", payment: "cs_cafe_1", amount: 300 }), "another refund asked")
    ok(await admin(node, "POST", "/v1/admin/commands", { kind: "block", card: cards[1], reason: "lost" }), "a card blocked")
    ok(await admin(node, "DELETE", "/v1/admin/readers/cafe-desk"), "the reader revoked")

    const nodeHeight = async () => (await getJson(node.http, `/v1/health`))["height"] as number
    const transactions = async () => (await getJson(node.http, `/v1/health`))["transactions"] as number
    await eventually("every transaction final", async () => {
      const health = await getJson(node.http, `/v1/health`)
      const blocks = (await getJson(node.http, `/v1/blocks?from=1&limit=1000`))["blocks"] as Array<{ header: { txCount: number } }>
      return blocks.reduce((sum, block) => sum + block.header.txCount, 0) === health["transactions"]
    })
    expect(await transactions(), "the genesis's cards, then place, asset, place, reader, cards, staff, topup, sale, refill, withdraw, payback, withdraw, block, revoke").toBe(1 + 14)

    const peerOptions = { engine: node.http, dataDir: freshDataDir(), genesisHash, readyMs: 180_000 }
    const peer = track(await startPeer(peerOptions))
    const height = await nodeHeight()
    await eventually("the peer holds every final block", async () => (await getJson(peer.http, `/v1/health`))["height"] === height)
    const supply = await getJson(node.http, `/v1/supply`)
    expect((supply["assets"] as Array<{ asset: string }>).map((asset) => asset.asset), "the new asset is counted").toContain("cafe-gift")
    expect(await getJson(peer.http, `/v1/supply`)).toEqual(supply)

    // The ledger knows the card by its pseudonym (PROTOCOL.md section 9.4).
    const blocked = String((await admin(node, "POST", "/v1/admin/cards/find", { card: cards[1] })).body["card"])
    await peer.stop()
    await node.stop()
    const [nodeContents, peerContents] = [await storedContents(node.dataDir), await storedContents(peer.dataDir)]
    expect(peerContents).toEqual(nodeContents)
    expect(nodeContents.readers.find((reader) => (reader as { id: string }).id === "cafe-desk"), "the revoked reader, known as revoked").toMatchObject({ revoked: true })
    expect(nodeContents.cards.find((card) => card.card === blocked)).toMatchObject({ status: "blocked", staff })
    expect(nodeContents.places.find((entry) => (entry as { id: string }).id === "cafe")).toEqual(place)
    expect(nodeContents.payments).toEqual([{ ref: "cs_cafe_1", wallet: card0, paid: 900, refunded: 200, pending: { tx: expect.any(String), amount: 300 } }])
    expect(nodeContents.backing).toMatchObject({ received: 900, refunded: 200 })
  }, 240_000)
})
