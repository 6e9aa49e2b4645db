/**
 * A flat-out load against a real node: starts `gesell start` on a throwaway PostgreSQL (or PGlite
 * with --storage pglite), tops up M cards through a cash desk, then N bar connections keep 64 sales
 * each in flight for D seconds. Prints taps/s and tap-to-ack latency percentiles. The load runs in
 * this one process, so its figure is a lower bound of what the node takes; `npm run bench` (to come)
 * spreads readers over worker processes.
 *
 *   node dist/bench/load.js [--storage postgres|pglite] [--connections N] [--cards M] [--seconds D]
 */
import { parseArgs } from "node:util"
import { performance } from "node:perf_hooks"
import { blackBoxGenesis, ReaderClient, startNode, tokenOf, type NodeProcess } from "../test/node-process.js"
import { startPostgres, type PostgresServer } from "../test/postgres-server.js"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"

const { values } = parseArgs({
  options: {
    storage: { type: "string", default: "postgres" },
    connections: { type: "string", default: "16" },
    cards: { type: "string", default: "20000" },
    seconds: { type: "string", default: "10" },
  },
})
const connections = Number(values.connections)
const cardCount = Number(values.cards)
const seconds = Number(values.seconds)
const inflightMax = 64

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
const cards = Array.from({ length: cardCount }, (_, i) => `04${(i + 1).toString(16).padStart(12, "0")}`)
const bars = Array.from({ length: connections }, (_, i) => ({ id: `load-${i}`, place: "raffinerie", role: "bar" as const }))
const genesis = {
  ...blackBoxGenesis,
  readers: [...blackBoxGenesis.readers, ...bars.map((bar) => ({ ...bar, tokenSha256: sha256(tokenOf(bar.id)) }))],
  cards: cards.map((uid) => ({ uid })),
}

/** Keeps `inflightMax` requests in flight on one connection until `until` (ms). */
const drive = async (client: ReaderClient, make: (n: number) => Record<string, unknown> & { id: string }, until: () => boolean, latencies: number[]) => {
  let n = 0
  const lane = async () => {
    while (!until()) {
      const started = performance.now()
      const reply = await client.request(make(n++))
      if (reply.ok !== true) throw new Error(`unexpected reply ${JSON.stringify(reply)}`)
      latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: inflightMax }, lane))
  return n
}

/** CPU time (user + system) of a process so far, in milliseconds, from /proc (Linux). */
const cpuMs = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  const ticksPerSecond = 100
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0

const main = async () => {
  let postgres: PostgresServer | undefined
  const env: Record<string, string> = {}
  if (values.storage === "postgres") {
    postgres = await startPostgres()
    if (postgres === undefined) throw new Error("PostgreSQL is not installed (apt-get install -y postgresql)")
    env["DATABASE_URL"] = postgres.url
  }
  const node: NodeProcess = await startNode({ genesis, env })
  try {
    const desk = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
    await desk.hello
    let next = 0
    const topups = await drive(desk, () => ({ type: "topup", id: `t${next}`, card: cards[next++ % cardCount] as string, amount: 1_000_000, asset: "raf-eur" }), () => next >= cardCount, [])
    desk.close()
    const clients = await Promise.all(bars.map((bar) => ReaderClient.connect(node.ws, tokenOf(bar.id))))
    await Promise.all(clients.map((client) => client.hello))
    const latencies: number[] = []
    const cpuBefore = cpuMs(node.child.pid)
    const started = performance.now()
    const end = started + seconds * 1000
    const counts = await Promise.all(
      clients.map((client, c) =>
        drive(client, (n) => ({ type: "sale", id: `s${n}`, card: cards[(c * 7919 + n * 104729) % cardCount] as string, amount: 1 }), () => performance.now() >= end, latencies),
      ),
    )
    const elapsed = (performance.now() - started) / 1000
    const taps = counts.reduce((a, b) => a + b, 0)
    const nodeCpuMs = cpuMs(node.child.pid) - cpuBefore
    const sorted = Float64Array.from(latencies).sort()
    console.log(`storage ${values.storage}; ${topups} cards topped up; ${connections} connections × ${inflightMax} in flight for ${seconds} s`)
    console.log(`taps/s ${(taps / elapsed).toFixed(0)}  p50 ${percentile(sorted, 0.5).toFixed(2)} ms  p99 ${percentile(sorted, 0.99).toFixed(2)} ms  p99.9 ${percentile(sorted, 0.999).toFixed(2)} ms  node CPU ${((nodeCpuMs / taps) * 1000).toFixed(0)} µs per tap`)
    for (const client of clients) client.close()
  } finally {
    await node.stop()
    await postgres?.destroy()
  }
}

await main()
