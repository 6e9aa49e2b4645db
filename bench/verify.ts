/**
 * The `verify` scenario: how fast a peer and a validator check a ledger they catch up on, next to
 * how fast the node made it. A node of the bench federation is tapped flat out (that rate measured
 * as in `flat-out`, on this node) and then on until its ledger holds `verifyTransactions`
 * transactions, every one in a final signed block. A real `gesell peer` on a fresh data dir then
 * follows the node's feed from block 0 to its tip, checking, re-executing and storing every block;
 * it is timed from the moment it runs until its /v1/health holds the node's last final block. Then
 * a `gesell validator` joins: the node's admin adds it to the set with a threshold of 2, so that the
 * block after is final only with its vote, one more top-up makes that block, and the validator is
 * timed from the moment it runs until the node has made that block final: it has caught up on every
 * final block, then re-executed the proposal and voted.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { rm } from "node:fs/promises"
import { performance } from "node:perf_hooks"
import { genesisHashOf, testKey, writeKeyFile } from "../test/federation-process.js"
import { approvedCommand, cliPath, freshDataDir, nodeRuntimeFlags, ReaderClient, testObserverSeed, type NodeProcess } from "../test/node-process.js"
import { benchAsset, cardUid, deskReader, tokenOf } from "./federation.js"
import { measureLoad, type LoadFigures } from "./measure.js"
import { processTicks, serverTicks } from "./proc.js"
import { phaseProgress, progress, progressDone } from "./progress.js"
import { pipelinedOrder, seededNode, type Session } from "./scenarios.js"
import { within } from "./teardown.js"

/** A follower's catch-up: the transactions it checked, how long it took, and what it cost. */
export interface CatchUpFigures {
  readonly transactions: number
  readonly blocks: number
  readonly seconds: number
  readonly transactionsPerSecond: number
  /** The follower's rate ÷ the node's flat-out rate of the same run. */
  readonly flatOutRatio: number
  /** CPU of the follower (its embedded storage included) and of the node serving its feed, per 1,000 transactions. */
  readonly followerCpuMsPer1000: number | undefined
  readonly nodeCpuMsPer1000: number | undefined
  /** The node's PostgreSQL server reading the blocks for the feed, when the node runs on one. */
  readonly postgresCpuMsPer1000: number | undefined
}

export interface VerifyFigures {
  /** The node flat out, on the node that then serves the ledger. */
  readonly flatOut: LoadFigures
  /** Transactions in the ledger when the followers start (block 0's included), and its final blocks. */
  readonly transactions: number
  readonly blocks: number
  readonly peer: CatchUpFigures
  readonly validator: CatchUpFigures
}

/** The validator that joins: a key of its own, not the node's. */
const joiningKey = testKey(0xa1)
const pollMs = 50
const healthTimeoutMs = 5_000
/** The node seals every 250 ms; this long without a new transaction or block, it has sealed them all. */
const quietMs = 1_000
const fillPhaseMsMax = 30_000
const fillPhaseMsMin = 1_000
const followerStartTimeoutMs = 60_000
const followerStopTimeoutMs = 10_000
/** A follower checks at least a few thousand transactions a second: past this, it is stuck. */
const catchUpTimeoutMs = (transactions: number) => 120_000 + transactions

interface Health {
  readonly height: number
  readonly transactions: number
}

const healthOf = async (http: string): Promise<Health> => {
  const response = await fetch(`${http}/v1/health`, { signal: AbortSignal.timeout(healthTimeoutMs) })
  const body = (await response.json()) as Partial<Health>
  return { height: body.height ?? -1, transactions: body.transactions ?? -1 }
}

const metricOf = async (http: string, name: string): Promise<number> => {
  const text = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(healthTimeoutMs) })).text()
  const line = text.split("\n").find((entry) => entry.startsWith(`${name} `))
  return Number(line?.slice(name.length + 1))
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `probe` holds. */
const until = async (what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> =>
  within(
    what,
    (async () => {
      while (!(await probe())) await pause(pollMs)
    })(),
    timeoutMs,
  )

/** Waits until every committed transaction is in a final block: nothing new committed, sealed or made final for a while. */
const allFinal = async (node: NodeProcess): Promise<Health> => {
  let last = { ...(await healthOf(node.http)), sealed: -1, sinceMs: performance.now() }
  for (;;) {
    await pause(pollMs * 4)
    const health = await healthOf(node.http)
    const sealed = await metricOf(node.http, "gesell_block_sealed_height")
    const same = health.height === last.height && health.transactions === last.transactions && sealed === last.sealed
    if (!same) last = { ...health, sealed, sinceMs: performance.now() }
    else if (sealed === health.height && performance.now() - last.sinceMs >= quietMs) return health
  }
}

/** Taps flat out, unmeasured, until the node's ledger holds `target` transactions; each phase is sized by the rate of the one before. */
const fill = async (session: Session, node: NodeProcess, target: number, tapsPerSecond: number): Promise<void> => {
  let rate = Math.max(tapsPerSecond, 1)
  for (;;) {
    const { transactions } = await healthOf(node.http)
    if (transactions >= target) return
    const durationMs = Math.min(fillPhaseMsMax, Math.max(fillPhaseMsMin, ((target - transactions) / rate) * 1000))
    const order = { ...pipelinedOrder(session, node.ws), warmupMs: 0, durationMs }
    const shown = phaseProgress(`filling the ledger to ${target.toLocaleString("en-US")} transactions`, "taps/s", durationMs)
    const load = await session.pool.run(order, { windowStarted: () => undefined, windowEnded: () => undefined, progress: shown })
    progressDone()
    if (load.completed > 0) rate = load.completed / (durationMs / 1000)
  }
}

interface Timed {
  readonly seconds: number
  readonly followerTicks: number | undefined
  readonly nodeTicks: number | undefined
  readonly postgresTicks: number | undefined
}

/** Times a follower from its start until `caughtUp`, with its CPU and the node's over that time. */
const timeCatchUp = async (
  session: Session,
  node: NodeProcess,
  follower: Follower,
  what: string,
  transactions: number,
  caughtUp: () => Promise<boolean>,
): Promise<Timed> => {
  const pid = follower.child.pid
  const followerBefore = pid === undefined ? undefined : processTicks(pid)
  const nodeBefore = node.child.pid === undefined ? undefined : processTicks(node.child.pid)
  const postmaster = session.storage.kind === "postgres" ? session.storage.postmaster : undefined
  const postgresBefore = postmaster === undefined ? undefined : serverTicks(postmaster)
  const started = performance.now()
  const exited = new Promise<never>((_, reject) =>
    follower.child.once("exit", (code) => reject(new Error(`the ${what} exited with ${code} before it caught up:\n${follower.output().slice(-2_000)}`))),
  )
  // Its exit after the catch-up (the bench stops it) is no failure.
  exited.catch(() => undefined)
  await Promise.race([until(`the ${what} to catch up`, caughtUp, catchUpTimeoutMs(transactions)), exited])
  const seconds = (performance.now() - started) / 1000
  const followerAfter = pid === undefined ? undefined : processTicks(pid)
  const nodeAfter = node.child.pid === undefined ? undefined : processTicks(node.child.pid)
  const postgresAfter = postmaster === undefined ? undefined : serverTicks(postmaster)
  const delta = (before: number | undefined, after: number | undefined) => (before === undefined || after === undefined ? undefined : after - before)
  return { seconds, followerTicks: delta(followerBefore, followerAfter), nodeTicks: delta(nodeBefore, nodeAfter), postgresTicks: delta(postgresBefore, postgresAfter) }
}

const figuresOf = (session: Session, timed: Timed, transactions: number, blocks: number, flatOut: number): CatchUpFigures => {
  const perThousand = (ticks: number | undefined) =>
    ticks === undefined || transactions === 0 ? undefined : ((ticks / session.clockTicksPerSecond) * 1000 * 1000) / transactions
  const transactionsPerSecond = transactions / timed.seconds
  return {
    transactions,
    blocks,
    seconds: timed.seconds,
    transactionsPerSecond,
    flatOutRatio: flatOut > 0 ? transactionsPerSecond / flatOut : 0,
    followerCpuMsPer1000: perThousand(timed.followerTicks),
    nodeCpuMsPer1000: perThousand(timed.nodeTicks),
    postgresCpuMsPer1000: perThousand(timed.postgresTicks),
  }
}

/** A follower started from the build, as `gesell` runs it. */
interface Follower {
  readonly child: ChildProcess
  readonly output: () => string
  /** SIGTERM, then its exit. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `gesell ARGS` with the runtime flags of the `gesell` command (and GESELL_FOLLOWER_FLAGS,
 * e.g. `--cpu-prof --cpu-prof-dir=DIR` for a profile), and resolves with the first match of `ready`
 * in its output.
 */
const startFollower = async (session: Session, args: readonly string[], ready: RegExp): Promise<{ follower: Follower; match: RegExpExecArray }> => {
  const flags = [...nodeRuntimeFlags, ...(process.env["GESELL_FOLLOWER_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "")]
  const child = session.teardown.child(spawn(process.execPath, [...flags, cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] }))
  let output = ""
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await within(`gesell ${args[0] ?? ""} to stop`, exited, followerStopTimeoutMs).catch(() => child.kill("SIGKILL"))
  }
  session.teardown.add(`gesell ${args[0] ?? ""}`, stop)
  const follower = { child, output: () => output, stop }
  const match = await within(
    `gesell ${args[0] ?? ""} to start`,
    new Promise<RegExpExecArray>((resolve, reject) => {
      const take = (chunk: Buffer) => {
        output += chunk.toString()
        const found = ready.exec(output)
        if (found !== null) resolve(found)
      }
      child.stdout?.on("data", take)
      child.stderr?.on("data", take)
      child.once("exit", (code) => reject(new Error(`gesell ${args[0] ?? ""} exited with ${code} before it ran:\n${output}`)))
    }),
    followerStartTimeoutMs,
  )
  return { follower, match }
}

const peerCatchUp = async (session: Session, node: NodeProcess, tip: Health, flatOut: number): Promise<CatchUpFigures> => {
  progress(`  verify: a peer catching up on ${tip.transactions.toLocaleString("en-US")} transactions`)
  const dataDir = freshDataDir()
  // The peer reads transactions as the bench federation's observer, a member (PROTOCOL.md section 9.7).
  const key = writeKeyFile(testObserverSeed, dataDir)
  const args = ["peer", "--engine", node.http, "--key", key.file, "--data-dir", dataDir, "--genesis-hash", await genesisHashOf(node), "--port", "0"]
  const { follower: peer, match } = await startFollower(session, args, /serving (http:\/\/127\.0\.0\.1:\d+)\/v1\/blocks/)
  const http = match[1] as string
  try {
    const timed = await timeCatchUp(session, node, peer, "peer", tip.transactions, async () => (await healthOf(http)).height >= tip.height)
    const held = await healthOf(http)
    if (held.height !== tip.height || held.transactions !== tip.transactions) {
      throw new Error(`the peer holds block ${held.height} and transaction ${held.transactions}, the node ${tip.height} and ${tip.transactions}`)
    }
    return figuresOf(session, timed, tip.transactions, tip.height, flatOut)
  } finally {
    progressDone()
    await peer.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** The admin adds the joining validator with a threshold of 2; a top-up then makes a block only its vote can make final. */
const validatorCatchUp = async (session: Session, node: NodeProcess, flatOut: number): Promise<CatchUpFigures> => {
  // Co-optation (PROTOCOL.md section 9.3): the node approves as the one member, the newcomer joins with its own approval.
  const added = await approvedCommand(node, { kind: "validators", add: joiningKey.id, threshold: 2 }, [joiningKey])
  if (added.body["ok"] !== true) throw new Error(`adding the validator: ${JSON.stringify(added.body)}`)
  const tip = await allFinal(node)
  const desk = await ReaderClient.connect(node.ws, tokenOf(deskReader))
  const reply = await desk.request({ type: "topup", id: `verify-${session.phases}`, card: cardUid(1), amount: 1, asset: benchAsset })
  desk.close()
  if (reply.ok !== true) throw new Error(`the top-up after the validator's addition: ${JSON.stringify(reply)}`)
  await until("the block after the addition to be sealed", async () => (await metricOf(node.http, "gesell_block_sealed_height")) > tip.height, 10_000)
  const target = await metricOf(node.http, "gesell_block_sealed_height")
  const transactions = tip.transactions + 1
  progress(`  verify: a validator catching up on ${transactions.toLocaleString("en-US")} transactions, then voting`)
  const dataDir = freshDataDir()
  const key = writeKeyFile(joiningKey.seed, dataDir)
  const args = ["validator", "--engine", node.http, "--key", key.file, "--data-dir", dataDir, "--genesis-hash", await genesisHashOf(node)]
  const { follower: validator } = await startFollower(session, args, /^Validator \S+ following /m)
  try {
    const timed = await timeCatchUp(session, node, validator, "validator", transactions, async () => (await healthOf(node.http)).height >= target)
    return figuresOf(session, timed, transactions, target, flatOut)
  } finally {
    progressDone()
    await validator.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

export const verifyFigures = async (session: Session): Promise<VerifyFigures> => {
  const node = await seededNode(session, false)
  progressDone()
  try {
    const flatOut = await measureLoad(session.pool, "verify: flat out", "taps/s", pipelinedOrder(session, node.process.ws), {
      appPid: node.process.child.pid,
      postmaster: session.storage.kind === "postgres" ? session.storage.postmaster : undefined,
      metricsUrl: `${node.process.http}/metrics`,
      clockTicksPerSecond: session.clockTicksPerSecond,
    })
    await fill(session, node.process, session.options.verifyTransactions, flatOut.perSecond)
    progress("  verify: waiting for every transaction to be in a final block")
    const tip = await allFinal(node.process)
    progressDone()
    const peer = await peerCatchUp(session, node.process, tip, flatOut.perSecond)
    const validator = await validatorCatchUp(session, node.process, flatOut.perSecond)
    return { flatOut, transactions: tip.transactions, blocks: tip.height, peer, validator }
  } finally {
    await node.discard()
  }
}
