/**
 * The transport ceiling's server, run in a process of its own as the node is: a `ws` server on
 * loopback that greets each connection as the node does, parses each frame with JSON.parse and
 * answers a result frame of the size of the node's answer to a sale. No engine, no storage: what
 * reader connections and frames cost on this machine, and nothing else.
 *
 * Forked by the bench; it tells its port over IPC and exits when its IPC channel closes.
 */
import { createServer } from "node:http"
import { WebSocketServer, type RawData } from "ws"
import { frameBytesMax } from "../engine/limits.js"

const hello = JSON.stringify({ type: "hello", protocol: 1, reader: "echo", place: "bench-0", role: "bar", accepts: ["bench-eur"] })

let answered = 0

/** Shaped like the node's reply to a sale: the tx id, what was paid, the card's balances. */
const answer = (text: string): string => {
  const frame = JSON.parse(text) as { id?: unknown; amount?: unknown }
  answered++
  return JSON.stringify({
    type: "result",
    id: frame.id,
    ok: true,
    tx: String(answered),
    paid: [{ asset: "bench-eur", amount: frame.amount }],
    balances: [{ asset: "bench-eur", amount: 1_000_000 - (answered % 1_000_000) }],
  })
}

const server = createServer((_request, response) => response.writeHead(404).end())
const sockets = new WebSocketServer({ server, maxPayload: frameBytesMax })
sockets.on("connection", (socket) => {
  socket.send(hello)
  socket.on("message", (data: RawData) => socket.send(answer(data.toString())))
  socket.on("error", () => socket.terminate())
})
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  process.send?.({ port: typeof address === "object" && address !== null ? address.port : 0 })
})
process.on("disconnect", () => process.exit(0))
