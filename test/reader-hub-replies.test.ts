/**
 * The longest replies, black-box: a card holding as many assets as it may (64, every asset id 63
 * characters long, every balance 10^12) gets sale, check and topup replies longer than a request
 * frame and within the contract's 16,384 bytes from the built node, and the built hub shows them;
 * a 65th asset is `wallet_full`, at the node and in the bartender's words.
 */
import { createHash } from "node:crypto"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { ReaderClient, startNode, tokenOf, within, type NodeProcess } from "./node-process.js"
import { hubDir, startHub, type HubProcess, type ResultEvent } from "./reader-hub-process.js"

const walletAssetsMax = 64
const replyBytesMax = 16_384
const frameBytesMax = 4096
const amountMax = 1_000_000_000_000

/** Asset ids of the longest form (63 characters), all gifts of raffinerie. */
const longAsset = (n: number): string => `${String(n).padStart(2, "0")}-${"x".repeat(60)}`
const assets = Array.from({ length: walletAssetsMax + 1 }, (_, n) => longAsset(n))
const uid = "04a0000000f001"
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

const genesis = {
  federation: { id: "wide", name: "Wide" },
  validators: { keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], threshold: 1 },
  assets: [{ id: "fed", kind: "fed", name: "Euro fédéré" }, ...assets.map((id) => ({ id, kind: "gift", issuer: "raffinerie", name: id }))],
  // As many accepted assets as a place may have: the widest sale this federation can make.
  places: [{ id: "raffinerie", name: "La Raffinerie", accepts: [...assets.slice(0, 31), "fed"] }],
  readers: [
    { id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: sha256(tokenOf("bar-1")) },
    { id: "desk-1", place: "raffinerie", role: "cashdesk", tokenSha256: sha256(tokenOf("desk-1")) },
  ],
  cards: [{ uid, number: "W1" }],
}

let node: NodeProcess
let desk: ReaderClient
/** The byte length of every frame the node sent to `desk`, by request id. */
const replyBytes = new Map<string, number>()
const hubs: HubProcess[] = []

beforeAll(async () => {
  node = await startNode({ genesis })
  desk = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
  desk.socket.on("message", (data: Buffer) => {
    const id = (JSON.parse(data.toString()) as { id?: unknown }).id
    if (typeof id === "string") replyBytes.set(id, data.length)
  })
  await desk.hello
}, 120_000)

afterEach(async ({ task }) => {
  if (task.result?.state === "fail") for (const hub of hubs) console.error(`hub output:\n${hub.output().slice(-4000)}`)
  await Promise.all(hubs.splice(0).map((hub) => hub.kill()))
})

afterAll(async () => {
  desk?.close()
  await node?.stop()
})

const hub = (reader: string, args: readonly string[]): HubProcess => {
  const started = startHub({ node, reader, journal: join(hubDir(), "journal"), args: ["--source", "stdin", "--double-tap-ms", "0", ...args] })
  hubs.push(started)
  return started
}

/** The hub's one result, once the link is up and the card tapped. */
const tapOnce = async (started: HubProcess): Promise<ResultEvent> => {
  await within("the link", started.next((event) => event.event === "notice" && String(event["text"]).startsWith("connected to")), 30_000)
  started.write(uid)
  const [result] = await within("the result", started.resultCount(1), 30_000)
  return result as ResultEvent
}

describe("a card holding as many assets as it may", () => {
  it("gets replies longer than a request frame and within 16,384 bytes, which the hub shows; a 65th asset is wallet_full", async () => {
    const topups = await Promise.all(assets.slice(0, walletAssetsMax).map((asset, n) => desk.request({ type: "topup", id: `fill-${n}`, card: uid, amount: amountMax, asset })))
    expect(topups.filter((reply) => reply.ok !== true)).toEqual([])

    const over = await desk.request({ type: "topup", id: "fill-over", card: uid, amount: 100, asset: assets[walletAssetsMax] as string })
    expect(over).toMatchObject({ ok: false, error: { code: "wallet_full" } })

    // The node's replies, as bytes on the wire.
    const check = await desk.request({ type: "check", id: "wide-check", card: uid })
    const sale = await desk.request({ type: "sale", id: "wide-sale", card: uid, amount: 350 })
    const topup = await desk.request({ type: "topup", id: "wide-topup", card: uid, amount: amountMax, asset: assets[40] as string })
    for (const reply of [check, sale, topup]) expect(reply).toMatchObject({ ok: true, balances: expect.any(Array) as unknown })
    expect((check["balances"] as unknown[]).length).toBe(walletAssetsMax)
    for (const id of ["wide-check", "wide-sale", "wide-topup"]) {
      const bytes = replyBytes.get(id) ?? 0
      expect(bytes, id).toBeGreaterThan(frameBytesMax)
      expect(bytes, id).toBeLessThanOrEqual(replyBytesMax)
    }

    // The hub takes each of them whole.
    const sold = await tapOnce(hub("bar-1", ["--price", "3.50"]))
    expect(sold).toMatchObject({ status: "ok", request: { type: "sale", amount: 350 }, paid: [{ asset: assets[0], amount: 350 }] })
    expect((sold["balances"] as unknown[]).length).toBe(walletAssetsMax)
    const checked = await tapOnce(hub("bar-1", ["--mode", "check"]))
    expect(checked).toMatchObject({ status: "ok", request: { type: "check" }, tx: null })
    expect((checked["balances"] as unknown[]).length).toBe(walletAssetsMax)
    // At the cash desk: a top-up of an asset the card holds, then of a 65th, in the cashier's words.
    const cashdesk = hub("desk-1", ["--mode", "cashdesk"])
    await within("the link", cashdesk.next((event) => event.event === "notice" && String(event["text"]).startsWith("connected to")), 30_000)
    cashdesk.write(`topup 1.00 ${assets[1]}`)
    cashdesk.write(uid)
    const [toppedUp] = await within("the top-up", cashdesk.resultCount(1), 30_000)
    expect(toppedUp).toMatchObject({ status: "ok", request: { type: "topup", amount: 100, asset: assets[1] } })
    expect((toppedUp?.["balances"] as unknown[]).length).toBe(walletAssetsMax)
    cashdesk.write(`topup 1.00 ${assets[walletAssetsMax]}`)
    cashdesk.write(uid)
    const [, refused] = await within("the refusal", cashdesk.resultCount(2), 30_000)
    expect(refused).toMatchObject({ status: "wallet_full", text: "the card already holds as many currencies as it may (64): this one cannot be added" })
  })
})
