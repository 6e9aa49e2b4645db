/**
 * The reader WebSocket gateway (PROTOCOL.md section 3): the bearer token on the upgrade, `hello`,
 * request frames handed to the ledger writer, replies written once committed, at most 64 requests in
 * flight per connection, 4 KiB frames, binary frames refused, and a connection that sends more than
 * 100 bad frames in a minute closed.
 */
import type { IncomingMessage, Server } from "node:http"
import type { Duplex } from "node:stream"
import { WebSocketServer, type RawData, type WebSocket } from "ws"
import * as limits from "../engine/limits.js"
import type { LedgerWriter, Refusal } from "../actors/writer.js"
import { tokenHash } from "../actors/admin.js"
import type { Metrics } from "./metrics.js"
import { codeOf, decodeFrame, errorFrame, pongFrame, resultFrame, type Reader } from "./wire.js"

export interface ReaderDirectory {
  /** The reader holding this token, if the token is known and not revoked. */
  readonly byToken: (tokenSha256: string) => Reader | undefined
}

export interface GatewayDeps {
  readonly writer: () => LedgerWriter
  readonly directory: ReaderDirectory
  readonly metrics: Metrics
  readonly nowMs: () => number
  readonly connectionsMax: number
}

const refusalMessages: Record<Refusal, string> = {
  overloaded: "the engine is shedding load; retry the same request later",
  unavailable: "the ledger cannot commit right now; retry the same request later",
}


const bearer = (request: IncomingMessage): string | undefined => {
  const header = request.headers.authorization
  const match = header === undefined ? null : /^Bearer (\S+)$/.exec(header)
  return match?.[1]
}

/** Answers an upgrade request with an HTTP status and no WebSocket. */
export const rejectUpgrade = (socket: Duplex, status: number, text: string): void => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** Counts bad frames over a sliding minute. */
class BadFrames {
  private readonly times: number[] = []
  tooMany(nowMs: number): boolean {
    this.times.push(nowMs)
    while (this.times.length > 0 && (this.times[0] ?? 0) <= nowMs - 60_000) this.times.shift()
    return this.times.length > limits.badFramesPerMinuteMax
  }
}

export class ReaderGateway {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: limits.frameBytesMax })
  private readonly sockets = new Map<string, Set<WebSocket>>()

  constructor(private readonly deps: GatewayDeps) {
    this.server.on("connection", (socket: WebSocket, _request: IncomingMessage, reader: Reader) => this.serve(socket, reader))
  }

  /** Handles an HTTP upgrade to /v1/readers; returns false for other paths. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (new URL(request.url ?? "/", "http://localhost").pathname !== "/v1/readers") return false
    const token = bearer(request)
    const reader = token === undefined ? undefined : this.deps.directory.byToken(tokenHash(token))
    if (reader === undefined) {
      rejectUpgrade(socket, 401, "Unauthorized")
      return true
    }
    if (this.server.clients.size >= this.deps.connectionsMax) {
      rejectUpgrade(socket, 503, "Service Unavailable")
      return true
    }
    this.server.handleUpgrade(request, socket, head, (ws) => this.server.emit("connection", ws, request, reader))
    return true
  }

  /** Closes the connections of a reader whose token was revoked. */
  disconnect(readerId: string): void {
    for (const socket of this.sockets.get(readerId) ?? []) socket.close(1008, "token revoked")
  }

  close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private serve(socket: WebSocket, reader: Reader): void {
    const { metrics } = this.deps
    const connections = this.sockets.get(reader.id) ?? new Set()
    this.sockets.set(reader.id, connections.add(socket))
    metrics.connections.inc()
    socket.on("close", () => {
      connections.delete(socket)
      metrics.connections.dec()
    })
    socket.on("error", () => socket.terminate())
    const accepts = this.deps.writer().state.places.get(reader.place as never)?.accepts ?? []
    socket.send(JSON.stringify({ type: "hello", protocol: 1, reader: reader.id, place: reader.place, role: reader.role, accepts }))
    const session = { inflight: 0, badFrames: new BadFrames() }
    socket.on("message", (data: RawData, isBinary: boolean) => {
      if (isBinary) return socket.close(1003, "frames are text")
      this.onFrame(socket, reader, session, data.toString())
    })
  }

  private onFrame(socket: WebSocket, reader: Reader, session: { inflight: number; badFrames: BadFrames }, text: string): void {
    const { metrics, nowMs } = this.deps
    const started = nowMs()
    const frame = decodeFrame(text, reader)
    if (frame.kind === "bad") {
      metrics.requests.inc({ type: "invalid", result: frame.code })
      if (session.badFrames.tooMany(started)) return socket.close(1008, "too many bad frames")
      return socket.send(errorFrame(frame.id, frame.code, frame.message))
    }
    if (frame.kind === "ping") return socket.send(pongFrame(frame.id))
    if (session.inflight >= limits.readerInflightMax) {
      metrics.requests.inc({ type: frame.type, result: "overloaded" })
      return socket.send(errorFrame(frame.id, "overloaded", `more than ${limits.readerInflightMax} requests in flight`))
    }
    session.inflight++
    const send = (json: string, result: string): void => {
      session.inflight--
      metrics.requests.inc({ type: frame.type, result })
      metrics.tapLatency.observe((nowMs() - started) / 1000)
      if (socket.readyState === socket.OPEN) {
        corkUntilNextTick(socket)
        socket.send(json)
      }
    }
    // The metrics label is known when the reply is rendered; a retry's stored reply is read back.
    let result: string | undefined
    this.deps.writer().submit(
      {
        command: frame.command,
        render: (executed, state) => {
          result = executed.ok ? "ok" : codeOf(executed.status)
          return resultFrame(frame.id, frame.command, executed, state)
        },
        reply: (json) => send(json, result ?? resultOf(json)),
        refuse: (why) => send(errorFrame(frame.id, why, refusalMessages[why]), why),
      },
      started,
    )
  }
}

/**
 * A commit answers many requests at once: corking the connection's TCP socket until the end of the
 * tick turns its replies into one write system call instead of one each. `ws` keeps the socket in
 * `_socket`; it has no public way to batch sends.
 */
const corked = new WeakSet<WebSocket>()
const corkUntilNextTick = (socket: WebSocket): void => {
  if (corked.has(socket)) return
  const raw = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
  if (raw === undefined) return
  corked.add(socket)
  raw.cork()
  process.nextTick(() => {
    corked.delete(socket)
    raw.uncork()
  })
}

/** The result label of a stored reply frame, read back for the metrics. */
const resultOf = (json: string): string => {
  const code = /"code":"([a-z_]+)"/.exec(json)
  return code?.[1] ?? "ok"
}

/** Something that takes the WebSocket upgrades of its own path, and says whether it took this one. */
export interface UpgradeHandler {
  readonly upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean
}

export const attachUpgrades = (server: Server, handlers: readonly UpgradeHandler[]): void => {
  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!handlers.some((handler) => handler.upgrade(request, socket, head))) rejectUpgrade(socket, 404, "Not Found")
  })
}
