/**
 * The reader hub at the bar on a real PC/SC stack, black-box: the built `gesell-reader` reading a
 * virtual card through Debian's pcscd and vpcd, talking to the built `gesell` node. Taps become
 * sales; a hub killed with kill -9 with requests in flight resends its journal and nothing is
 * charged twice or lost; a node restarted under a running hub gets what was pending; the double-tap
 * guard makes two taps one sale; without pcscd the hub says so and exits. Without pcscd and vpcd
 * installed the PC/SC suites are skipped, unless GESELL_REQUIRE_SERVERS=1. pcscd and vpcd's ports
 * are one per machine: everything that uses them is in this file, and runs in order.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { blackBoxCards, freshDataDir, within, type NodeProcess } from "./node-process.js"
import { pcscInstalled, startPcscd, tapCard, virtualReaderName, type Pcscd } from "./reader-hub-pcsc.js"
import { freePort } from "./node-process.js"
import { balancesOf, transactionsOf, hubDir, journalPending, startHub, startNodeOnPort, topUp, type HubProcess } from "./reader-hub-process.js"

const required = process.env["GESELL_REQUIRE_SERVERS"] === "1"
const skipped = !pcscInstalled() && !required
if (skipped) console.warn("reader-hub-pcsc: SKIPPED, pcscd and vsmartcard-vpcd are not installed (apt-get install -y pcscd libpcsclite-dev vsmartcard-vpcd; GESELL_REQUIRE_SERVERS=1 makes this an error)")

/** Cards of the black-box federation kept for these tests (other suites use the first ones, on their own nodes). */
const card = (n: number): string => blackBoxCards[150 + n] as string
const raf = (amount: number) => [{ asset: "raf-eur", amount }]

const hubs: HubProcess[] = []
const pcscHub = (node: NodeProcess, journal: string, args: readonly string[] = []): HubProcess => {
  const hub = startHub({ node, journal, args: ["--source", "pcsc", "--pcsc-reader", virtualReaderName, "--price", "3.50", ...args] })
  hubs.push(hub)
  return hub
}

/** The hub is ready for taps once it has a card reader and (unless the node is down) a link. */
const ready = async (hub: HubProcess, linked = true): Promise<void> => {
  await within("the card reader", hub.next((event) => event.event === "notice" && String(event["text"]).startsWith("card reader ready")), 20_000)
  if (linked) await within("the link", hub.next((event) => event.event === "notice" && String(event["text"]).startsWith("connected to")), 20_000)
}

/** Resolves once the journal on disk holds `count` requests without a reply; fails after 20 s. */
const waitForJournal = async (journal: string, count: number): Promise<void> => {
  for (let attempt = 0; journalPending(journal).length < count; attempt++) {
    if (attempt > 1000) throw new Error(`the journal ${journal} never held ${count} waiting requests: ${JSON.stringify(journalPending(journal))}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.skipIf(skipped)("the hub on a real PC/SC stack", () => {
  let pcscd: Pcscd | undefined
  let node: NodeProcess
  let port: number
  let dataDir: string

  beforeAll(async () => {
    pcscd = await startPcscd()
    port = await freePort()
    dataDir = freshDataDir()
    node = await startNodeOnPort(port, dataDir)
  }, 60_000)

  afterEach(async ({ task }) => {
    if (task.result?.state === "fail") for (const hub of hubs) console.error(`hub output:\n${hub.output().slice(-4000)}\npcscd:\n${pcscd?.output().slice(-2000)}`)
    await Promise.all(hubs.splice(0).map((hub) => hub.kill()))
    // A test that stopped the node leaves it stopped, or paused: the next test gets it back.
    if (node.child.signalCode === null && node.child.exitCode === null) node.child.kill("SIGCONT")
    else node = await startNodeOnPort(port, dataDir)
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    await pcscd?.stop()
  }, 60_000)

  it("a tap on the virtual reader is a sale acknowledged by the node, and the card's balance drops", async () => {
    expect((await topUp(node, card(0), 1000, "hub-topup-0")).ok).toBe(true)
    const txBefore = await transactionsOf(node)
    const hub = pcscHub(node, join(hubDir(), "journal"))
    await ready(hub)
    await within("the tap", tapCard(card(0)), 20_000)
    const [result] = await within("the sale's result", hub.resultCount(1), 20_000)
    expect(result).toMatchObject({ status: "ok", request: { type: "sale", card: card(0), amount: 350 }, paid: raf(350), balances: raf(650), doubleTap: false, resent: false })
    expect(await balancesOf(node, card(0))).toEqual(raf(650))
    expect(await transactionsOf(node)).toBe(txBefore + 1)
    expect(journalPending(hub.journal)).toEqual([])
  })

  it("the same card tapped again within doubleTapMs is the same sale, under the same request id", async () => {
    expect((await topUp(node, card(1), 1000, "hub-topup-1")).ok).toBe(true)
    const txBefore = await transactionsOf(node)
    // A window of a minute, so that the two taps fall in it however slow the machine is.
    const hub = pcscHub(node, join(hubDir(), "journal"), ["--double-tap-ms", "60000"])
    await ready(hub)
    await within("the first tap", tapCard(card(1)), 20_000)
    await within("the first result", hub.resultCount(1), 20_000)
    await within("the second tap", tapCard(card(1)), 20_000)
    const [first, second] = await within("the second result", hub.resultCount(2), 20_000)
    expect(first).toMatchObject({ status: "ok", balances: raf(650), doubleTap: false })
    expect(second).toMatchObject({ status: "ok", balances: raf(650), doubleTap: true })
    expect(second?.request.id).toBe(first?.request.id)
    expect(second?.["tx"]).toBe(first?.["tx"])
    expect(await balancesOf(node, card(1))).toEqual(raf(650))
    expect(await transactionsOf(node)).toBe(txBefore + 1)
  })

  it("without the guard (doubleTapMs 0) the same two taps are two sales", async () => {
    expect((await topUp(node, card(2), 1000, "hub-topup-2")).ok).toBe(true)
    const txBefore = await transactionsOf(node)
    const hub = pcscHub(node, join(hubDir(), "journal"), ["--double-tap-ms", "0"])
    await ready(hub)
    await within("the first tap", tapCard(card(2)), 20_000)
    await within("the first result", hub.resultCount(1), 20_000)
    await within("the second tap", tapCard(card(2)), 20_000)
    const [first, second] = await within("the second result", hub.resultCount(2), 20_000)
    expect(second?.request.id).not.toBe(first?.request.id)
    expect(second).toMatchObject({ status: "ok", balances: raf(300), doubleTap: false })
    expect(await balancesOf(node, card(2))).toEqual(raf(300))
    expect(await transactionsOf(node)).toBe(txBefore + 2)
  })

  it("a hub killed with kill -9 while its requests are in flight resends its journal on restart: each sale once, none lost", async () => {
    const cards = [card(3), card(4), card(5)]
    const warmUp = card(10)
    for (const [i, uid] of [...cards, warmUp].entries()) expect((await topUp(node, uid, 1000, `hub-topup-kill-${i}`)).ok).toBe(true)
    const journal = join(hubDir(), "journal")
    const hub = pcscHub(node, journal)
    await ready(hub)
    // A first tap answered before the pause: a fresh PC/SC reader now and then fails its first read
    // (tapCard taps again 3 s later), and the three taps below must all reach the node well within
    // the hub's 10 s patience with a silent node.
    await within("the warm-up tap", tapCard(warmUp), 20_000)
    await within("the warm-up result", hub.resultCount(1), 20_000)
    const txBefore = await transactionsOf(node)
    // The node paused: the hub's requests are written to its socket and stay unanswered.
    node.child.kill("SIGSTOP")
    for (const uid of cards) await within(`the tap of ${uid}`, tapCard(uid), 20_000)
    await waitForJournal(journal, 3)
    const inflight = journalPending(journal)
    expect(inflight.map((request) => request.card)).toEqual(cards)
    await hub.kill()
    expect(hub.results().map((result) => result.request.card)).toEqual([warmUp])
    // The node reads what reached it before the hub died and commits those sales: their replies are lost.
    node.child.kill("SIGCONT")
    await within("the node committing the three sales", (async () => {
      while ((await transactionsOf(node)) < txBefore + 3) await new Promise((resolve) => setTimeout(resolve, 20))
    })(), 20_000)
    for (const uid of cards) expect(await balancesOf(node, uid)).toEqual(raf(650))

    // The restarted hub resends them under their ids: each gets its first reply, nothing is charged again.
    const restarted = pcscHub(node, journal)
    const results = await within("the resent requests' results", restarted.resultCount(3), 30_000)
    expect(results.map((result) => result.request.id).sort()).toEqual(inflight.map((request) => request.id).sort())
    for (const result of results) expect(result).toMatchObject({ status: "ok", balances: raf(650), resent: true })
    expect(new Set(results.map((result) => result["tx"])).size).toBe(3)
    for (const uid of cards) expect(await balancesOf(node, uid)).toEqual(raf(650))
    expect(await transactionsOf(node)).toBe(txBefore + 3)
    expect(journalPending(journal)).toEqual([])
  })

  it("a node restarted under a running hub: the hub reconnects and completes what was pending, once", async () => {
    const cards = [card(6), card(7)]
    for (const [i, uid] of cards.entries()) expect((await topUp(node, uid, 1000, `hub-topup-restart-${i}`)).ok).toBe(true)
    const txBefore = await transactionsOf(node)
    const journal = join(hubDir(), "journal")
    const hub = pcscHub(node, journal)
    await ready(hub)
    // One sale in flight when the node dies, one tapped while it is down.
    node.child.kill("SIGSTOP")
    await within("the tap in flight", tapCard(cards[0] as string), 20_000)
    await waitForJournal(journal, 1)
    await node.kill()
    await within("the tap while the node is down", tapCard(cards[1] as string), 20_000)
    await waitForJournal(journal, 2)
    expect(hub.results()).toEqual([])

    node = await startNodeOnPort(port, dataDir)
    const results = await within("both results after the restart", hub.resultCount(2), 60_000)
    expect(results.map((result) => result.request.card).sort()).toEqual([...cards].sort())
    for (const result of results) expect(result).toMatchObject({ status: "ok", balances: raf(650) })
    for (const uid of cards) expect(await balancesOf(node, uid)).toEqual(raf(650))
    expect(await transactionsOf(node)).toBe(txBefore + 2)
    expect(journalPending(journal)).toEqual([])
  })

  it("taps journaled while the node is down survive a kill -9 of the hub: sent once when both are back", async () => {
    const cards = [card(8), card(9)]
    for (const [i, uid] of cards.entries()) expect((await topUp(node, uid, 1000, `hub-topup-down-${i}`)).ok).toBe(true)
    const txBefore = await transactionsOf(node)
    const journal = join(hubDir(), "journal")
    const hub = pcscHub(node, journal)
    await ready(hub)
    await node.kill()
    for (const uid of cards) await within(`the tap of ${uid}`, tapCard(uid), 20_000)
    await waitForJournal(journal, 2)
    await hub.kill()
    expect(hub.results()).toEqual([])

    node = await startNodeOnPort(port, dataDir)
    expect(await transactionsOf(node)).toBe(txBefore)
    const restarted = pcscHub(node, journal)
    const results = await within("the journaled requests' results", restarted.resultCount(2), 30_000)
    for (const result of results) expect(result).toMatchObject({ status: "ok", balances: raf(650), resent: true })
    for (const uid of cards) expect(await balancesOf(node, uid)).toEqual(raf(650))
    expect(await transactionsOf(node)).toBe(txBefore + 2)
    expect(journalPending(journal)).toEqual([])
  })

  // Last: it stops the suite's pcscd.
  it("pcscd stopped under a running hub: the hub says so and exits non-zero, for its service manager to restart it", async (context) => {
    if (pcscd?.child === undefined) return context.skip()
    const hub = pcscHub(node, join(hubDir(), "journal"))
    await ready(hub)
    await pcscd.stop()
    expect(await within("the hub's exit", hub.exited, 30_000)).toBe(3)
    expect(hub.output()).toContain("pcscd is not running")
  })
})

describe("without pcscd", () => {
  it.each([
    ["no socket", (dir: string) => join(dir, "missing", "pcscd.comm"), "no socket at"],
    ["a socket path nobody answers on", (dir: string) => {
      const path = join(dir, "pcscd.comm")
      writeFileSync(path, "")
      return path
    }, "ECONNREFUSED"],
  ])("%s: the hub says pcscd is not running and exits non-zero, without spinning", async (_, socketOf, detail) => {
    const dir = hubDir()
    const hub = startHub({ journal: join(dir, "journal"), args: ["--source", "pcsc"], env: { PCSCLITE_CSOCK_NAME: socketOf(dir) } })
    hubs.push(hub)
    const code = await within("the hub's exit", hub.exited, 20_000)
    expect(code).toBe(3)
    expect(hub.output()).toContain("pcscd is not running")
    expect(hub.output()).toContain(detail)
    expect(hub.output()).toContain("apt-get install -y pcscd")
  })
})
