/**
 * `gesell simulate`: a few bars and cash desks of the demo federation tapping over the real reader
 * WebSocket, at a bounded rate for a bounded time, with a line of figures every second. It reads
 * the demo readers' tokens from the data dir, where the node wrote them on first start.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { WebSocket } from "ws"
import { demoCardUid } from "./demo.js"

export interface SimulateOptions {
  readonly url: string
  readonly dataDir: string
  readonly ratePerSecond: number
  readonly durationSeconds: number
  readonly clockMs: () => number
  readonly print: (line: string) => void
}

interface DemoReader {
  readonly id: string
  readonly place: string
  readonly role: string
  readonly token: string
}

const topupAssets: Record<string, string> = { raffinerie: "raf-eur", manapany: "mana-gift", kaz: "kaz-time" }

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0

/** Opens one connection per demo reader; resolves once every hello has arrived. */
const connect = (url: string, readers: readonly DemoReader[]): Promise<Array<{ reader: DemoReader; socket: WebSocket }>> =>
  Promise.all(
    readers.map(
      (reader) =>
        new Promise<{ reader: DemoReader; socket: WebSocket }>((resolve, reject) => {
          const socket = new WebSocket(`${url}/v1/readers`, { headers: { authorization: `Bearer ${reader.token}` } })
          socket.once("message", () => resolve({ reader, socket }))
          socket.once("error", reject)
          socket.once("unexpected-response", (_request, response) => reject(new Error(`${reader.id}: HTTP ${response.statusCode} on connect`)))
        }),
    ),
  )

export const simulate = async (options: SimulateOptions): Promise<{ sent: number; answered: number; ok: number }> => {
  const demo = JSON.parse(readFileSync(join(options.dataDir, "demo-readers.json"), "utf8")) as { readers: DemoReader[]; cards: number }
  const connections = await connect(options.url, demo.readers)
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  const counts = new Map<string, number>()
  let answered = 0
  for (const { socket } of connections) {
    socket.on("message", (data) => {
      const reply = JSON.parse(data.toString()) as { id: string; ok?: boolean; error?: { code: string } }
      const started = sentAt.get(reply.id)
      if (started === undefined) return
      sentAt.delete(reply.id)
      answered++
      latencies.push(options.clockMs() - started)
      const result = reply.ok === true ? "ok" : (reply.error?.code ?? "?")
      counts.set(result, (counts.get(result) ?? 0) + 1)
    })
  }
  let sent = 0
  let second = 0
  const started = options.clockMs()
  const run = (resolve: () => void): void => {
    const elapsed = options.clockMs() - started
    const due = Math.min(Math.floor((elapsed / 1000) * options.ratePerSecond), options.ratePerSecond * options.durationSeconds)
    for (; sent < due; sent++) {
      const { reader, socket } = connections[sent % connections.length] as { reader: DemoReader; socket: WebSocket }
      // Each round of readers serves one card: the cash desks top it up, and the bars sell on the
      // card of the round before, so that most sales find money.
      const round = Math.floor(sent / connections.length) - (reader.role === "bar" ? 1 : 0)
      const card = demoCardUid(1 + (Math.max(round, 0) % demo.cards))
      const id = `sim-${started.toFixed(0)}-${sent}`
      const frame =
        reader.role === "cashdesk"
          ? { type: "topup", id, card, amount: 2000, asset: topupAssets[reader.place] ?? "raf-eur" }
          : reader.place === "kaz"
            ? { type: "sale", id, card, amount: 15, asset: "kaz-time" }
            : { type: "sale", id, card, amount: 250 + 50 * (sent % 6) }
      sentAt.set(id, options.clockMs())
      socket.send(JSON.stringify(frame))
    }
    if (Math.floor(elapsed / 1000) > second) {
      second = Math.floor(elapsed / 1000)
      const sorted = [...latencies].sort((a, b) => a - b)
      latencies.length = 0
      const results = [...counts].map(([code, n]) => `${code} ${n}`).join(", ")
      options.print(`${String(second).padStart(3)} s  sent ${sent}  answered ${answered}  p50 ${percentile(sorted, 0.5).toFixed(1)} ms  p99 ${percentile(sorted, 0.99).toFixed(1)} ms  [${results}]`)
    }
    const done = sent >= options.ratePerSecond * options.durationSeconds && (sentAt.size === 0 || elapsed > (options.durationSeconds + 5) * 1000)
    if (done) return resolve()
    setTimeout(() => run(resolve), 5)
  }
  await new Promise<void>((resolve) => run(resolve))
  for (const { socket } of connections) socket.close()
  return { sent, answered, ok: counts.get("ok") ?? 0 }
}
