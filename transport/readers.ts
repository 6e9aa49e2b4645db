/**
 * The reader WebSocket gateway (PROTOCOL.md section 3): the bearer token on the upgrade, `hello`,
 * request frames handed to the ledger writer, replies written once committed, at most 64 requests in
 * flight per connection, 4 KiB frames, binary frames refused, and a connection that sends more than
 * 100 bad frames in a minute closed. It bounds what one reader can hold: connections per reader,
 * and reply bytes waiting for a hub that does not read them.
 */
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { WebSocketServer, type RawData, type WebSocket } from "ws"
import * as limits from "../engine/limits.js"
import type { LedgerWriter, Refusal } from "../actors/writer.js"
import { tokenHash } from "../actors/admin.js"
import type { Metrics } from "./metrics.js"
import { pathOf, rejectUpgrade } from "./upgrades.js"
import { codeOf, decodeFrame, errorFrame, pongFrame, resultFrame, type Pseudonyms, type Reader } from "./wire.js"

export interface ReaderDirectory {
  /** The reader holding this token, if the token is known and not revoked. */
  readonly byToken: (tokenSha256: string) => Reader | undefined
}

export interface GatewayDeps {
  readonly writer: () => LedgerWriter
  readonly directory: ReaderDirectory
  /** The federation's card key: a frame's uid becomes the card's pseudonym as it comes in. */
  readonly cards: Pseudonyms
  readonly metrics: Metrics
  readonly nowMs: () => number
  readonly connectionsMax: number
  /** Connections of one reader at once; beyond, its oldest connection is closed for the new one. */
  readonly connectionsPerReaderMax?: number
  /** Reply bytes a connection may hold unwritten (its hub not reading); beyond, it is closed with 1008. */
  readonly bufferedBytesMax?: number
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

/** Counts bad frames over a sliding minute. */
class BadFrames {
  private readonly times: number[] = []
  tooMany(nowMs: number): boolean {
    this.times.push(nowMs)
    while (this.times.length > 0 && (this.times[0] ?? 0) <= nowMs - 60_000) this.times.shift()
    return this.times.length > limits.badFramesPerMinuteMax
  }
}

/** One connection of a reader. */
class ReaderSession {
  /** Requests (pings included) whose reply is not yet written to the socket. */
  inflight = 0
  /** Set when the reader's token is revoked: from then on, no frame of this connection is applied. */
  revoked = false
  readonly badFrames = new BadFrames()
  /**
   * The `ws.send` callback of every counted reply, one per connection so that a reply allocates no
   * closure: a request stays in flight until its reply is written (or the socket is gone), so that a
   * hub that stops reading reaches the in-flight bound instead of having replies queued for it.
   */
  readonly written = (): void => {
    this.inflight--
  }

  constructor(
    readonly socket: WebSocket,
    readonly reader: Reader,
  ) {}
}

/** Why the node closed a reader connection, as counted in the metrics. */
type CloseReason = "replies_not_read" | "bad_frames" | "binary_frame" | "revoked" | "replaced"

export class ReaderGateway {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: limits.frameBytesMax })
  private readonly sessions = new Map<string, Set<ReaderSession>>()
  private readonly connectionsPerReaderMax: number
  private readonly bufferedBytesMax: number

  constructor(private readonly deps: GatewayDeps) {
    this.connectionsPerReaderMax = deps.connectionsPerReaderMax ?? limits.defaults.readerConnectionsPerReaderMax
    this.bufferedBytesMax = deps.bufferedBytesMax ?? limits.defaults.readerBufferedBytesMax
    this.server.on("connection", (socket: WebSocket, _request: IncomingMessage, reader: Reader) => this.serve(socket, reader))
  }

  /** Handles an HTTP upgrade to /v1/readers; returns false for other paths. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (pathOf(request)?.path !== "/v1/readers") return false
    const token = bearer(request)
    const reader = token === undefined ? undefined : this.deps.directory.byToken(tokenHash(token))
    if (reader === undefined) {
      rejectUpgrade(socket, 401, "Unauthorized")
      return true
    }
    // Counted here and registered in `serve`, in the same turn: `handleUpgrade` completes synchronously.
    const sessions = this.sessions.get(reader.id)
    if (sessions !== undefined && sessions.size >= this.connectionsPerReaderMax) {
      // The newest connection wins and the oldest goes: a hub whose network dropped reconnects while
      // the node still holds connections no FIN came back from, and it must never be locked out of
      // its own bar. Its requests in flight there are answered again on the new connection (retries).
      const oldest = sessions.values().next().value
      if (oldest !== undefined) {
        sessions.delete(oldest)
        this.deps.metrics.readerCloses.inc({ reason: "replaced" })
        oldest.socket.terminate()
      }
    }
    if (this.server.clients.size >= this.deps.connectionsMax) {
      rejectUpgrade(socket, 503, "Service Unavailable")
      return true
    }
    this.server.handleUpgrade(request, socket, head, (ws) => this.server.emit("connection", ws, request, reader))
    return true
  }

  /**
   * Cuts the connections of a reader whose token was revoked, at once: a polite close would wait for
   * the hub, and every frame read meanwhile would still be applied. Frames already read from a cut
   * socket are refused (see `serve`).
   */
  disconnect(readerId: string): void {
    for (const session of this.sessions.get(readerId) ?? []) {
      session.revoked = true
      this.deps.metrics.readerCloses.inc({ reason: "revoked" })
      session.socket.terminate()
    }
  }

  close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private serve(socket: WebSocket, reader: Reader): void {
    const { metrics } = this.deps
    const session = new ReaderSession(socket, reader)
    const sessions = this.sessions.get(reader.id) ?? new Set()
    this.sessions.set(reader.id, sessions.add(session))
    metrics.connections.inc()
    socket.on("close", () => {
      sessions.delete(session)
      if (sessions.size === 0 && this.sessions.get(reader.id) === sessions) this.sessions.delete(reader.id)
      metrics.connections.dec()
    })
    socket.on("error", () => socket.terminate())
    const accepts = this.deps.writer().state.places.get(reader.place as never)?.accepts ?? []
    socket.send(JSON.stringify({ type: "hello", protocol: 1, reader: reader.id, place: reader.place, role: reader.role, accepts }))
    socket.on("message", (data: RawData, isBinary: boolean) => {
      // `ws` may still hand over frames it read before the socket was cut or closed by the node: the
      // reader's authority is checked for every frame, and a closing connection runs nothing more.
      if (session.revoked) return metrics.requests.inc({ type: "revoked", result: "forbidden" })
      if (socket.readyState !== socket.OPEN) return
      if (isBinary) return this.closeSession(session, 1003, "frames are text", "binary_frame")
      this.onFrame(session, data.toString())
    })
  }

  private onFrame(session: ReaderSession, text: string): void {
    const { metrics, nowMs } = this.deps
    const started = nowMs()
    const frame = decodeFrame(text, session.reader, this.deps.cards)
    if (frame.kind === "bad") {
      metrics.requests.inc({ type: "invalid", result: frame.code })
      if (session.badFrames.tooMany(started)) return this.closeSession(session, 1008, "too many bad frames", "bad_frames")
      return this.send(session, errorFrame(frame.id, frame.code, frame.message), undefined)
    }
    if (session.inflight >= limits.readerInflightMax) {
      metrics.requests.inc({ type: frame.kind === "ping" ? "ping" : frame.type, result: "overloaded" })
      return this.send(session, errorFrame(frame.id, "overloaded", `more than ${limits.readerInflightMax} requests in flight`), undefined)
    }
    session.inflight++
    if (frame.kind === "ping") return this.send(session, pongFrame(frame.id), session.written)
    const send = (json: string, result: string): void => {
      metrics.requests.inc({ type: frame.type, result })
      metrics.tapLatency.observe((nowMs() - started) / 1000)
      this.send(session, json, session.written)
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

  /**
   * Writes a reply; `written` (the session's, for a counted request) runs once it is written. The
   * bytes a connection holds unwritten, corked ones included, are bounded: a hub that does not read
   * would otherwise make the node keep every reply for it.
   */
  private send(session: ReaderSession, json: string, written: (() => void) | undefined): void {
    const socket = session.socket
    if (socket.readyState !== socket.OPEN) return written?.()
    corkUntilNextTick(socket)
    socket.send(json, written)
    if (socket.bufferedAmount > this.bufferedBytesMax) this.closeSession(session, 1008, "replies not read", "replies_not_read")
  }

  private closeSession(session: ReaderSession, code: number, reason: string, why: CloseReason): void {
    this.deps.metrics.readerCloses.inc({ reason: why })
    session.socket.close(code, reason)
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
