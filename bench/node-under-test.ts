/**
 * The gesell node under test: the built `gesell start` on a random loopback port with the bench's
 * genesis, on the throwaway PostgreSQL or on its embedded PGlite, stopped by the teardown; and its
 * seeding, every card topped up through the cash desk over the reader protocol, as a festival's
 * cash desks do, pipelined on a few connections.
 */
import { rm } from "node:fs/promises"
import { nodeDataDir } from "../test/federation-process.js"
import { ReaderClient, startNode, type NodeProcess } from "../test/node-process.js"
import { benchAsset, benchGenesis, benchKeySeed, cardBalance, cardUid, deskReader, hotCardBalance, hotCardIndex, tokenOf } from "./federation.js"
import { within, type Teardown } from "./teardown.js"

const nodeStartTimeoutMs = 120_000
const nodeStopTimeoutMs = 10_000
const seedConnections = 4
const seedInflightMax = 64
/** Seeding runs at thousands of topups a second; this only stops a node that stopped answering. */
const seedTimeoutMs = 300_000

export interface BenchNode {
  readonly process: NodeProcess
  /** Stops the node and keeps its data (to start it again on them). */
  readonly halt: () => Promise<void>
  /** Stops the node and removes its data dir; the database of a real server is left to its teardown. */
  readonly discard: () => Promise<void>
}

export interface NodeSpec {
  readonly connections: number
  readonly cards: number
  /** PostgreSQL's URL, or undefined for the node's embedded PGlite. */
  readonly databaseUrl: string | undefined
  /** A data dir to start again on; a fresh one when undefined. */
  readonly dataDir?: string | undefined
  readonly env?: Record<string, string>
}

export const startBenchNode = async (spec: NodeSpec, teardown: Teardown): Promise<BenchNode> => {
  // The node inherits the bench's environment; PGlite is what it runs without DATABASE_URL.
  if (spec.databaseUrl === undefined) delete process.env["DATABASE_URL"]
  const env: Record<string, string> = {
    GESELL_LIMITS: "default",
    ...(spec.databaseUrl === undefined ? {} : { DATABASE_URL: spec.databaseUrl }),
    ...spec.env,
  }
  // The node signs as the federation's one validator (its key in its data dir), so blocks become final.
  const dataDir = spec.dataDir ?? nodeDataDir(benchKeySeed)
  const options = { genesis: benchGenesis(spec.connections, spec.cards), env, dataDir }
  const node = await within("the node to listen", startNode(options), nodeStartTimeoutMs)
  teardown.child(node.child)
  let halted: Promise<void> | undefined
  const halt = () => (halted ??= within("the node to stop", node.stop(), nodeStopTimeoutMs).catch(() => node.kill()))
  const discard = async () => {
    await halt()
    await rm(node.dataDir, { recursive: true, force: true })
    await rm(`${node.dataDir}-genesis.json`, { force: true })
  }
  teardown.add("node", discard)
  return { process: node, halt, discard }
}

/** Keeps up to 64 topups in flight on one desk connection until `next` has none left. */
const topUpLane = async (client: ReaderClient, next: () => { id: string; card: string; amount: number } | undefined): Promise<void> => {
  const lane = async () => {
    for (let topup = next(); topup !== undefined; topup = next()) {
      const reply = await client.request({ type: "topup", id: topup.id, card: topup.card, amount: topup.amount, asset: benchAsset })
      if (reply.ok !== true) throw new Error(`seeding: topup of ${topup.card} answered ${JSON.stringify(reply)}`)
    }
  }
  await Promise.all(Array.from({ length: seedInflightMax }, lane))
}

/** Tops every card up with `cardBalance`, and the hot card with `hotCardBalance` more. */
export const seedCards = async (node: NodeProcess, cards: number): Promise<void> => {
  const clients = await Promise.all(Array.from({ length: seedConnections }, () => ReaderClient.connect(node.ws, tokenOf(deskReader))))
  try {
    await Promise.all(clients.map((client) => client.hello))
    let index = 0
    const next = () => {
      if (index > cards) return undefined
      const topup = index === cards ? { card: cardUid(hotCardIndex), amount: hotCardBalance } : { card: cardUid(index), amount: cardBalance }
      return { id: `seed-${index++}`, ...topup }
    }
    await within("the seeding topups", Promise.all(clients.map((client) => topUpLane(client, next))), seedTimeoutMs)
  } finally {
    for (const client of clients) client.close()
  }
}
