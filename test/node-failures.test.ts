/**
 * What a reader sees when the node fails, black-box, on the embedded PGlite: the node killed with
 * SIGKILL under load and started again (every acknowledged tap survives, once), a request replayed
 * across a restart, load shedding (`overloaded`) and the metrics; and that the embedded database is
 * out of other local users' reach. The database going away is in node-failures-postgres.test.ts.
 */
import { statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { listeningTcpPorts } from "./listening-ports.js"
import { blackBoxCards, ReaderClient, tokenOf, type Reply } from "./node-process.js"
import { killUnderLoad } from "./kill-under-load.js"
import { codeOf, health, trackedNodes, waitFor } from "./tap-load.js"

const nodes = trackedNodes()
afterEach(() => nodes.cleanup())

const connect = async (ws: string, reader: string): Promise<ReaderClient> => {
  const client = await ReaderClient.connect(ws, tokenOf(reader))
  await client.hello
  return client
}

describe("kill -9 under load (PGlite)", () => {
  it("keeps every acknowledged tap exactly once, balances match the replies, and gesell check passes", async () => {
    await killUnderLoad({ nodes, env: {}, sentBeforeKill: 5_000, ackedBeforeKill: 2_500 })
  }, 90_000)
})

describe("the embedded database", () => {
  it("is served on a Unix socket in a directory only the node's user may enter: the node listens on its HTTP port only", async () => {
    const dataDir = nodes.dataDir()
    const node = await nodes.start({ dataDir })
    expect(listeningTcpPorts(node.child.pid ?? 0)).toEqual([node.port])
    const socketDir = join(dataDir, "pglite-socket")
    expect(statSync(socketDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(socketDir, ".s.PGSQL.5432")).isSocket()).toBe(true)
    // The node works through it.
    const desk = await connect(node.ws, "desk-1")
    expect((await desk.request({ type: "topup", id: "socket-topup", card: blackBoxCards[120] as string, amount: 100, asset: "raf-eur" })).ok).toBe(true)
    desk.close()
  })
})

describe("a request replayed after a restart", () => {
  it("gets its first reply and changes nothing", async () => {
    const dataDir = nodes.dataDir()
    const card = blackBoxCards[150] as string
    const topup = { type: "topup", id: "replay-topup", card, amount: 1_000, asset: "raf-eur" }
    const sale = { type: "sale", id: "replay-sale", card, amount: 300 }
    const node = await nodes.start({ dataDir })
    const desk = await connect(node.ws, "desk-1")
    const bar = await connect(node.ws, "bar-1")
    const toppedUp = await desk.request(topup)
    const sold = await bar.request(sale)
    expect(sold).toMatchObject({ ok: true, paid: [{ asset: "raf-eur", amount: 300 }], balances: [{ asset: "raf-eur", amount: 700 }] })
    // The hubs hang up first: a node with a reader connected does not stop on SIGTERM (see below).
    desk.close()
    bar.close()
    await Promise.all([desk.closed, bar.closed])
    await node.stop()

    const restarted = await nodes.start({ dataDir })
    const bar2 = await connect(restarted.ws, "bar-1")
    const desk2 = await connect(restarted.ws, "desk-1")
    expect(await bar2.request(sale)).toEqual(sold)
    expect(await desk2.request(topup)).toEqual(toppedUp)
    expect(await bar2.request(sale)).toEqual(sold)
    const check = await bar2.request({ type: "check", id: "replay-check", card })
    expect(check["balances"]).toEqual([{ asset: "raf-eur", amount: 700 }])
    expect(codeOf(await bar2.request({ ...sale, amount: 301 }))).toBe("conflict")
    // After the genesis's cards (seq 1, PROTOCOL.md section 9.4).
    expect((await health(restarted.http)).body, "the ledger holds the top-up and the sale only").toMatchObject({ ok: true, transactions: 3 })
    bar2.close()
    desk2.close()
  })
})

describe("a restart with a small request cache", () => {
  it("still answers a retry of a request the node was not loaded with, from storage", async () => {
    const dataDir = nodes.dataDir()
    const env = { GESELL_REQUEST_CACHE_MAX: "2" }
    const card = blackBoxCards[160] as string
    const node = await nodes.start({ dataDir, env })
    const desk = await connect(node.ws, "desk-1")
    const first = await desk.request({ type: "topup", id: "small-cache-0", card, amount: 100, asset: "raf-eur" })
    for (let i = 1; i <= 4; i++) await desk.request({ type: "topup", id: `small-cache-${i}`, card, amount: 100, asset: "raf-eur" })
    desk.close()
    await desk.closed
    await node.stop()

    // Loaded with the 2 newest requests only; the 3 older are known by key and looked up in storage.
    const restarted = await nodes.start({ dataDir, env })
    const desk2 = await connect(restarted.ws, "desk-1")
    expect(await desk2.request({ type: "topup", id: "small-cache-0", card, amount: 100, asset: "raf-eur" })).toEqual(first)
    expect(codeOf(await desk2.request({ type: "topup", id: "small-cache-1", card, amount: 999, asset: "raf-eur" }))).toBe("conflict")
    const check = await desk2.request({ type: "check", id: "small-cache-check", card })
    expect(check["balances"]).toEqual([{ asset: "raf-eur", amount: 500 }])
    desk2.close()
  })
})

describe("stopping", () => {
  // A hub never hangs up by itself: SIGTERM must close reader sockets before the HTTP server waits
  // for its connections (transport/node.ts registers the gateway's close after listen).
  it("exits on SIGTERM while a reader hub stays connected", async () => {
    const node = await nodes.start({ dataDir: nodes.dataDir() })
    const bar = await connect(node.ws, "bar-1")
    expect((await bar.request({ type: "ping", id: "before-stop" })).type).toBe("pong")
    node.child.kill("SIGTERM")
    await waitFor("the node to exit after SIGTERM", () => node.child.exitCode !== null || node.child.signalCode !== null, 10_000)
    expect(node.child.exitCode).toBe(0)
    bar.close()
  })
})

describe("reads", () => {
  it("answers a check only once what it shows is committed", async () => {
    const node = await nodes.start({ dataDir: nodes.dataDir(), env: { GESELL_COMMIT_INTERVAL_MS: "1000" } })
    const card = blackBoxCards[1] as string
    const desk = await connect(node.ws, "desk-1")
    const arrivals: string[] = []
    const topup = desk.request({ type: "topup", id: "read-topup", card, amount: 500, asset: "raf-eur" }).then((reply) => (arrivals.push("topup"), reply))
    const check = desk.request({ type: "check", id: "read-check", card }).then((reply) => (arrivals.push("check"), reply))
    const [topupReply, checkReply] = await Promise.all([topup, check])
    expect(topupReply.ok).toBe(true)
    expect(checkReply["balances"]).toEqual([{ asset: "raf-eur", amount: 500 }])
    expect(arrivals).toEqual(["topup", "check"])
    desk.close()
  })
})

describe("overloaded", () => {
  it("answers the requests beyond 64 in flight on one connection at once, and the 64 after their commit", async () => {
    // The commit waits long enough for the whole burst to be read, even by a node stalled a while.
    const node = await nodes.start({ dataDir: nodes.dataDir(), env: { GESELL_COMMIT_INTERVAL_MS: "3000" } })
    const card = blackBoxCards[0] as string
    const desk = await connect(node.ws, "desk-1")
    expect((await desk.request({ type: "topup", id: "funds", card, amount: 100_000, asset: "raf-eur" })).ok).toBe(true)
    const bar = await connect(node.ws, "bar-1")
    const arrivals: Reply[] = []
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => bar.request({ type: "sale", id: `burst-${i + 1}`, card, amount: 10 }).then((reply) => (arrivals.push(reply), reply))),
    )
    const overloaded = replies.filter((reply) => codeOf(reply) === "overloaded").map((reply) => reply.id)
    // Requests are taken in the order sent: the 65th to the 100th find 64 in flight.
    expect(overloaded).toEqual(Array.from({ length: 36 }, (_, i) => `burst-${i + 65}`))
    // The refusals are written before the commit that answers the others.
    expect(arrivals.slice(0, 36).map((reply) => codeOf(reply))).toEqual(Array(36).fill("overloaded"))
    expect(arrivals.slice(36).every((reply) => reply.ok === true)).toBe(true)
    const check = await bar.request({ type: "check", id: "burst-check", card })
    expect(check["balances"]).toEqual([{ asset: "raf-eur", amount: 100_000 - 64 * 10 }])
    desk.close()
    bar.close()
  })

  it("sheds requests beyond the commit queue across connections, and takes them when resent later", async () => {
    const queueMax = 10
    const env = { GESELL_COMMIT_INTERVAL_MS: "3000", GESELL_COMMIT_QUEUE_TX_MAX: String(queueMax) }
    const node = await nodes.start({ dataDir: nodes.dataDir(), env })
    const cards = blackBoxCards.slice(160, 170)
    const desk = await connect(node.ws, "desk-1")
    const topups = await Promise.all(cards.map((card, i) => desk.request({ type: "topup", id: `queue-topup-${i}`, card, amount: 1_000, asset: "raf-eur" })))
    expect(topups.every((reply) => reply.ok === true)).toBe(true)
    // Two connections of bar-1 and one of bar-2 (request ids are per reader), ten sales each at once.
    const bars = await Promise.all(["bar-1", "bar-2", "bar-1"].map((reader) => connect(node.ws, reader)))
    const frames = bars.map((_, b) => cards.map((card, i) => ({ type: "sale", id: `queue-${b}-${i}`, card, amount: 10 })))
    const first = await Promise.all(bars.flatMap((bar, b) => (frames[b] ?? []).map((frame) => bar.request(frame))))
    expect(first.filter((reply) => codeOf(reply) === "overloaded")).toHaveLength(30 - queueMax)
    expect(first.filter((reply) => reply.ok === true)).toHaveLength(queueMax)

    // Resent later as a hub would, the shed requests are all taken, a queue's worth at a time.
    let waiting = bars.flatMap((bar, b) => (frames[b] ?? []).flatMap((frame, i) => (codeOf(first[b * 10 + i]) === "overloaded" ? [{ bar, frame }] : [])))
    for (let round = 0; waiting.length > 0; round++) {
      expect(round, "rounds of resending").toBeLessThan(10)
      const again = await Promise.all(waiting.map(({ bar, frame }) => bar.request(frame)))
      expect(again.filter((reply) => codeOf(reply) !== "overloaded").every((reply) => reply.ok === true)).toBe(true)
      waiting = waiting.filter((_, i) => codeOf(again[i]) === "overloaded")
    }
    const checks = await Promise.all(cards.map((card, i) => desk.request({ type: "check", id: `queue-check-${i}`, card })))
    expect(checks.map((reply) => reply["balances"])).toEqual(cards.map(() => [{ asset: "raf-eur", amount: 1_000 - 3 * 10 }]))
    for (const client of [desk, ...bars]) client.close()
  })
})

describe("metrics", () => {
  it("exposes requests by type and result, tap latency, commit batch sizes and reader connections", async () => {
    const node = await nodes.start({ dataDir: nodes.dataDir() })
    const card = blackBoxCards[190] as string
    const desk = await connect(node.ws, "desk-1")
    const bar = await connect(node.ws, "bar-1")
    await desk.request({ type: "topup", id: "m-topup", card, amount: 500, asset: "raf-eur" })
    await Promise.all(Array.from({ length: 5 }, (_, i) => bar.request({ type: "sale", id: `m-sale-${i}`, card, amount: 200 })))
    let text = ""
    await waitFor("the metrics of the taps", async () => {
      text = await (await fetch(`${node.http}/metrics`)).text()
      return text.includes('result="insufficient_funds"')
    }, 10_000)
    expect(text).toMatch(/^gesell_requests_total\{type="topup",result="ok"\} 1$/m)
    expect(text).toMatch(/^gesell_requests_total\{type="sale",result="ok"\} 2$/m)
    expect(text).toMatch(/^gesell_requests_total\{type="sale",result="insufficient_funds"\} 3$/m)
    expect(text).toMatch(/^gesell_tap_latency_seconds_bucket\{le="\+Inf"\} 6$/m)
    expect(text).toMatch(/^gesell_commit_batch_requests_bucket\{le="[0-9.]+"\} \d+$/m)
    expect(text).toMatch(/^gesell_commit_batch_requests_sum [1-9]\d*$/m)
    expect(text).toMatch(/^gesell_reader_connections 2$/m)
    desk.close()
    bar.close()
  })
})
