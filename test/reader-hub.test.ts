/**
 * The reader hub with its simulated card source (uids on standard input), black-box against the
 * built node: the price set by the till's loopback endpoint, the cash desk's top-up, refund and
 * check, the bartender's line for each refusal, and a hub that drains its requests and exits when its
 * input ends. The PC/SC suites are in reader-hub-pcsc.test.ts.
 */
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { admin, blackBoxCards, startNode, within, type NodeProcess } from "./node-process.js"
import { balancesOf, hubDir, journalPending, startHub, topUp, transactionsOf, type HubProcess } from "./reader-hub-process.js"

let node: NodeProcess
const hubs: HubProcess[] = []
const card = (n: number): string => blackBoxCards[120 + n] as string
const raf = (amount: number) => [{ asset: "raf-eur", amount }]

const stdinHub = (reader: string, args: readonly string[]): HubProcess => {
  const hub = startHub({ node, reader, journal: join(hubDir(), "journal"), args: ["--source", "stdin", ...args] })
  hubs.push(hub)
  return hub
}

const connected = (hub: HubProcess) => within("the link", hub.next((event) => event.event === "notice" && String(event["text"]).startsWith("connected to")), 20_000)

beforeAll(async () => {
  node = await startNode()
}, 60_000)

afterEach(async ({ task }) => {
  if (task.result?.state === "fail") for (const hub of hubs) console.error(`hub output:\n${hub.output().slice(-4000)}`)
  await Promise.all(hubs.splice(0).map((hub) => hub.kill()))
})

afterAll(async () => {
  await node?.stop()
})

describe("at the bar", () => {
  it("sells at the price the till set on the loopback endpoint, and reports its state there", async () => {
    expect((await topUp(node, card(0), 1000, "stdin-topup-0")).ok).toBe(true)
    const before = await transactionsOf(node)
    const hub = stdinHub("bar-1", ["--till-port", "0"])
    const till = await within("the till endpoint", hub.next((event) => String(event["text"]).startsWith("till endpoint on")), 20_000)
    const base = /http:\/\/127\.0\.0\.1:\d+/.exec(String(till["text"]))?.[0]
    await connected(hub)
    const put = await fetch(`${base}/v1/price`, { method: "PUT", body: JSON.stringify({ amount: 275 }) })
    expect(await put.json()).toEqual({ amount: 275 })
    expect((await fetch(`${base}/v1/price`, { method: "PUT", body: JSON.stringify({ amount: 2.5 }) })).status).toBe(400)
    hub.write(card(0))
    hub.write(card(1))
    const [sold, refused] = await within("two results", hub.resultCount(2), 20_000)
    expect(sold).toMatchObject({ status: "ok", request: { type: "sale", card: card(0), amount: 275 }, paid: raf(275), balances: raf(725) })
    expect(refused).toMatchObject({ status: "insufficient_funds", request: { card: card(1) }, text: "not enough money on the card" })
    expect(await (await fetch(`${base}/v1/status`)).json()).toEqual({ link: "up", reader: "bar-1", place: "raffinerie", role: "bar", mode: "bar", price: 275, pending: 0 })
    expect(await balancesOf(node, card(0))).toEqual(raf(725))
    // A refused sale is recorded by the node too (its reply is remembered for retries), but moves nothing.
    expect(await transactionsOf(node)).toBe(before + 1)
  })

  it("refuses a tap before any price is set, without sending anything", async () => {
    const hub = stdinHub("bar-1", [])
    await connected(hub)
    hub.write(card(2))
    expect(await within("the refusal", hub.next((event) => event.event === "refused"), 20_000)).toEqual({
      event: "refused",
      card: card(2),
      why: "no price set: type `price 3.50` (or PUT /v1/price from the till)",
    })
    expect(journalPending(hub.journal)).toEqual([])
  })

  it("shows each refusal in the bartender's words, then the node's message", async () => {
    expect((await admin(node, "POST", "/v1/admin/commands", { kind: "void", card: card(3), reason: "lost" })).body["status"]).toBe("ok")
    expect((await topUp(node, card(4), 1000, "stdin-topup-4")).ok).toBe(true)
    const hub = startHub({ node, reader: "bar-1", journal: join(hubDir(), "journal"), args: ["--source", "stdin", "--price", "1.00", "--asset", "mana-gift"] })
    hubs.push(hub)
    const other = stdinHub("bar-2", ["--price", "1.00"])
    await connected(hub)
    hub.write(card(4))
    expect(await within("asset_not_accepted", hub.resultCount(1), 20_000)).toMatchObject([{ status: "asset_not_accepted", text: "this currency is not accepted here" }])
    await connected(other)
    for (const uid of ["0badcafe", card(3)]) other.write(uid)
    const results = await within("two results", other.resultCount(2), 20_000)
    // Pipelined: the replies may come in either order.
    const lines = results.map((line) => [line.request.card, line.status, line["text"]]).sort()
    expect(lines).toEqual([
      [card(3), "card_blocked", "card blocked (reported lost or voided): keep the card, send the holder to the cash desk"],
      ["0badcafe", "unknown_card", "unknown card: not one of this festival's cards"],
    ])
  })
})

describe("the link", () => {
  it("says when the node refuses the token, and keeps the taps in the journal meanwhile", async () => {
    const hub = stdinHub("not-a-reader", ["--price", "1.00"])
    await within("the refusal", hub.next((event) => event.event === "notice" && String(event["text"]).includes("the node refused the reader token (HTTP 401)")), 20_000)
    hub.write(card(9))
    await within("the waiting line", hub.next((event) => event.event === "waiting"), 20_000)
    expect(journalPending(hub.journal)).toMatchObject([{ type: "sale", card: card(9) }])
    expect(hub.results()).toEqual([])
  })
})

describe("at the cash desk", () => {
  it("tops up, checks and refunds: the next tap does what the cashier armed, once", async () => {
    const uid = card(5)
    // The guard off: here the same card is tapped again at once for another action on purpose.
    const hub = stdinHub("desk-1", ["--mode", "cashdesk", "--asset", "raf-eur", "--double-tap-ms", "0"])
    await connected(hub)
    hub.write("topup 20.00")
    hub.write(uid)
    await within("the top-up", hub.resultCount(1), 20_000)
    // Nothing armed: a tap is a check.
    hub.write(uid)
    await within("the check", hub.resultCount(2), 20_000)
    hub.write("refund")
    hub.write(uid)
    const [topup, check, refund] = await within("the refund", hub.resultCount(3), 20_000)
    expect(topup).toMatchObject({ status: "ok", request: { type: "topup", amount: 2000, asset: "raf-eur" }, balances: raf(2000) })
    expect(check).toMatchObject({ status: "ok", request: { type: "check" }, tx: null, balances: raf(2000) })
    expect(refund).toMatchObject({ status: "ok", request: { type: "refund" }, balances: [] })
    expect(await balancesOf(node, uid)).toEqual([])
  })

  it("a bar reader in cashdesk mode is told its top-ups are forbidden", async () => {
    const hub = stdinHub("bar-1", ["--mode", "cashdesk", "--asset", "raf-eur"])
    await within("the warning", hub.next((event) => String(event["text"]).includes("role is bar")), 20_000)
    hub.write("topup 5")
    hub.write(card(6))
    expect(await within("the refusal", hub.resultCount(1), 20_000)).toMatchObject([{ status: "forbidden", text: "this reader may not do that (wrong role or place)" }])
  })
})

describe("a simulated source", () => {
  it("taps piped uids, waits for every reply, and exits when its input ends", async () => {
    expect((await topUp(node, card(7), 1000, "stdin-topup-7")).ok).toBe(true)
    const hub = stdinHub("bar-2", ["--price", "0.10", "--double-tap-ms", "0"])
    for (let i = 0; i < 80; i++) hub.write(card(7))
    hub.child.stdin?.end()
    expect(await within("the exit", hub.exited, 30_000)).toBe(0)
    const results = hub.results()
    expect(results).toHaveLength(80)
    expect(results.filter((result) => result.status === "ok")).toHaveLength(80)
    expect(new Set(results.map((result) => result.request.id)).size).toBe(80)
    expect(await balancesOf(node, card(7))).toEqual(raf(200))
    expect(journalPending(hub.journal)).toEqual([])
  })
})

describe("the journal", () => {
  it("has one hub: a second one on the same journal is refused while the first runs, and welcome once it was killed", async () => {
    const journal = join(hubDir(), "journal")
    const first = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin"] })
    hubs.push(first)
    await connected(first)
    const second = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin"] })
    hubs.push(second)
    expect(await within("the second hub's exit", second.exited, 20_000)).toBe(2)
    expect(second.output()).toContain(`another gesell-reader uses the journal ${journal}`)
    await first.kill()
    const third = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin"] })
    hubs.push(third)
    await connected(third)
  })

  it("belongs to one reader: another reader's token is refused with the journal's requests unsent, and its own reader sends them", async () => {
    expect((await topUp(node, card(8), 1000, "stdin-topup-8")).ok).toBe(true)
    const journal = join(hubDir(), "journal")
    const first = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin", "--price", "1.00"] })
    hubs.push(first)
    await connected(first)
    node.child.kill("SIGSTOP")
    try {
      first.write(card(8))
      await within("the request in the journal", (async () => {
        while (journalPending(journal).length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
      })(), 20_000)
      await first.kill()
    } finally {
      node.child.kill("SIGCONT")
    }
    const other = startHub({ node, reader: "bar-2", journal, args: ["--source", "stdin"] })
    hubs.push(other)
    expect(await within("the other reader's exit", other.exited, 20_000)).toBe(2)
    expect(other.output()).toContain("the journal holds requests of reader bar-1, but the token is bar-2's")
    expect(other.results()).toEqual([])

    const again = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin"] })
    hubs.push(again)
    expect(await within("the resent sale", again.resultCount(1), 20_000)).toMatchObject([{ status: "ok", resent: true, request: { card: card(8) }, balances: raf(900) }])
    expect(await balancesOf(node, card(8))).toEqual(raf(900))
  })
})

