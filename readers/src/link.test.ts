/**
 * The link against a WebSocket server that plays the node's part of PROTOCOL.md section 3 with
 * scripted replies, for what a real node does only under failure: `unavailable` and `overloaded`
 * (retried under the same id), a connection dropped with requests in flight (sent again first, same
 * ids), the bound of 64 requests in flight, replies as long as the contract allows, and requests
 * too old to be sent again after a reconnect (on a clock the test moves). The black-box suites in
 * test/ use the real node.
 */
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer, type WebSocket } from "ws"
import { Link, type LinkEvents, type LinkLimits } from "./link.js"
import type { RequestFrame, Result } from "./protocol.js"

const limits: LinkLimits = {
  inflightMax: 64,
  frameBytesMax: 4096,
  replyBytesMax: 16_384,
  requestAgeMsMax: 23 * 60 * 60 * 1000,
  reconnectDelayMsMin: 10,
  reconnectDelayMsMax: 50,
  retryDelayMsMin: 10,
  retryDelayMsMax: 40,
  handshakeTimeoutMs: 5000,
  pingIntervalMs: 5000,
  pongTimeoutMs: 10_000,
}

const hello = { type: "hello", protocol: 1, reader: "bar-1", place: "raffinerie", role: "bar", accepts: ["raf-eur"] }
const sale = (n: number): RequestFrame => ({ type: "sale", id: `s${n}`, card: "04a1b2c3", amount: 100 })
const ok = (id: string) => JSON.stringify({ type: "result", id, ok: true, tx: `tx-${id}`, paid: [], balances: [] })
const refused = (id: string, code: string) => JSON.stringify({ type: "result", id, ok: false, error: { code, message: code } })

/** A scripted node: greets each connection and hands every frame to `onFrame`. */
const scriptedNode = async (onFrame: (socket: WebSocket, frame: { id: string }, connection: number) => void) => {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" })
  await new Promise((resolve) => server.once("listening", resolve))
  const received: Array<{ connection: number; id: string }> = []
  let connections = 0
  server.on("connection", (socket) => {
    const connection = ++connections
    socket.send(JSON.stringify(hello))
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as { id: string }
      received.push({ connection, id: frame.id })
      onFrame(socket, frame, connection)
    })
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return { server, received, url: `ws://127.0.0.1:${port}/v1/readers` }
}

const running: Array<{ link: Link; server: WebSocketServer }> = []
afterEach(() => {
  for (const { link, server } of running.splice(0)) {
    link.stop()
    server.close()
  }
})

/** Starts a link; resolves with the results once `count` arrived. */
const linkTo = (url: string, server: WebSocketServer, count: number, retries: string[] = [], nowMs: () => number = Date.now) => {
  const results: Array<{ frame: RequestFrame; result: Result }> = []
  const expired: string[] = []
  const problems: string[] = []
  let done: () => void = () => undefined
  const finished = new Promise<void>((resolve) => (done = resolve))
  const events: LinkEvents = {
    onHello: () => true,
    onResult: (frame, result) => {
      results.push({ frame, result })
      if (results.length === count) done()
    },
    onRetry: (frame, code) => retries.push(`${frame.id}:${code}`),
    onExpired: (frame) => expired.push(frame.id),
    onLinkChange: () => undefined,
    onProblem: (text) => problems.push(text),
  }
  const link = new Link(url, "token", limits, events, nowMs)
  running.push({ link, server })
  return { link, results, finished, expired, problems }
}

const until = (condition: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const poll = setInterval(() => {
      if (!condition()) return
      clearInterval(poll)
      resolve()
    }, 5)
  })

describe("link", () => {
  it("sends a request answered unavailable, then overloaded, again under the same id until it is answered", async () => {
    const attempts = new Map<string, number>()
    const node = await scriptedNode((socket, frame) => {
      const attempt = (attempts.get(frame.id) ?? 0) + 1
      attempts.set(frame.id, attempt)
      socket.send(attempt === 1 ? refused(frame.id, "unavailable") : attempt === 2 ? refused(frame.id, "overloaded") : ok(frame.id))
    })
    const retries: string[] = []
    const { link, results, finished } = linkTo(node.url, node.server, 2, retries)
    link.send(sale(1), Date.now())
    link.send(sale(2), Date.now())
    link.start()
    await finished
    expect(node.received.map(({ id }) => id).sort()).toEqual(["s1", "s1", "s1", "s2", "s2", "s2"])
    expect(retries.sort()).toEqual(["s1:overloaded", "s1:unavailable", "s2:overloaded", "s2:unavailable"])
    expect(results.map(({ result }) => result.ok)).toEqual([true, true])
  })

  it("sends again first, with the same ids, what was in flight when the connection dropped", async () => {
    const node = await scriptedNode((socket, frame, connection) => {
      // The first connection takes three requests and dies without a reply.
      if (connection === 1) {
        if (node.received.length === 3) socket.terminate()
        return
      }
      socket.send(ok(frame.id))
    })
    const { link, results, finished } = linkTo(node.url, node.server, 4)
    for (const n of [1, 2, 3]) link.send(sale(n), Date.now())
    link.start()
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (node.received.length < 3) return
        clearInterval(poll)
        resolve()
      }, 5)
    })
    link.send(sale(4), Date.now())
    await finished
    const second = node.received.filter(({ connection }) => connection === 2).map(({ id }) => id)
    expect(second).toEqual(["s1", "s2", "s3", "s4"])
    expect(results.map(({ frame }) => frame.id).sort()).toEqual(["s1", "s2", "s3", "s4"])
  })

  it("never has more than inflightMax requests in flight", async () => {
    const held: Array<{ socket: WebSocket; id: string }> = []
    let outstanding = 0
    let outstandingMax = 0
    const node = await scriptedNode((socket, frame) => {
      outstanding++
      outstandingMax = Math.max(outstandingMax, outstanding)
      held.push({ socket, id: frame.id })
      // Replies are held until 64 wait (the bound) or every request came.
      if (held.length === limits.inflightMax || node.received.length === 100) {
        for (const { socket: to, id } of held.splice(0)) {
          outstanding--
          to.send(ok(id))
        }
      }
    })
    const { link, results, finished } = linkTo(node.url, node.server, 100)
    for (let n = 1; n <= 100; n++) link.send(sale(n), Date.now())
    link.start()
    await finished
    expect(outstandingMax).toBe(limits.inflightMax)
    expect(new Set(results.map(({ frame }) => frame.id)).size).toBe(100)
    expect(node.received).toHaveLength(100)
  })

  it("accepts a reply as long as the contract allows (16,384 bytes), longer than any request", async () => {
    const node = await scriptedNode((socket, frame) => {
      const reply = JSON.parse(ok(frame.id)) as Record<string, unknown>
      const bare = Buffer.byteLength(JSON.stringify({ ...reply, balances: [{ asset: "", amount: 1 }] }))
      // One balance whose asset id pads the reply to exactly replyBytesMax bytes.
      socket.send(JSON.stringify({ ...reply, balances: [{ asset: "x".repeat(limits.replyBytesMax - bare), amount: 1 }] }))
    })
    const { link, results, finished, problems } = linkTo(node.url, node.server, 1)
    link.send(sale(1), Date.now())
    link.start()
    await finished
    expect(problems).toEqual([])
    const [{ result } = { result: undefined }] = results
    expect(Buffer.byteLength(JSON.stringify(result))).toBe(limits.replyBytesMax)
  }, 10_000)

  it("does not send again after a reconnect a request journaled more than requestAgeMsMax ago", async () => {
    let nowMs = 1_732_400_000_000
    const node = await scriptedNode((socket, frame, connection) => {
      // The first connection takes both requests and never answers; the second answers.
      if (connection > 1) socket.send(ok(frame.id))
    })
    const { link, results, finished, expired } = linkTo(node.url, node.server, 1, [], () => nowMs)
    link.send(sale(1), nowMs - 1000)
    link.send(sale(2), nowMs)
    link.start()
    await until(() => node.received.length === 2)
    // A day without the node: the link comes back 23 hours after the second request was journaled.
    nowMs += limits.requestAgeMsMax
    for (const socket of node.server.clients) socket.terminate()
    await finished
    await until(() => expired.length === 1)
    expect(expired).toEqual(["s1"])
    expect(results.map(({ frame }) => frame.id)).toEqual(["s2"])
    expect(node.received.filter(({ connection }) => connection > 1).map(({ id }) => id)).toEqual(["s2"])
  }, 10_000)

  it("drops an expired request while the link is down, without waiting for the node", async () => {
    let nowMs = 1_732_400_000_000
    const { link, expired } = linkTo("ws://127.0.0.1:9/v1/readers", new WebSocketServer({ noServer: true }), 1, [], () => nowMs)
    link.send(sale(1), nowMs)
    link.start()
    nowMs += limits.requestAgeMsMax + 1
    await until(() => expired.length === 1)
    expect(link.outstanding).toBe(0)
  }, 10_000)
})
