import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Journal, JournalDamaged, type JournalLimits } from "./journal.js"
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
    const { journal: reopened, tornLastLine, unreadable } = Journal.open(path, roomy)
    expect([tornLastLine, unreadable]).toEqual([false, []])
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
    const { journal: reopened, tornLastLine, unreadable, copy } = Journal.open(path, roomy)
    expect([tornLastLine, unreadable, copy]).toEqual([true, [], undefined])
    expect(reopened.pending()).toEqual([entry(1)])
    expect(records(path)).toEqual([{ request: sale(1), atMs: entry(1).atMs }])
  })

  describe("a damaged line before the end", () => {
    /** A journal of three requests and a reply whose third line (the request r2) was damaged on disk. */
    const damaged = (): { path: string; text: string } => {
      const path = journalPath()
      const lines = [{ reader: "bar-1" }, { request: sale(1), atMs: entry(1).atMs }, { request: sale(2), atMs: entry(2).atMs }, { request: sale(3), atMs: entry(3).atMs }, { reply: "r1", result: "ok" }].map((record) => JSON.stringify(record))
      // Two bytes of its time zeroed.
      lines[2] = `${lines[2]?.slice(0, -8)}\u0000\u0000${lines[2]?.slice(-6)}`
      const text = `${lines.join("\n")}\n`
      writeFileSync(path, text)
      return { path, text }
    }

    it("stops opening: the file is left as it is, a copy is kept beside it, and the error says what to do", () => {
      const { path, text } = damaged()
      let thrown: unknown
      try {
        Journal.open(path, roomy)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(JournalDamaged)
      const error = thrown as JournalDamaged
      expect(error.unreadable).toEqual([{ line: 3, seems: "request", id: "r2", type: "sale", amount: 350 }])
      expect(error.message).toContain(`the journal ${path} has 1 damaged line(s) before its end (line 3)`)
      expect(error.message).toContain("--journal-recover")
      expect(readFileSync(path, "utf8")).toBe(text)
      expect(readFileSync(error.copy, "utf8")).toBe(text)
      // Stopped again (a service manager restarting it): one copy, not one per start.
      expect(() => Journal.open(path, roomy)).toThrow(JournalDamaged)
      expect(readdirSync(join(path, "..")).filter((name) => name.includes(".damaged-"))).toHaveLength(1)
    })

    it("a last line that ends with its newline is not a write cut by a crash", () => {
      const path = journalPath()
      writeFileSync(path, `${JSON.stringify({ request: sale(1), atMs: 1 })}\n{"request":{"type":"sale","id":"r2"\u0000\u0000\n`)
      expect(() => Journal.open(path, roomy)).toThrow(JournalDamaged)
    })

    it("recovering keeps what can be read, lists what cannot, and rewrites the journal without it", () => {
      const { path, text } = damaged()
      const { journal, unreadable, copy } = Journal.open(path, roomy, { recover: true })
      expect(unreadable).toEqual([{ line: 3, seems: "request", id: "r2", type: "sale", amount: 350 }])
      expect(journal.reader).toBe("bar-1")
      expect(journal.pending()).toEqual([entry(3)])
      expect(readFileSync(copy ?? "", "utf8")).toBe(text)
      expect(records(path)).toEqual([{ reader: "bar-1" }, { request: sale(3), atMs: entry(3).atMs }])
      journal.close()
      // Recovered once: the next start is an ordinary one.
      expect(Journal.open(path, roomy).unreadable).toEqual([])
    })

    it("tells a damaged reply from a damaged request", () => {
      const path = journalPath()
      writeFileSync(path, [JSON.stringify({ request: sale(1), atMs: 1 }), '{"reply":"r1","res\u0000', "{not json", JSON.stringify({ request: sale(2), atMs: 2 }), ""].join("\n"))
      const { unreadable, journal } = Journal.open(path, roomy, { recover: true })
      expect(unreadable).toEqual([{ line: 2, seems: "reply", id: "r1" }, { line: 3, seems: "unknown" }])
      // The request whose reply was lost is sent again; the node answers it once.
      expect(journal.pending().map((waiting) => waiting.frame.id)).toEqual(["r1", "r2"])
    })
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
