/**
 * Cards by pseudonym (PROTOCOL.md section 9.4), black-box: readers and operators name cards by uid
 * or printed number, and no uid or printed number leaves the node: not in blocks, block headers,
 * supply, metrics, wallet answers or the node's output. Block 0 commits to the genesis's cards, and
 * block 1's `cards` transactions list exactly the pseudonyms it commits to.
 */
import { createHash } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { genesisHashOf, nodeDataDir, testKey } from "./federation-process.js"
import { admin, blackBoxCards, blackBoxGenesis, memberFetch, ReaderClient, startNode, tokenOf, within, type NodeProcess } from "./node-process.js"

let node: NodeProcess
let genesisHash: string

// The node is the federation's one validator, so that its blocks become final on its signature alone.
const nodeKey = testKey(0x2a)

beforeAll(async () => {
  node = await startNode({ dataDir: nodeDataDir(nodeKey.seed), genesis: { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } } })
  genesisHash = await genesisHashOf(node)
}, 60_000)

afterAll(async () => {
  await node?.stop()
})

type Tx = Record<string, unknown> & { id: string; kind: string }
type Block = { header: { height: number }; txs: Tx[] }

/** Final blocks' text and transactions, once the transaction `txId` is in one. */
const blocksHolding = async (txId: string): Promise<{ text: string; blocks: Block[] }> => {
  for (;;) {
    const response = await memberFetch(node.http, "/v1/blocks?from=0&limit=1000", genesisHash)
    const text = await response.text()
    const blocks = (JSON.parse(text) as { blocks: Block[] }).blocks
    if (blocks.some((block) => block.txs.some((tx) => tx.id === txId))) return { text, blocks }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const uidsUsed = [blackBoxCards[3], blackBoxCards[4], blackBoxCards[5], "04a1b2c3d4e5f6", "0badcafe"] as string[]
const numbersImported = ["PRINTED-77001", "PRINTED-77002"]

describe("cards by pseudonym", () => {
  it("takes uids and printed numbers at the edges, and no uid or printed number leaves the node", async () => {
    const [desk, bar] = await Promise.all([ReaderClient.connect(node.ws, tokenOf("desk-1")), ReaderClient.connect(node.ws, tokenOf("bar-1"))])
    try {
      const uid = blackBoxCards[3] as string
      // A reader names the card by its uid, in any case.
      expect(await desk.request({ type: "topup", id: "p-top", card: uid.toUpperCase(), amount: 500, asset: "raf-eur" })).toMatchObject({ ok: true })
      expect(await bar.request({ type: "sale", id: "p-sale", card: uid, amount: 120 })).toMatchObject({ ok: true, balances: [{ asset: "raf-eur", amount: 380 }] })
      // Operators name it by uid, by printed number, or by pseudonym: the same card.
      const byUid = await admin(node, "POST", "/v1/admin/cards/find", { card: uid })
      expect(byUid).toMatchObject({ status: 200, body: { status: "active", number: "N4", balances: { "raf-eur": 380 } } })
      const pseudonym = String(byUid.body["card"])
      expect(pseudonym).toMatch(/^[0-9a-f]{32}$/)
      expect(byUid.body["wallet"]).toBe(`card:${pseudonym}`)
      expect((await admin(node, "POST", "/v1/admin/cards/find", { card: "N4" })).body["card"]).toBe(pseudonym)
      expect((await admin(node, "POST", "/v1/admin/cards/find", { card: pseudonym })).body["card"]).toBe(pseudonym)
      expect(await admin(node, "POST", "/v1/admin/cards/find", { card: "0badcafe" })).toMatchObject({ status: 404 })
      expect(await admin(node, "POST", "/v1/admin/cards/find", { card: "not a card!" })).toMatchObject({ status: 400, body: { error: { field: "card" } } })
      // An import by uid with printed numbers, then a command naming the new card by its uid and another by its number.
      const csv = `uid,number\n04a1b2c3d4e5f6,${numbersImported[0]}\n0badcafe,${numbersImported[1]}\n`
      expect(await admin(node, "POST", "/v1/admin/cards", csv, "text/csv")).toMatchObject({ status: 200, body: { added: 2, known: 0 } })
      const refill = await admin(node, "POST", "/v1/admin/commands", { kind: "mint", asset: "raf-gift", to: "card:04A1B2C3D4E5F6", amount: 50 })
      expect(refill).toMatchObject({ status: 200, body: { ok: true } })
      const voided = await admin(node, "POST", "/v1/admin/commands", { kind: "void", card: numbersImported[1], reason: "lost" })
      expect(voided).toMatchObject({ status: 200, body: { ok: true } })
      const blocked = await admin(node, "POST", "/v1/admin/cards/find", { card: "0badcafe" })
      expect(blocked.body).toMatchObject({ status: "blocked", number: numbersImported[1] })
      // A number printed on another card is refused.
      expect(await admin(node, "POST", "/v1/admin/cards", { cards: [{ uid: blackBoxCards[5], number: numbersImported[0] }] })).toMatchObject({ status: 400, body: { error: { field: "cards[0].number" } } })

      const lastTx = (voided.body["tx"] as { id: string }).id
      const { text: blocksText, blocks } = await within("the void in a final block", blocksHolding(lastTx), 30_000)
      // The sale is there, by pseudonym: the texts searched below are the ones that hold the cards.
      const sale = blocks.flatMap((block) => block.txs).find((tx) => tx.kind === "sale")
      expect(sale).toMatchObject({ card: pseudonym, legs: [{ from: `card:${pseudonym}` }] })
      const texts = {
        blocks: blocksText,
        headers: await (await fetch(`${node.http}/v1/headers?from=0&limit=1000`)).text(),
        supply: await (await fetch(`${node.http}/v1/supply`)).text(),
        metrics: await (await fetch(`${node.http}/metrics`)).text(),
        wallet: JSON.stringify((await admin(node, "GET", `/v1/admin/wallets/card:${pseudonym}`)).body),
        output: node.output(),
      }
      for (const [where, text] of Object.entries(texts)) {
        for (const secret of [...uidsUsed, ...uidsUsed.map((u) => u.toUpperCase()), ...numbersImported]) {
          expect(text.includes(secret), `${secret} in ${where}`).toBe(false)
        }
      }
    } finally {
      desk.close()
      bar.close()
    }
  }, 60_000)

  it("commits to the genesis's cards in block 0, and lists exactly them in block 1, by pseudonym", async () => {
    const response = await memberFetch(node.http, "/v1/blocks?from=0&limit=2", genesisHash)
    const { blocks } = (await response.json()) as { blocks: Block[] }
    const memo = blocks[0]?.txs[0]?.["memo"] as { cards: { count: number; sha256: string } }
    expect(memo.cards.count).toBe(blackBoxCards.length)
    const listed = (blocks[1]?.txs ?? []).filter((tx) => tx.kind === "cards").flatMap((tx) => (tx["command"] as { cards: Array<{ card: string }> }).cards.map((entry) => entry.card))
    expect(blocks[1]?.txs.every((tx) => tx.kind === "cards" && tx["approvals"] === undefined)).toBe(true)
    expect(listed).toHaveLength(blackBoxCards.length)
    expect(createHash("sha256").update([...listed].sort().join("\n")).digest("hex")).toBe(memo.cards.sha256)
    // The pseudonym of a genesis card, as the node names it, is among them.
    const found = await admin(node, "POST", "/v1/admin/cards/find", { card: blackBoxCards[0] })
    expect(listed).toContain(found.body["card"])
    expect(JSON.stringify(blocks)).not.toContain(blackBoxCards[0])
  })
})
