/**
 * The kill -9 scenario, shared by the PGlite and the PostgreSQL suites: readers tap a node under
 * load, the node is killed while taps are in flight and started again on the same storage, and every
 * tap is then accounted for: each acknowledged one is in the ledger once (its resend gets its first
 * reply), the cards' balances are exactly what the replies say, and `gesell check` agrees.
 */
import { isDeepStrictEqual } from "node:util"
import { expect } from "vitest"
import { runCli, type NodeProcess, type Reply } from "./node-process.js"
import {
  balancesFromReplies,
  checkedBalances,
  festivalCards,
  festivalLanes,
  health,
  isRefusal,
  resend,
  TapLoad,
  waitFor,
  type Tap,
  type trackedNodes,
} from "./tap-load.js"

export interface KillOptions {
  readonly nodes: ReturnType<typeof trackedNodes>
  /** Environment of the node and of `gesell check` (DATABASE_URL for PostgreSQL). */
  readonly env: Record<string, string>
  /** Taps sent, and acknowledged, before the kill. */
  readonly sentBeforeKill: number
  readonly ackedBeforeKill: number
}

/** The first `count` differences between the replies before the kill and after, for the message. */
const differences = (taps: readonly Tap[], again: readonly Reply[], select: (tap: Tap) => boolean, count = 5) =>
  taps.flatMap((tap, i) => (select(tap) && !isDeepStrictEqual(again[i], tap.reply) ? [{ before: tap.reply, after: again[i] }] : [])).slice(0, count)

export const killUnderLoad = async (options: KillOptions): Promise<void> => {
  const { nodes, env } = options
  const dataDir = nodes.dataDir()
  const node = await nodes.start({ dataDir, env })
  const load = new TapLoad()
  // Enough frames for the five lanes to be still busy when the kill comes.
  await load.start(node.ws, festivalLanes(Math.ceil((options.sentBeforeKill * 1.5) / 5) + 100, "kill"))
  await waitFor(
    `${options.sentBeforeKill} taps sent and ${options.ackedBeforeKill} acknowledged`,
    () => load.taps.length >= options.sentBeforeKill && load.acknowledged().length >= options.ackedBeforeKill,
    50_000,
  )
  const inflightAtKill = load.inflight
  await node.kill()
  await load.done()
  expect(inflightAtKill, "taps in flight at the kill").toBeGreaterThan(0)
  const taps = load.taps
  const acknowledged = load.acknowledged()
  expect(acknowledged.length).toBeGreaterThanOrEqual(options.ackedBeforeKill)

  const restarted = await nodes.start({ dataDir, env })
  const txCount = await accountFor(restarted, taps)
  await restarted.stop()
  const check = await runCli(["check", "--data-dir", dataDir], env)
  expect(check.output).toContain(`${txCount + 1} transactions replayed`)
  expect(check.code, check.output).toBe(0)
}

/**
 * Resends every tap to `node` and checks the ledger against the replies: an acknowledged tap gets
 * its first reply again (so it is in the ledger, once), and so does a tap refused by the engine (that
 * reply was committed before it was sent); every tap ends answered; each ok is its own transaction
 * and the ledger holds no other; each card's balances are exactly what the replies add up to.
 * Returns the number of transactions (the ledger's height).
 */
export const accountFor = async (node: NodeProcess, taps: readonly Tap[]): Promise<number> => {
  const again = await resend(node.ws, taps)
  expect(differences(taps, again, (tap) => tap.reply?.ok === true), "acknowledged taps whose resend differs").toEqual([])
  expect(differences(taps, again, (tap) => tap.reply?.ok === false && !isRefusal(tap.reply)), "answered failures whose resend differs").toEqual([])
  const ended = taps.map((tap, i) => ({ frame: tap.frame, reply: tap.reply !== undefined && !isRefusal(tap.reply) ? tap.reply : (again[i] as Reply) }))
  expect(ended.filter(({ reply }) => reply.type !== "result" || isRefusal(reply)).slice(0, 5), "taps not answered after the failure").toEqual([])
  const txIds = ended.flatMap(({ reply }) => (reply.ok === true ? [reply["tx"]] : []))
  expect(new Set(txIds).size, "distinct transactions of the ok replies").toBe(txIds.length)
  // The ledger's first transaction registers the genesis's cards (PROTOCOL.md section 9.4).
  const height = 1 + txIds.length
  expect((await health(node.http)).body).toMatchObject({ ok: true, transactions: height })
  expect(await checkedBalances(node.ws, festivalCards)).toEqual(balancesFromReplies(ended, festivalCards))
  return height
}
