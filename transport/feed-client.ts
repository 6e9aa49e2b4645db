/**
 * The client side of the federation feed, shared by validators and peers: connects to
 * `/v1/federation` of an engine, reconnects with backoff from wherever the replica stands, and hands
 * each frame to the program one at a time, in order (the next frame waits until the previous one is
 * stored and answered).
 *
 * A validator logs in by answering the feed's challenge (PROTOCOL.md section 9.7): at most once per
 * connection, so that whoever plays the engine gets one login signature per connection it opens
 * and nothing more. A second challenge, or a challenge to a follower that has no key, ends the
 * connection.
 */
import type { SigningKey } from "../engine/ed25519.js"
import { isHex32, signFeedLogin } from "../engine/feed-login.js"
import WebSocket from "ws"
import { oneLine } from "./log-line.js"

export interface FeedClientOptions {
  /** The engine's base URL, http(s):// or ws(s)://. */
  readonly engine: string
  /** The query of each connection (`from`, and `validator` for a validator), asked anew at each. */
  readonly query: () => Record<string, string>
  /**
   * Handles one frame; the socket is given to answer on, and the frame's text (a block's
   * transactions are compared with what the engine makes as text, not serialized again).
   */
  readonly frame: (message: Record<string, unknown>, socket: WebSocket, text: string) => Promise<void>
  /**
   * Answers a challenge with the `auth` frame, or says why it will not (the connection then ends);
   * absent for a follower without a key.
   */
  readonly login?: (challenge: Record<string, unknown>) => Record<string, unknown> | string
  readonly log: (line: string) => void
}

export const reconnectDelayMsMin = 250
export const reconnectDelayMsMax = 5_000
/**
 * Frames waiting to be handled, in bytes: beyond the first bound the socket is not read (the engine's
 * feed then waits for it to drain), beyond the second the connection is dropped and resumed later.
 */
const queuedBytesPause = 16 * 1024 * 1024
const queuedBytesMax = 256 * 1024 * 1024
/** The largest frame taken: a block of blockTxMax transactions of a few hundred bytes each, with room. */
const frameBytesMax = 64 * 1024 * 1024

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export const feedUrl = (engine: string, query: Record<string, string>): string => {
  const url = new URL("/v1/federation", engine.replace(/^http/, "ws"))
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value)
  return url.toString()
}

export class FeedClient {
  private stopped = false
  private socket: WebSocket | undefined
  private delayMs = reconnectDelayMsMin

  constructor(private readonly options: FeedClientOptions) {}

  /** Runs until `stop`. */
  async run(): Promise<void> {
    while (!this.stopped) {
      const received = await this.connectOnce()
      if (this.stopped) return
      this.delayMs = received ? reconnectDelayMsMin : Math.min(this.delayMs * 2, reconnectDelayMsMax)
      await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    }
  }

  stop(): void {
    this.stopped = true
    this.socket?.terminate()
  }

  /** One connection, until it closes; whether any frame past the login arrived (a healthy link). */
  private connectOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      const url = feedUrl(this.options.engine, this.options.query())
      const socket = new WebSocket(url, { maxPayload: frameBytesMax })
      this.socket = socket
      let received = false
      let loggedIn = false
      let queuedBytes = 0
      let chain = Promise.resolve()
      const handle = async (text: string): Promise<void> => {
        if (socket.readyState !== WebSocket.OPEN) return
        let message: unknown
        try {
          message = JSON.parse(text)
        } catch {
          this.options.log(`the engine sent a frame that is not JSON; reconnecting`)
          return void socket.terminate()
        }
        if (typeof message !== "object" || message === null || Array.isArray(message)) return void socket.terminate()
        const frame = message as Record<string, unknown>
        if (frame["type"] !== "challenge") {
          received = true
          return this.options.frame(frame, socket, text)
        }
        const answer = loggedIn ? "the engine sent a second challenge on one connection" : this.answer(frame)
        loggedIn = true
        if (typeof answer === "string") {
          this.options.log(`no login: ${answer}; reconnecting`)
          return void socket.terminate()
        }
        socket.send(JSON.stringify(answer))
      }
      // Frames wait as received, and are parsed in turn: parsed on arrival, a follower behind by
      // hundreds of megabytes held them all as objects, and spent a fifth of its time collecting garbage.
      socket.on("message", (data) => {
        const bytes = Array.isArray(data) ? data.reduce((sum, part) => sum + part.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length
        queuedBytes += bytes
        if (queuedBytes > queuedBytesMax) return socket.terminate()
        if (queuedBytes > queuedBytesPause) socket.pause()
        chain = chain
          .then(() => handle(String(data)))
          // A turn of the event loop between frames: frames queued are otherwise handled one after
          // the other in microtasks, and nothing else runs meanwhile: not the socket writes that
          // carry a follower's page to its storage, whose thread then waits for them.
          .then(turn)
          .catch((error: unknown) => {
            this.options.log(`stopping this connection: ${error instanceof Error ? error.message : String(error)}`)
            socket.terminate()
          })
          .finally(() => {
            queuedBytes -= bytes
            if (queuedBytes <= queuedBytesPause && socket.isPaused) socket.resume()
          })
      })
      socket.on("error", (error) => this.options.log(`feed ${url}: ${error.message}`))
      socket.on("close", (code, reason) => {
        // The engine's words: one bounded line.
        if (code === 1008) this.options.log(`the engine refused this connection: ${oneLine(reason.toString())}`)
        // The chain never rejects: each handler's failure is caught where it is added.
        chain.then(() => resolve(received), () => resolve(received))
      })
    })
  }

  private answer(challenge: Record<string, unknown>): Record<string, unknown> | string {
    return this.options.login === undefined ? "the engine sent a challenge to a follower without a key" : this.options.login(challenge)
  }
}

/**
 * The `auth` answer of a key to the feed's challenge (PROTOCOL.md section 9.7), or why none is given
 * (the client then drops the connection): a login is signed only for the pinned federation.
 */
export const loginAnswer = (
  key: { readonly validator: string; readonly key: SigningKey },
  genesisHash: string,
  challenge: Record<string, unknown>,
): Record<string, unknown> | string => {
  const { nonce, genesis: named } = challenge
  if (!isHex32(nonce)) return "the challenge's nonce is not 32 bytes as 64 lowercase hex digits"
  if (named !== undefined && !isHex32(named)) return "the challenge's genesis is not a block hash"
  if (named !== undefined && named !== genesisHash) return `the engine's federation has block 0 ${named}, not the pinned ${genesisHash}`
  const signature = signFeedLogin(key.key, genesisHash, nonce)
  if (signature === undefined) return "no login to sign"
  return { type: "auth", validator: key.validator, signature }
}
