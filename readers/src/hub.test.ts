/**
 * The hub between its card source and its link: a real journal on disk, a clock the test moves, and
 * the link's place taken by a list of the requests handed to it (the link itself is tested against a
 * WebSocket server in link.test.ts, the whole hub against the real node in test/).
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { HubEvent } from "./display.js"
import { Hub } from "./hub.js"
import { Journal } from "./journal.js"
import type { Mode, RequestFrame, Result } from "./protocol.js"
import { RequestIds } from "./request-ids.js"

const setup = (mode: Mode, journalPendingMax = 100) => {
  const path = join(mkdtempSync(join(tmpdir(), "gesell-hub-")), "journal")
  const { journal } = Journal.open(path, { journalPendingMax, journalBytesMax: 1 << 20, journalCompactBytesMin: 1 << 16 })
  let nowMs = 1_732_400_000_000
  const events: HubEvent[] = []
  const sent: RequestFrame[] = []
  const hub = new Hub(
    { mode, doubleTapMs: 1500, requestAgeMsMax: 23 * 3600_000, waitingNoticeMs: 60_000, saleAsset: undefined },
    journal,
    new RequestIds("testsession", () => nowMs),
    () => nowMs,
    (event) => events.push(event),
  )
  hub.resume({ send: (frame) => sent.push(frame) })
  return { hub, journal, events, sent, path, advance: (ms: number) => (nowMs += ms) }
}

/** Taps are journaled and sent together once the current turn of the event loop ends. */
const flushed = () => new Promise((resolve) => setImmediate(resolve))
const ok = (id: string): Result => ({ type: "result", id, ok: true, tx: `tx-${id}`, paid: [], balances: [] })
const results = (events: HubEvent[]) => events.filter((event) => event.event === "result")

describe("hub", () => {
  it("journals a tap before handing it to the link, and records its reply", async () => {
    const { hub, journal, sent, path } = setup("bar")
    hub.setPrice(350)
    hub.tap("04A1B2C3")
    expect(sent).toEqual([])
    await flushed()
    expect(sent).toMatchObject([{ type: "sale", card: "04a1b2c3", amount: 350 }])
    const [frame] = sent as [RequestFrame]
    journal.close()
    expect(Journal.open(path, { journalPendingMax: 100, journalBytesMax: 1 << 20, journalCompactBytesMin: 1 << 16 }).journal.pending()).toMatchObject([{ frame }])
  })

  it("a double tap while the first is unanswered sends nothing more, and each tap gets its line", async () => {
    const { hub, sent, events, journal, advance } = setup("bar")
    hub.setPrice(100)
    hub.tap("04a1b2c3")
    await flushed()
    advance(800)
    hub.tap("04a1b2c3")
    await flushed()
    expect(sent).toHaveLength(1)
    const [frame] = sent as [RequestFrame]
    hub.onResult(frame, ok(frame.id))
    expect(results(events)).toMatchObject([{ doubleTap: false }, { doubleTap: true }])
    expect(journal.pendingCount).toBe(0)
    // After the window, the same card is a new sale.
    advance(1500)
    hub.tap("04a1b2c3")
    await flushed()
    expect(sent).toHaveLength(2)
    expect(sent[1]?.id).not.toBe(frame.id)
  })

  it("refuses taps once the journal is full, without recording or sending them", async () => {
    const { hub, sent, events } = setup("bar", 2)
    hub.setPrice(100)
    for (const uid of ["04000001", "04000002", "04000003"]) hub.tap(uid)
    await flushed()
    expect(sent.map((frame) => frame.card)).toEqual(["04000001", "04000002"])
    expect(events.filter((event) => event.event === "refused")).toEqual([
      { event: "refused", card: "04000003", why: "journal full: 2 requests are waiting for the node (journalPendingMax 2): wait for the link to come back" },
    ])
  })

  it("at the cash desk, an armed action is for the next tap only; then a tap is a check", async () => {
    const { hub, sent, advance } = setup("cashdesk")
    hub.arm({ type: "topup", amount: 2000, asset: "raf-eur" })
    hub.tap("04000001")
    advance(5000)
    hub.tap("04000001")
    await flushed()
    expect(sent.map((frame) => frame.type)).toEqual(["topup", "check"])
  })

  it("does not send again a request older than the node remembers: it is shown as expired", () => {
    const path = join(mkdtempSync(join(tmpdir(), "gesell-hub-")), "journal")
    const limits = { journalPendingMax: 100, journalBytesMax: 1 << 20, journalCompactBytesMin: 1 << 16 }
    const old: RequestFrame = { type: "sale", id: "old", card: "04000001", amount: 100 }
    const fresh: RequestFrame = { type: "sale", id: "fresh", card: "04000002", amount: 100 }
    const now = 1_732_400_000_000
    const { journal } = Journal.open(path, limits)
    journal.recordRequests([{ frame: old, atMs: now - 24 * 3600_000 }, { frame: fresh, atMs: now - 1000 }])
    const events: HubEvent[] = []
    const sent: RequestFrame[] = []
    const hub = new Hub({ mode: "bar", doubleTapMs: 1500, requestAgeMsMax: 23 * 3600_000, waitingNoticeMs: 60_000, saleAsset: undefined }, journal, new RequestIds("testsession", () => now), () => now, (event) => events.push(event))
    hub.resume({ send: (frame) => sent.push(frame) })
    expect(sent).toEqual([fresh])
    expect(events).toEqual([{ event: "expired", frame: old }])
    expect(journal.pending().map((entry) => entry.frame)).toEqual([fresh])
  })

  it("a request the link finds too old while the hub runs leaves the journal and is shown expired", async () => {
    const { hub, sent, events, journal } = setup("bar")
    hub.setPrice(100)
    hub.tap("04000001")
    await flushed()
    const [frame] = sent as [RequestFrame]
    hub.onExpired(frame)
    expect(events.filter((event) => event.event === "expired")).toEqual([{ event: "expired", frame }])
    expect(journal.pendingCount).toBe(0)
    expect(hub.outstanding).toBe(0)
  })
})
