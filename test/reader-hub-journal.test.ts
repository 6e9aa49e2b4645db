/**
 * The hub's journal when the disk damaged it, black-box: the built hub against the built node. A
 * damaged line before the end stops the hub (exit code 2) before anything is sent, with the file
 * left as it was and a copy beside it; `--journal-recover` then sends what can be read, lists what
 * cannot, and the bar sells again at once. A last line cut by a crash is only dropped.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { blackBoxCards, startNode, within, type NodeProcess } from "./node-process.js"
import { balancesOf, hubDir, journalPending, startHub, topUp, type HubProcess } from "./reader-hub-process.js"

let node: NodeProcess
const hubs: HubProcess[] = []
const card = (n: number): string => blackBoxCards[150 + n] as string
const raf = (amount: number) => [{ asset: "raf-eur", amount }]

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

const hub = (journal: string, args: readonly string[]): HubProcess => {
  const started = startHub({ node, reader: "bar-1", journal, args: ["--source", "stdin", ...args] })
  hubs.push(started)
  return started
}

/** A journal of bar-1 as the hub writes it: the reader, then a sale of each amount on `uid`. */
const journalLines = (uid: string, prefix: string, amounts: readonly number[]): string[] => {
  const atMs = Date.now() - 60_000
  return [
    JSON.stringify({ reader: "bar-1" }),
    ...amounts.map((amount, n) => JSON.stringify({ request: { type: "sale", id: `${prefix}-${n + 1}`, card: uid, amount }, atMs: atMs + n })),
  ]
}

describe("a damaged journal", () => {
  it("stops the hub with code 2 before it sends anything, keeping the file and a copy; --journal-recover sends what can be read and lists the rest", async () => {
    const uid = card(0)
    expect((await topUp(node, uid, 1000, "journal-topup-0")).ok).toBe(true)
    const directory = hubDir()
    const journal = join(directory, "journal")
    const lines = journalLines(uid, "dmg", [100, 200, 300])
    // The second sale's line (line 3) damaged on disk: two bytes of its time zeroed.
    const damaged = lines[2] ?? ""
    lines[2] = `${damaged.slice(0, -6)}\u0000\u0000${damaged.slice(-4)}`
    writeFileSync(journal, `${lines.join("\n")}\n`)
    const found = readFileSync(journal)

    const stopped = hub(journal, [])
    expect(await within("the exit", stopped.exited, 20_000)).toBe(2)
    expect(stopped.output()).toContain(`gesell-reader: the journal ${journal} has 1 damaged line(s) before its end (line 3)`)
    expect(stopped.output()).toContain("start once with --journal-recover")
    expect(stopped.results()).toEqual([])
    expect(readFileSync(journal)).toEqual(found)
    const copies = readdirSync(directory).filter((name) => name.startsWith("journal.damaged-"))
    expect(copies).toHaveLength(1)
    const copy = join(directory, copies[0] ?? "")
    expect(stopped.output()).toContain(`with a copy in ${copy}`)
    expect(readFileSync(copy)).toEqual(found)
    expect(await balancesOf(node, uid)).toEqual(raf(1000))

    const recovering = hub(journal, ["--journal-recover", "--price", "0.50"])
    expect(await within("the unreadable line", recovering.next((event) => event.event === "unreadable"), 20_000)).toEqual({
      event: "unreadable",
      line: 3,
      seems: "request",
      id: "dmg-2",
      type: "sale",
      amount: 200,
      copy,
    })
    const resent = await within("the sales that could be read", recovering.resultCount(2), 20_000)
    expect(resent.map((result) => [result.request.id, result.status, result.resent]).sort()).toEqual([
      ["dmg-1", "ok", true],
      ["dmg-3", "ok", true],
    ])
    // The bar sells again at once.
    recovering.write(uid)
    const [, , sold] = await within("a new sale", recovering.resultCount(3), 20_000)
    expect(sold).toMatchObject({ status: "ok", resent: false, request: { card: uid, amount: 50 }, balances: raf(550) })
    expect(await balancesOf(node, uid)).toEqual(raf(550))
    expect(journalPending(journal)).toEqual([])
    expect(await within("the stop", recovering.stop(), 20_000)).toBe(0)
    expect(readFileSync(copy)).toEqual(found)

    // Recovered once: the next start is an ordinary one.
    const again = hub(journal, [])
    await within("the link", again.next((event) => event.event === "notice" && String(event["text"]).startsWith("connected to")), 20_000)
    expect(again.events.filter((event) => event.event === "unreadable")).toEqual([])
  })

  it("a last line cut by a crash is dropped, and the hub starts and sends the rest", async () => {
    const uid = card(1)
    expect((await topUp(node, uid, 1000, "journal-topup-1")).ok).toBe(true)
    const journal = join(hubDir(), "journal")
    const lines = journalLines(uid, "torn", [100, 200])
    // The last write cut short: no end to its record, no newline.
    writeFileSync(journal, `${lines.slice(0, 2).join("\n")}\n${(lines[2] ?? "").slice(0, 40)}`)
    const started = hub(journal, [])
    expect(await within("the resent sale", started.resultCount(1), 20_000)).toMatchObject([{ status: "ok", resent: true, request: { id: "torn-1" } }])
    expect(started.events).toContainEqual({ event: "notice", text: "journal: its last line was cut by a crash (a write never sent): dropped" })
    expect(await balancesOf(node, uid)).toEqual(raf(900))
  })
})
