/**
 * The till's endpoint: a small HTTP server on loopback only, so that a till program on the same
 * device sets the price of the next taps (bar) or arms the next action (cash desk), and reads the
 * hub's state. It never carries a card or a token.
 *
 *   GET /v1/price -> {"amount":350} or {"amount":null}
 *   PUT /v1/price {"amount":350} -> {"amount":350}    (minor units, 1..10^12)
 *   PUT /v1/next {"type":"topup","amount":2000,"asset":"raf-eur"} | {"type":"refund"} | {"type":"check"}
 *   GET /v1/status -> {"link":"up"|"down","reader","place","role","mode","price","pending"}
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Armed } from "./hub.js"
import type { Mode } from "./protocol.js"
import { amountMax } from "./limits.js"

export interface TillState {
  readonly price: () => number | undefined
  readonly setPrice: (amount: number) => void
  readonly arm: (action: Armed) => void
  readonly status: () => Record<string, unknown>
  readonly mode: Mode
  /** The asset of a top-up armed without one. */
  readonly topupAsset: string | undefined
}

const bodyBytesMax = 1024

const reply = (response: ServerResponse, status: number, body: unknown): void => {
  response.writeHead(status, { "content-type": "application/json" })
  response.end(JSON.stringify(body))
}

const readBody = (request: IncomingMessage): Promise<unknown> =>
  new Promise((resolve) => {
    let text = ""
    request.on("data", (chunk: Buffer) => {
      text += chunk.toString()
      if (text.length > bodyBytesMax) request.destroy()
    })
    request.on("end", () => {
      try {
        resolve(JSON.parse(text))
      } catch {
        resolve(undefined)
      }
    })
  })

const isAmount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= amountMax
const field = (body: unknown, name: string): unknown => (typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined)

/** The action a PUT /v1/next body arms, or why it cannot. */
const armedOf = (body: unknown, state: TillState): Armed | string => {
  if (state.mode !== "cashdesk") return "the next action is for a hub in cashdesk mode"
  const type = field(body, "type")
  if (type === "refund" || type === "check") return { type }
  if (type !== "topup") return "type must be topup, refund or check"
  const amount = field(body, "amount")
  const asset = field(body, "asset") ?? state.topupAsset
  if (!isAmount(amount)) return "amount must be an integer from 1 to 10^12 (minor units)"
  if (typeof asset !== "string") return "asset is required (or start the hub with --asset)"
  return { type, amount, asset }
}

const route = async (request: IncomingMessage, response: ServerResponse, state: TillState): Promise<void> => {
  const key = `${request.method} ${request.url}`
  if (key === "GET /v1/price") return reply(response, 200, { amount: state.price() ?? null })
  if (key === "GET /v1/status") return reply(response, 200, state.status())
  if (key === "PUT /v1/price") {
    const amount = field(await readBody(request), "amount")
    if (state.mode !== "bar") return reply(response, 409, { error: "the price is for a hub in bar mode" })
    if (!isAmount(amount)) return reply(response, 400, { error: "amount must be an integer from 1 to 10^12 (minor units)" })
    state.setPrice(amount)
    return reply(response, 200, { amount })
  }
  if (key === "PUT /v1/next") {
    const armed = armedOf(await readBody(request), state)
    if (typeof armed === "string") return reply(response, 400, { error: armed })
    state.arm(armed)
    return reply(response, 200, armed)
  }
  reply(response, 404, { error: "GET or PUT /v1/price, PUT /v1/next, GET /v1/status" })
}

/** Listens on 127.0.0.1 only; resolves with the server and its port (port 0 picks a free one). */
export const startTill = (port: number, state: TillState): Promise<{ server: Server; port: number }> =>
  new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      route(request, response, state).catch((error: Error) => reply(response, 500, { error: error.message }))
    })
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => {
      const address = server.address()
      resolve({ server, port: typeof address === "object" && address !== null ? address.port : port })
    })
  })
