/**
 * The feed client against a real WebSocket server on loopback: frames are handed to the program one
 * at a time, in order, each with its text; and a program slower than the engine makes the client
 * stop reading once 16 MiB wait (the engine's side then holds the rest, as its feed waits for a
 * socket to drain), instead of reading and parsing hundreds of megabytes ahead of it.
 */
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer, type WebSocket } from "ws"
import { within } from "../test/node-process.js"
import { FeedClient } from "./feed-client.js"

const servers: WebSocketServer[] = []
const clients: FeedClient[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.stop()
  for (const server of servers.splice(0)) {
    for (const socket of server.clients) socket.terminate()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

const engine = async (): Promise<{ url: string; connection: Promise<WebSocket> }> => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/v1/federation" })
  servers.push(server)
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  const connection = new Promise<WebSocket>((resolve) => server.once("connection", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connection }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("the feed client", () => {
  it("stops reading while 16 MiB of frames wait for a slow program, then hands every frame over in order, with its text", async () => {
    const { url, connection } = await engine()
    const frames = 48
    const filler = "x".repeat(1024 * 1024)
    let open: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const handled: Array<{ index: unknown; text: string }> = []
    const logged: string[] = []
    const client = new FeedClient({
      engine: url,
      query: () => ({ from: "0" }),
      frame: async (message, _socket, text) => {
        await gate
        handled.push({ index: message["index"], text })
      },
      log: (line) => logged.push(line),
    })
    clients.push(client)
    const running = client.run()
    const socket = await within("the client to connect", connection, 10_000)
    const sent = Array.from({ length: frames }, (_, index) => `{"type":"block","index":${index},"filler":"${filler}"}`)
    for (const text of sent) socket.send(text)
    // Until the engine's side stops moving: with the program held, the client reads no more.
    let buffered = -1
    for (let still = 0; still < 20; still = socket.bufferedAmount === buffered ? still + 1 : 0) {
      buffered = socket.bufferedAmount
      await pause(50)
    }
    expect(buffered, "bytes the engine could not send").toBeGreaterThan(16 * 1024 * 1024)
    open()
    await within(
      "every frame handled",
      (async () => {
        while (handled.length < frames) await pause(20)
      })(),
      30_000,
    )
    expect(handled.map((frame) => frame.index)).toEqual(sent.map((_, index) => index))
    expect(handled.every((frame, index) => frame.text === sent[index])).toBe(true)
    expect(logged).toEqual([])
    client.stop()
    await running
  }, 60_000)
})
