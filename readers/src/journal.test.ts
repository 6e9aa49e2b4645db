import { appendFileSync, mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Journal, type JournalLimits } from "./journal.js"
import type { RequestFrame } from "./protocol.js"

const roomy: JournalLimits = { journalPendingMax: 1000, journalBytesMax: 1024 * 1024, journalCompactBytesMin: 64 * 1024 }
const journalPath = (): string => join(mkdtempSync(join(tmpdir(), "gesell-journal-")), "journal")
const sale = (n: number): RequestFrame => ({ type: "sale", id: `r${n}`, card: "04a1b2c3", amount: 350 })
const entry = (n: number) => ({ frame: sale(n), atMs: 1_700_000_000_000 + n })
const records = (path: string): unknown[] => readFileSync(path, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as unknown)

describe("journal", () => {
  it("keeps the requests without a final reply across a reopen, in the order they were made", () => {
    const path = journalPath()
    const { journal } = Journal.open(path, roomy)
    journal.recordReader("bar-1")
    journal.recordRequests([entry(1), entry(2), entry(3)])
    journal.recordReply("r2", "ok")
    journal.close()
    const { journal: reopened, damagedLines } = Journal.open(path, roomy)
    expect(damagedLines).toBe(0)
    expect(reopened.reader).toBe("bar-1")
    expect(reopened.pending()).toEqual([entry(1), entry(3)])
    // Opening compacts: the reader and the two waiting requests only.
    expect(records(path)).toEqual([{ reader: "bar-1" }, { request: sale(1), atMs: entry(1).atMs }, { request: sale(3), atMs: entry(3).atMs }])
  })

  it("skips a torn last line (a write cut by a crash) and drops it from the file", () => {
    const path = journalPath()
    const { journal } = Journal.open(path, roomy)
    journal.recordRequests([entry(1)])
    journal.close()
    appendFileSync(path, JSON.stringify({ request: sale(2), atMs: 1 }).slice(0, 25))
    const { journal: reopened, damagedLines } = Journal.open(path, roomy)
    expect(damagedLines).toBe(1)
    expect(reopened.pending()).toEqual([entry(1)])
    expect(records(path)).toEqual([{ request: sale(1), atMs: entry(1).atMs }])
  })

  it("a request made again after its reply (a double tap) waits again, once", () => {
    const { journal } = Journal.open(journalPath(), roomy)
    journal.recordRequests([entry(1)])
    journal.recordReply("r1", "ok")
    expect(journal.isPending("r1")).toBe(false)
    journal.recordRequests([entry(1), entry(1)])
    expect(journal.pending()).toEqual([entry(1)])
  })

  it("is compacted once replies dominate it, and stays small however many taps it saw", () => {
    const path = journalPath()
    const limits = { ...roomy, journalCompactBytesMin: 2048 }
    const { journal } = Journal.open(path, limits)
    journal.recordReader("bar-1")
    journal.recordRequests([entry(0)])
    for (let n = 1; n <= 400; n++) {
      journal.recordRequests([entry(n)])
      journal.recordReply(`r${n}`, n % 7 === 0 ? "insufficient_funds" : "ok")
    }
    expect(statSync(path).size).toBeLessThan(limits.journalCompactBytesMin * 2)
    journal.close()
    expect(Journal.open(path, limits).journal.pending()).toEqual([entry(0)])
  })

  it("refuses new requests beyond journalPendingMax, and beyond journalBytesMax, instead of growing", () => {
    const { journal } = Journal.open(journalPath(), { ...roomy, journalPendingMax: 3 })
    journal.recordRequests([entry(1), entry(2), entry(3)])
    expect(journal.refusal(1)).toMatch(/^journal full: 3 requests are waiting for the node \(journalPendingMax 3\)/)
    expect(() => journal.recordRequests([entry(4)])).toThrow("journal full")
    expect(journal.pending()).toEqual([entry(1), entry(2), entry(3)])
    journal.recordReply("r1", "ok")
    expect(journal.refusal(1)).toBeUndefined()

    const small = Journal.open(journalPath(), { ...roomy, journalBytesMax: 300 }).journal
    small.recordRequests([entry(1), entry(2)])
    expect(() => small.recordRequests([entry(3), entry(4)])).toThrow(/journal full: \d+ bytes with 2 requests waiting/)
    expect(small.pending()).toEqual([entry(1), entry(2)])
    expect(small.sizeBytes).toBeLessThanOrEqual(300)
  })
})
