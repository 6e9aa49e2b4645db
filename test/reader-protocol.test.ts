/**
 * The reader WebSocket contract (PROTOCOL.md section 3), black-box: the built `gesell start` on the
 * embedded PGlite, driven by WebSocket clients. Every request type and every error code a reader can
 * get without stopping the database (that one is in node-failures.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin, blackBoxCards, ReaderClient, startNode, tokenOf, type NodeProcess } from "./node-process.js"

let node: NodeProcess
let bar: ReaderClient
let desk: ReaderClient
let sequence = 0
const id = (): string => `r${++sequence}`
const card = (n: number): string => blackBoxCards[n] as string

beforeAll(async () => {
  node = await startNode()
  bar = await ReaderClient.connect(node.ws, tokenOf("bar-1"))
  desk = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
  await Promise.all([bar.hello, desk.hello])
}, 60_000)

afterAll(async () => {
  bar?.close()
  desk?.close()
  await node?.stop()
})

describe("connecting", () => {
  it("greets with hello: protocol, reader, place, role and accepted assets", async () => {
    expect(await bar.hello).toEqual({ type: "hello", protocol: 1, reader: "bar-1", place: "raffinerie", role: "bar", accepts: ["raf-gift", "raf-eur", "fed"] })
  })

  it.each([
    ["no token", undefined],
    ["an unknown token", "not-a-token"],
  ])("answers HTTP 401 on the upgrade with %s", async (_, token) => {
    await expect(ReaderClient.connect(node.ws, token)).rejects.toThrow("HTTP 401")
  })

  it("refuses a revoked token, and cuts its open connections", async () => {
    const created = await admin(node, "POST", "/v1/admin/readers", { id: "bar-temp", place: "raffinerie", role: "bar" })
    expect(created.status).toBe(200)
    const token = String(created.body["token"])
    const temp = await ReaderClient.connect(node.ws, token)
    expect((await temp.hello)["reader"]).toBe("bar-temp")
    expect((await admin(node, "DELETE", "/v1/admin/readers/bar-temp")).status).toBe(200)
    // Terminated at once, without a closing handshake: the client sees 1006 (no close frame).
    expect((await temp.closed).code).toBe(1006)
    await expect(ReaderClient.connect(node.ws, token)).rejects.toThrow("HTTP 401")
  })
})

describe("requests", () => {
  it("tops up at the cash desk, sells at the bar in the place's order, checks, badges and refunds", async () => {
    const uid = card(1)
    const topup = await desk.request({ type: "topup", id: id(), card: uid, amount: 1000, asset: "raf-eur" })
    expect(topup).toMatchObject({ type: "result", ok: true, balances: [{ asset: "raf-eur", amount: 1000 }] })
    expect(typeof topup["tx"]).toBe("string")
    const gift = await desk.request({ type: "topup", id: id(), card: uid, amount: 200, asset: "raf-gift" })
    expect(gift.ok).toBe(true)
    const sale = await bar.request({ type: "sale", id: id(), card: uid, amount: 450 })
    expect(sale).toMatchObject({
      ok: true,
      paid: [{ asset: "raf-gift", amount: 200 }, { asset: "raf-eur", amount: 250 }],
      balances: [{ asset: "raf-eur", amount: 750 }],
    })
    const check = await bar.request({ type: "check", id: id(), card: uid.toUpperCase() })
    expect(check).toEqual({ type: "result", id: check.id, ok: true, tx: null, balances: [{ asset: "raf-eur", amount: 750 }], memberships: [] })
    const badge = await bar.request({ type: "badge", id: id(), card: uid })
    expect(badge).toMatchObject({ ok: true, memberships: [] })
    expect(typeof badge["tx"]).toBe("string")
    const refund = await desk.request({ type: "refund", id: id(), card: uid })
    expect(refund).toMatchObject({ ok: true, balances: [] })
  })

  it("answers ping with pong", async () => {
    const ping = await bar.request({ type: "ping", id: "p1" })
    expect(ping).toEqual({ type: "pong", id: "p1" })
  })

  it("sells an explicit asset", async () => {
    const uid = card(2)
    await desk.request({ type: "topup", id: id(), card: uid, amount: 500, asset: "raf-gift" })
    await desk.request({ type: "topup", id: id(), card: uid, amount: 500, asset: "raf-eur" })
    const sale = await bar.request({ type: "sale", id: id(), card: uid, amount: 300, asset: "raf-eur" })
    expect(sale).toMatchObject({ ok: true, paid: [{ asset: "raf-eur", amount: 300 }] })
  })
})

const errorOf = (reply: { error?: { code: string } }) => reply.error?.code

describe("error codes", () => {
  it.each([
    ["0", 0, "amount_out_of_range"],
    ["-1", -1, "amount_out_of_range"],
    ["10^13", 1e13, "amount_out_of_range"],
    ["2^60", 2 ** 60, "amount_out_of_range"],
    ["1.5", 1.5, "bad_request"],
    ["a string", "100", "bad_request"],
    ["null", null, "bad_request"],
  ])("answers a sale of %s with its code", async (_, amount, code) => {
    const reply = await bar.request({ type: "sale", id: id(), card: card(3), amount })
    expect(reply.ok).toBe(false)
    expect(errorOf(reply)).toBe(code)
  })

  it("answers an unknown card", async () => {
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: "0badcafe", amount: 10 }))).toBe("unknown_card")
  })

  it("answers a blocked card", async () => {
    const voided = await admin(node, "POST", "/v1/admin/commands", { kind: "void", card: card(4), reason: "lost" })
    expect(voided.body["status"]).toBe("ok")
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: card(4), amount: 10 }))).toBe("card_blocked")
  })

  it("answers insufficient funds, and an asset the place does not accept", async () => {
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: card(5), amount: 10 }))).toBe("insufficient_funds")
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: card(5), amount: 10, asset: "mana-gift" }))).toBe("asset_not_accepted")
    expect(errorOf(await desk.request({ type: "topup", id: id(), card: card(5), amount: 10, asset: "mana-gift" }))).toBe("asset_not_accepted")
  })

  it("forbids a bar reader to top up or refund, and a reader to act for another place", async () => {
    expect(errorOf(await bar.request({ type: "topup", id: id(), card: card(5), amount: 10, asset: "raf-eur" }))).toBe("forbidden")
    expect(errorOf(await bar.request({ type: "refund", id: id(), card: card(5) }))).toBe("forbidden")
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: card(5), amount: 10, place: "manapany" }))).toBe("forbidden")
  })

  it("answers bad frames with bad_request and keeps the connection open", async () => {
    bar.send("this is not json")
    expect(await bar.nextUnmatched()).toMatchObject({ type: "result", id: null, ok: false, error: { code: "bad_request" } })
    expect(errorOf(await bar.request({ type: "dance", id: id() }))).toBe("bad_request")
    expect(errorOf(await bar.request({ type: "sale", id: id(), amount: 10 }))).toBe("bad_request")
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: 12345, amount: 10 }))).toBe("bad_request")
    expect(errorOf(await bar.request({ type: "sale", id: id(), card: card(5), amount: 10, colour: "red" }))).toBe("bad_request")
    expect((await bar.request({ type: "ping", id: "still-open" })).type).toBe("pong")
  })
})

describe("idempotency", () => {
  it("answers the same request again with the first reply, byte for byte, and applies nothing", async () => {
    const uid = card(6)
    await desk.request({ type: "topup", id: id(), card: uid, amount: 1000, asset: "raf-eur" })
    const frame = { type: "sale", id: "same-sale", card: uid, amount: 300 }
    const first = await bar.request(frame)
    const second = await bar.request(frame)
    expect(second).toEqual(first)
    const other = await ReaderClient.connect(node.ws, tokenOf("bar-1"))
    await other.hello
    expect(await other.request(frame)).toEqual(first)
    other.close()
    const check = await bar.request({ type: "check", id: id(), card: uid })
    expect(check["balances"]).toEqual([{ asset: "raf-eur", amount: 700 }])
  })

  it("answers conflict when a request id is reused for a different request", async () => {
    await bar.request({ type: "sale", id: "reused", card: card(7), amount: 10 })
    expect(errorOf(await bar.request({ type: "sale", id: "reused", card: card(7), amount: 11 }))).toBe("conflict")
  })

  it("keeps request ids per reader: another reader may use the same id", async () => {
    const first = await bar.request({ type: "sale", id: "per-reader", card: card(8), amount: 10 })
    const bar2 = await ReaderClient.connect(node.ws, tokenOf("bar-2"))
    await bar2.hello
    const second = await bar2.request({ type: "sale", id: "per-reader", card: card(8), amount: 20 })
    expect(errorOf(first)).toBe("insufficient_funds")
    expect(errorOf(second)).toBe("insufficient_funds")
    bar2.close()
  })
})

describe("concurrency", () => {
  it("two readers tapping one card at once for more than its balance: exactly the affordable sales succeed", async () => {
    const uid = card(9)
    await desk.request({ type: "topup", id: id(), card: uid, amount: 1000, asset: "raf-eur" })
    const bar2 = await ReaderClient.connect(node.ws, tokenOf("bar-2"))
    await bar2.hello
    const sales = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? bar : bar2).request({ type: "sale", id: `race-${i}`, card: uid, amount: 100 }))
    const replies = await Promise.all(sales)
    expect(replies.filter((reply) => reply.ok === true)).toHaveLength(10)
    expect(replies.filter((reply) => errorOf(reply) === "insufficient_funds")).toHaveLength(30)
    const check = await bar.request({ type: "check", id: id(), card: uid })
    expect(check["balances"]).toEqual([])
    bar2.close()
  })
})

describe("frame limits", () => {
  it("closes on a binary frame with 1003, and other readers keep being served", async () => {
    const rude = await ReaderClient.connect(node.ws, tokenOf("bar-2"))
    await rude.hello
    rude.send(Buffer.from([1, 2, 3]), true)
    expect((await rude.closed).code).toBe(1003)
    expect((await bar.request({ type: "ping", id: id() })).type).toBe("pong")
  })

  it("closes on a frame over 4 KiB with 1009", async () => {
    const rude = await ReaderClient.connect(node.ws, tokenOf("bar-2"))
    await rude.hello
    rude.send(JSON.stringify({ type: "ping", id: "x", pad: "y".repeat(5000) }))
    expect((await rude.closed).code).toBe(1009)
  })

  it("closes after more than 100 bad frames in a minute with 1008", async () => {
    const rude = await ReaderClient.connect(node.ws, tokenOf("bar-2"))
    await rude.hello
    for (let i = 0; i < 101; i++) rude.send("{")
    expect((await rude.closed).code).toBe(1008)
    expect(rude.unmatched.length).toBeGreaterThanOrEqual(100)
    expect((await bar.request({ type: "ping", id: id() })).type).toBe("pong")
  })
})
