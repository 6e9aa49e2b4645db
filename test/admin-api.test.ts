/**
 * The HTTP API, black-box: health, supply, the OpenAPI document, and the admin endpoints (places,
 * assets, readers with their one-time token, card imports in JSON and CSV, operator commands),
 * each refusing bad input with the field named, and refusing callers without the admin token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin, ReaderClient, startNode, type NodeProcess } from "./node-process.js"

let node: NodeProcess

beforeAll(async () => {
  node = await startNode()
}, 60_000)

afterAll(async () => {
  await node?.stop()
})

const get = async (path: string) => {
  const response = await fetch(`${node.http}${path}`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe("public endpoints", () => {
  it("serves health, supply and the OpenAPI document", async () => {
    expect(await get("/v1/health")).toMatchObject({ status: 200, body: { ok: true, transactions: 0 } })
    const supply = await get("/v1/supply")
    expect(supply.body["assets"]).toContainEqual({ asset: "fed", kind: "fed", circulation: 0, euros: { received: 0, refunded: 0, paidOut: 0 } })
    const openapi = await get("/v1/openapi.json")
    expect(openapi.body["openapi"]).toBe("3.1.0")
    expect(Object.keys(openapi.body["paths"] as object)).toEqual(expect.arrayContaining(["/v1/admin/readers", "/v1/admin/cards", "/v1/admin/commands"]))
  })

  it("answers 404 for an unknown route", async () => {
    expect((await get("/v1/nothing")).status).toBe(404)
  })
})

describe("admin endpoints", () => {
  it("refuse a caller without the admin token", async () => {
    const response = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: "{}" })
    expect(response.status).toBe(401)
    const wrong = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: "{}", headers: { authorization: "Bearer nope" } })
    expect(wrong.status).toBe(401)
  })

  it("create a place, its asset, a cash desk reader whose token works, and sell there", async () => {
    const place = await admin(node, "POST", "/v1/admin/places", { id: "kiosque", name: "Le Kiosque", accepts: ["fed"] })
    expect(place.status).toBe(200)
    const asset = await admin(node, "POST", "/v1/admin/assets", { id: "kiosque-gift", kind: "gift", issuer: "kiosque", name: "Cadeau" })
    expect(asset.status).toBe(200)
    const replaced = await admin(node, "POST", "/v1/admin/places", { id: "kiosque", name: "Le Kiosque", accepts: ["kiosque-gift", "fed"] })
    expect(replaced.body["accepts"]).toEqual(["kiosque-gift", "fed"])
    const reader = await admin(node, "POST", "/v1/admin/readers", { id: "kiosque-desk", place: "kiosque", role: "cashdesk" })
    expect(reader.status).toBe(200)
    expect(String(reader.body["token"]).length).toBeGreaterThanOrEqual(40)
    const desk = await ReaderClient.connect(node.ws, String(reader.body["token"]))
    expect(await desk.hello).toMatchObject({ reader: "kiosque-desk", place: "kiosque", role: "cashdesk", accepts: ["kiosque-gift", "fed"] })
    const cards = await admin(node, "POST", "/v1/admin/cards", "uid,number\n04AA0000000001,K1\n04aa0000000002,K2\n", "text/csv")
    expect(cards.body).toEqual({ added: 2, known: 0 })
    const topup = await desk.request({ type: "topup", id: "k1", card: "04aa0000000001", amount: 300, asset: "kiosque-gift" })
    expect(topup).toMatchObject({ ok: true, balances: [{ asset: "kiosque-gift", amount: 300 }] })
    const sale = await desk.request({ type: "sale", id: "k2", card: "04aa0000000001", amount: 120 })
    expect(sale).toMatchObject({ ok: true, paid: [{ asset: "kiosque-gift", amount: 120 }] })
    desk.close()
  })

  it("import cards as JSON, counting the known ones", async () => {
    const first = await admin(node, "POST", "/v1/admin/cards", { cards: [{ uid: "04bb0000000001", number: "B1" }, { uid: "04bb0000000002" }] })
    expect(first.body).toEqual({ added: 2, known: 0 })
    const again = await admin(node, "POST", "/v1/admin/cards", { cards: [{ uid: "04BB0000000001" }, { uid: "04bb0000000003" }] })
    expect(again.body).toEqual({ added: 1, known: 1 })
  })

  it.each([
    ["a place with a bad id", "/v1/admin/places", { id: "Bad Id", name: "x", accepts: [] }, "place.id"],
    ["a place accepting an unknown asset", "/v1/admin/places", { id: "p2", name: "x", accepts: ["nope"] }, "place.accepts[0]"],
    ["an asset of an unknown issuer", "/v1/admin/assets", { id: "a2", kind: "gift", issuer: "nowhere", name: "x" }, "asset.issuer"],
    ["a second fed asset", "/v1/admin/assets", { id: "fed2", kind: "fed", name: "x" }, "assets"],
    ["a reader of an unknown place", "/v1/admin/readers", { id: "r9", place: "nowhere", role: "bar" }, "place"],
    ["a reader with a bad role", "/v1/admin/readers", { id: "r9", place: "raffinerie", role: "boss" }, "role"],
    ["a card with a bad uid", "/v1/admin/cards", { cards: [{ uid: "xyz" }] }, "cards[0].uid"],
  ])("refuse %s, naming the field", async (_, path, body, field) => {
    const answer = await admin(node, "POST", path, body)
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ ok: false, error: { code: "bad_request", field } })
  })

  it("refuse a CSV line that is not uid,number", async () => {
    const answer = await admin(node, "POST", "/v1/admin/cards", "04cc0000000001,N1,extra\n", "text/csv")
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ error: { field: "line 1" } })
  })

  it("run operator commands once committed, and show a wallet", async () => {
    const refill = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:04bb0000000002", amount: 2500, ref: "pi_admin_1" })
    expect(refill.body).toMatchObject({ ok: true, status: "ok", tx: { kind: "refill", ref: "pi_admin_1" } })
    const twice = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:04bb0000000002", amount: 2500, ref: "pi_admin_1" })
    expect(twice.body).toMatchObject({ ok: false, status: "duplicate_ref", field: "ref" })
    const bad = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:04bb0000000002", amount: 0, ref: "x" })
    expect(bad.body).toMatchObject({ ok: false, error: { code: "amount_out_of_range", field: "amount" } })
    const wallet = await admin(node, "GET", "/v1/admin/wallets/card:04bb0000000002")
    expect(wallet.body["balances"]).toEqual({ fed: 2500 })
    const supply = await get("/v1/supply")
    expect(supply.body["assets"]).toContainEqual({ asset: "fed", kind: "fed", circulation: 2500, euros: { received: 2500, refunded: 0, paidOut: 0 } })
  })
})
