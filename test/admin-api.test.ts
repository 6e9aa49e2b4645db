/**
 * The HTTP API, black-box: health, supply, the OpenAPI document, and the admin endpoints (places,
 * assets, readers with their one-time token, card imports in JSON and CSV, operator commands),
 * each refusing bad input with the field named, and refusing callers without the admin token.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { genesisHashOf } from "./federation-process.js"
import { admin, adminToken, freshDataDir, memberFetch, ReaderClient, startNode, type NodeProcess } from "./node-process.js"

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
    // The ledger starts with the genesis's cards, registered with the genesis (PROTOCOL.md section 9.4).
    expect(await get("/v1/health")).toMatchObject({ status: 200, body: { ok: true, transactions: 1 } })
    const supply = await get("/v1/supply")
    expect(supply.body["assets"]).toContainEqual({ asset: "fed", kind: "fed", circulation: 0, euros: { received: 0, refunded: 0, paidOut: 0 } })
    const openapi = await get("/v1/openapi.json")
    expect(openapi.body["openapi"]).toBe("3.1.0")
    expect(Object.keys(openapi.body["paths"] as object)).toEqual(expect.arrayContaining(["/v1/admin/readers", "/v1/admin/cards", "/v1/admin/commands"]))
  })

  it("answers 404 for an unknown route, in the protocol's error form", async () => {
    expect(await get("/v1/nothing")).toEqual({ status: 404, body: { ok: false, error: { code: "not_found", message: "no such route" } } })
    const block99 = await memberFetch(node.http, "/v1/blocks/99", await genesisHashOf(node))
    expect({ status: block99.status, body: await block99.json() }).toMatchObject({ status: 404, body: { ok: false, error: { code: "not_found" } } })
  })

  it("answers liveness beside readiness", async () => {
    expect(await get("/v1/live")).toEqual({ status: 200, body: { ok: true } })
  })

  it("decodes parameters with their Schema and names the one at fault", async () => {
    expect(await get("/v1/blocks?limit=abc")).toMatchObject({ status: 400, body: { ok: false, error: { code: "bad_request", field: "limit" } } })
    expect(await get("/v1/blocks?limit=1001")).toMatchObject({ status: 400, body: { error: { field: "limit" } } })
    expect(await get("/v1/blocks/-1")).toMatchObject({ status: 400, body: { error: { field: "height" } } })
  })

  it("derives the OpenAPI document from the API: bodies, 401s, 413s and operation ids", async () => {
    const document = (await get("/v1/openapi.json")).body as {
      paths: Record<string, Record<string, { operationId?: string; requestBody?: unknown; responses: Record<string, unknown> }>>
      components: { schemas: Record<string, unknown> }
    }
    const createReader = document.paths["/v1/admin/readers"]?.["post"]
    expect(createReader?.operationId).toBe("admin.createReader")
    expect(createReader?.requestBody).toBeDefined()
    expect(Object.keys(createReader?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "401", "409", "413", "500", "503"]))
    expect(document.paths["/v1/live"]?.["get"]?.operationId).toBe("public.live")
    expect(Object.keys(document.paths["/v1/health"]?.["get"]?.responses ?? {})).toEqual(expect.arrayContaining(["200", "503"]))
    expect(Object.keys(document.components.schemas)).not.toContain("HttpApiDecodeError")
  })

  it("answers a body larger than the bound 413, declared or chunked, and goes on", async () => {
    const big = "x".repeat(8 * 1024 * 1024 + 1)
    const declared = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: big, headers: { authorization: `Bearer ${adminToken}` } })
    expect(declared.status).toBe(413)
    expect(await declared.json()).toMatchObject({ ok: false, error: { code: "too_large" } })
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 9; i++) controller.enqueue(new TextEncoder().encode("x".repeat(1024 * 1024)))
        controller.close()
      },
    })
    const chunked = await fetch(`${node.http}/v1/admin/places`, {
      method: "POST",
      body: chunks,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      duplex: "half",
    } as RequestInit).catch((error: unknown) => error)
    // The node answers 413 as soon as the bound is passed; it may close the connection before the
    // client has sent the rest, which the client sees as a reset. Either way the node goes on.
    if (chunked instanceof Response) expect(chunked.status).toBe(413)
    expect((await get("/v1/live")).status).toBe(200)
  })
})

describe("admin endpoints", () => {
  it("need a request id for every change, and answer a retry with the first answer, applying it once", async () => {
    const without = await fetch(`${node.http}/v1/admin/places`, {
      method: "POST",
      body: JSON.stringify({ id: "sans", name: "x", accepts: [] }),
      headers: { authorization: `Bearer ${adminToken}` },
    })
    expect(without.status).toBe(400)
    expect(await without.json()).toMatchObject({ error: { code: "bad_request", field: "request" } })
    await admin(node, "POST", "/v1/admin/cards", { cards: [{ uid: "04dd0000000001" }] })
    const mint = { kind: "mint", asset: "raf-gift", to: "card:04dd0000000001", amount: 700, request: "mint-once" }
    const first = await admin(node, "POST", "/v1/admin/commands", mint)
    const retry = await admin(node, "POST", "/v1/admin/commands", mint)
    expect(first.body).toMatchObject({ ok: true, status: "ok" })
    expect(retry.body).toEqual(first.body)
    expect((await admin(node, "POST", "/v1/admin/cards/find", { card: "04dd0000000001" })).body["balances"]).toEqual({ "raf-gift": 700 })
    const other = await admin(node, "POST", "/v1/admin/commands", { ...mint, amount: 1 })
    expect(other).toMatchObject({ status: 409, body: { ok: false, error: { code: "conflict", field: "request" } } })
    const place = { id: "once", name: "Once", accepts: ["fed"], request: "place-once" }
    expect((await admin(node, "POST", "/v1/admin/places", place)).status).toBe(200)
    expect((await admin(node, "POST", "/v1/admin/places", place)).status).toBe(200)
    const reused = await admin(node, "POST", "/v1/admin/places", { ...place, name: "Twice" })
    expect(reused).toMatchObject({ status: 409, body: { ok: false, error: { code: "conflict", field: "request" } } })
  })

  it("create a reader once under concurrent creates, answer a retry without the token, and let a revoked id be created again", async () => {
    const body = { id: "twin", place: "raffinerie", role: "bar" }
    const creates = await Promise.all([admin(node, "POST", "/v1/admin/readers", body), admin(node, "POST", "/v1/admin/readers", body)])
    expect(creates.map((c) => c.status)).toEqual([200, 200])
    const tokens = creates.flatMap((c) => (typeof c.body["token"] === "string" ? [c.body["token"]] : []))
    expect(tokens).toHaveLength(1)
    const retry = await admin(node, "POST", "/v1/admin/readers", { ...body, request: "twin-retry" })
    expect(retry.body).toEqual({ id: "twin", place: "raffinerie", role: "bar" })
    const elsewhere = await admin(node, "POST", "/v1/admin/readers", { ...body, role: "cashdesk" })
    expect(elsewhere).toMatchObject({ status: 409, body: { error: { code: "conflict", field: "id" } } })
    const reader = await ReaderClient.connect(node.ws, String(tokens[0]))
    await reader.hello
    reader.close()
    expect((await admin(node, "DELETE", "/v1/admin/readers/twin")).status).toBe(200)
    expect((await admin(node, "DELETE", "/v1/admin/readers/twin")).status).toBe(404)
    await expect(ReaderClient.connect(node.ws, String(tokens[0])).then((c) => c.hello)).rejects.toThrow()
    const again = await admin(node, "POST", "/v1/admin/readers", body)
    expect(again.status).toBe(200)
    expect(typeof again.body["token"]).toBe("string")
    expect(again.body["token"]).not.toBe(tokens[0])
    const renewed = await ReaderClient.connect(node.ws, String(again.body["token"]))
    expect(await renewed.hello).toMatchObject({ reader: "twin" })
    renewed.close()
  })

  it("refuse a caller without the admin token", async () => {
    const response = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: "{}" })
    expect(response.status).toBe(401)
    const wrong = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: "{}", headers: { authorization: "Bearer nope" } })
    expect(wrong.status).toBe(401)
    // The right token under another scheme is no admin either.
    const scheme = await fetch(`${node.http}/v1/admin/places`, { method: "POST", body: "{}", headers: { authorization: `Xearer ${adminToken}` } })
    expect(scheme.status).toBe(401)
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
    ["a place with a bad id", "/v1/admin/places", { id: "Bad Id", name: "x", accepts: [] }, "id"],
    ["a place accepting an unknown asset", "/v1/admin/places", { id: "p2", name: "x", accepts: ["nope"] }, "place.accepts[0]"],
    ["an asset of an unknown issuer", "/v1/admin/assets", { id: "a2", kind: "gift", issuer: "nowhere", name: "x" }, "asset.issuer"],
    ["a second fed asset", "/v1/admin/assets", { id: "fed2", kind: "fed", name: "x" }, "asset.kind"],
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
    // A card's wallet is named by its pseudonym in a URL: a uid never goes in one.
    const found = await admin(node, "POST", "/v1/admin/cards/find", { card: "04bb0000000002" })
    const wallet = await admin(node, "GET", `/v1/admin/wallets/${String(found.body["wallet"])}`)
    expect(wallet.body["balances"]).toEqual({ fed: 2500 })
    expect(await admin(node, "GET", "/v1/admin/wallets/card:04bb0000000002")).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } })
    // The supply counts final blocks only (PROTOCOL.md section 9.5), and no validator of this
    // federation runs: the refill is committed, in the wallet, and not in the supply.
    const supply = await get("/v1/supply")
    expect(supply.body["assets"]).toContainEqual({ asset: "fed", kind: "fed", circulation: 0, euros: { received: 0, refunded: 0, paidOut: 0 } })
    expect(supply.body["transactions"]).toBeLessThan((await get("/v1/health")).body["transactions"] as number)
  })
})

describe("admin settings", () => {
  it("refuse to start with an admin token shorter than 32 characters", async () => {
    await expect(startNode({ dataDir: freshDataDir(), env: { GESELL_ADMIN_TOKEN: "short-token" } })).rejects.toThrow(/at least 32 characters/)
  })

  it("refuse to start on an admin-token file that holds no token, rather than take the empty one", async () => {
    const dataDir = freshDataDir()
    writeFileSync(join(dataDir, "admin-token"), "")
    // No GESELL_ADMIN_TOKEN: the node reads the file.
    const env = { GESELL_ADMIN_TOKEN: undefined }
    await expect(startNode({ dataDir, env })).rejects.toThrow(/holds no admin token/)
  })

  it("honour GESELL_CARDS_PER_IMPORT_MAX", async () => {
    const small = await startNode({ env: { GESELL_CARDS_PER_IMPORT_MAX: "2" } })
    try {
      const three = await admin(small, "POST", "/v1/admin/cards", { cards: [{ uid: "04ee0000000001" }, { uid: "04ee0000000002" }, { uid: "04ee0000000003" }] })
      expect(three).toMatchObject({ status: 400, body: { error: { field: "cards", message: "at most 2 cards per import" } } })
      const two = await admin(small, "POST", "/v1/admin/cards", { cards: [{ uid: "04ee0000000001" }, { uid: "04ee0000000002" }] })
      expect(two.body).toEqual({ added: 2, known: 0 })
    } finally {
      await small.stop()
    }
  })
})
