/**
 * Black-box harness for the federation's followers: runs the built `gesell validator` and
 * `gesell peer` as child processes, and a `FakeEngine` that plays the engine's side of
 * `/v1/federation` (PROTOCOL.md section 5) on loopback, so that a test decides every frame a
 * follower receives (tampered blocks included) and reads every frame it answers.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { constants, tmpdir } from "node:os"
import { join } from "node:path"
import { WebSocketServer, type WebSocket } from "ws"
import { base64urlEncode, keyFromSeed, validatorId, type SigningKey } from "../engine/ed25519.js"
import { feedLoginValid, feedNonceBytes } from "../engine/feed-login.js"
import type { ValidatorId } from "../engine/names.js"
import { cliPath, freshDataDir, testObserverSeed, within } from "./node-process.js"

export interface FollowerProcess {
  readonly child: ChildProcess
  readonly dataDir: string
  /** Everything the process wrote so far, stdout and stderr interleaved as they arrived. */
  output(): string
  /** What it wrote on stdout, and on stderr, each alone. */
  stdout(): string
  stderr(): string
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number>
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<number>
  /** The exit code once the process ends (128 + the signal's number when a signal ended it). */
  readonly exited: Promise<number>
}

export interface ValidatorProcess extends FollowerProcess {
  /** The validator id of its key. */
  readonly validator: string
  readonly keyFile: string
}

export interface PeerProcess extends FollowerProcess {
  readonly port: number
  /** http://127.0.0.1:PORT */
  readonly http: string
}

export interface FollowerOptions {
  /** The engine's base URL (http:// or ws://). */
  readonly engine: string
  /** The hash of the federation's block 0, given as `--genesis-hash`. */
  readonly genesisHash: string
  /** A data dir to use (kept between runs); a fresh temporary one by default. */
  readonly dataDir?: string
  readonly env?: Record<string, string>
  /** How long to wait for it to say it runs; `readyMsDefault` by default. */
  readonly readyMs?: number
}

export interface ValidatorOptions extends FollowerOptions {
  /** A 32-byte seed (written to a key file in the data dir) or the path of a key file. */
  readonly key: Uint8Array | string
  /** The payments file a payment checker asks about refills (`--payments`). */
  readonly payments?: string
  /** The file of the Stripe key a payment checker asks Stripe with (`--stripe-key-file`; STRIPE_API_URL in `env`). */
  readonly stripeKeyFile?: string
}

export interface PeerOptions extends FollowerOptions {
  /** The port of its HTTP server; 0 (any free port) by default. */
  readonly port?: number
  /** The seed of the key it logs in with; the test observer's by default. */
  readonly key?: Uint8Array
}

/** Writes a key file for a seed, as `gesell keygen` would; returns its path and validator id. */
export const writeKeyFile = (
  seed: Uint8Array,
  directory = mkdtempSync(join(tmpdir(), "gesell-key-")),
  name?: string,
): { file: string; validator: string } => {
  const key = keyFromSeed(seed)
  if (key === undefined) throw new Error(`a key seed is 32 bytes, not ${seed.length}`)
  const validator = validatorId(key.publicKeyRaw)
  const file = join(directory, name ?? `${validator.slice(0, 8)}.key.json`)
  writeFileSync(file, JSON.stringify({ validator, seed: base64urlEncode(seed) }) + "\n", { mode: 0o600 })
  return { file, validator }
}

/** A test validator's key from a seed of 32 equal bytes. */
export interface TestKey {
  readonly id: ValidatorId
  readonly seed: Uint8Array
  readonly key: SigningKey
}

export const testKey = (fill: number): TestKey => {
  const seed = new Uint8Array(32).fill(fill)
  const key = keyFromSeed(seed)
  if (key === undefined) throw new Error("a 32-byte seed makes a key")
  return { id: validatorId(key.publicKeyRaw) as ValidatorId, seed, key }
}

/** A node data dir holding the node's key (`node-key.json`), so that the node signs with `seed`'s key. */
export const nodeDataDir = (seed: Uint8Array, dataDir = freshDataDir()): string => {
  writeKeyFile(seed, dataDir, "node-key.json")
  return dataDir
}

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? (signal === null ? -1 : 128 + (constants.signals[signal] ?? 0))

/**
 * How long a follower may take to open its replica and say it runs, unless told otherwise: generous,
 * since several PGlite replicas opening at once on a busy machine take tens of seconds.
 */
export const readyMsDefault = 60_000

/**
 * Spawns `gesell ARGS` and resolves once its stdout matches `ready`. Rejects with its output if it
 * exits first or is not ready within `readyMs` (then it is killed, so that no child outlives a
 * failed start); a child still running when the test process exits is killed too.
 */
const spawnFollower = (args: readonly string[], dataDir: string, options: FollowerOptions, ready: RegExp) => {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  let stdout = ""
  let stderr = ""
  const orphaned = () => child.kill("SIGKILL")
  process.once("exit", orphaned)
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => {
      process.removeListener("exit", orphaned)
      resolve(exitCodeOf(code, signal))
    }),
  )
  const ended = () => child.exitCode !== null || child.signalCode !== null
  const signal = (name: NodeJS.Signals) => (ended() ? exited : (child.kill(name), exited))
  const follower: FollowerProcess = {
    child,
    dataDir,
    output: () => output,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
    exited,
  }
  return new Promise<{ follower: FollowerProcess; match: RegExpExecArray }>((resolve, reject) => {
    const readyMs = options.readyMs ?? readyMsDefault
    const timer = setTimeout(() => {
      reject(new Error(`gesell ${args[0] ?? ""} was not ready within ${readyMs} ms:\n${output}`))
      follower.kill().catch(() => undefined)
    }, readyMs)
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      stdout += chunk.toString()
      const match = ready.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ follower, match })
      }
    })
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      stderr += chunk.toString()
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`gesell ${args[0] ?? ""} exited with ${code} before it was ready:\n${output}`))
    }, reject)
  })
}

/** Starts `gesell validator` and resolves once it has opened its replica and follows the engine. */
export const startValidator = async (options: ValidatorOptions): Promise<ValidatorProcess> => {
  const dataDir = options.dataDir ?? freshDataDir()
  const key = typeof options.key === "string" ? { file: options.key, validator: undefined } : writeKeyFile(options.key, dataDir)
  const args = ["validator", "--engine", options.engine, "--key", key.file, "--data-dir", dataDir, "--genesis-hash", options.genesisHash,
    ...(options.payments === undefined ? [] : ["--payments", options.payments]),
    ...(options.stripeKeyFile === undefined ? [] : ["--stripe-key-file", options.stripeKeyFile]),
  ]
  const { follower, match } = await spawnFollower(args, dataDir, options, /^Validator (\S+) following /m)
  return { ...follower, validator: match[1] ?? key.validator ?? "", keyFile: key.file }
}

/** Starts `gesell peer` and resolves once it serves HTTP. */
export const startPeer = async (options: PeerOptions): Promise<PeerProcess> => {
  const dataDir = options.dataDir ?? freshDataDir()
  const key = writeKeyFile(options.key ?? testObserverSeed, dataDir)
  const args = ["peer", "--engine", options.engine, "--key", key.file, "--data-dir", dataDir, "--genesis-hash", options.genesisHash, "--port", String(options.port ?? 0)]
  const { follower, match } = await spawnFollower(args, dataDir, options, /serving http:\/\/127\.0\.0\.1:(\d+)\/v1\/blocks/)
  const port = Number(match[1])
  return { ...follower, port, http: `http://127.0.0.1:${port}` }
}

/**
 * The hash of block 0 a node prints at start (`Genesis hash (block 0): …`), which members pin: read
 * from its output as an operator would, since the node serves block 0 only once it is final.
 */
export const genesisHashOf = (node: { output(): string }, timeoutMs = 30_000): Promise<string> =>
  within(
    "the node's genesis hash",
    (async () => {
      for (;;) {
        const match = /^Genesis hash \(block 0\): ([0-9a-f]{64})$/m.exec(node.output())
        if (match?.[1] !== undefined) return match[1]
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })(),
    timeoutMs,
  )

/** What a validator answered to the challenge, and whether it is the login of the key it names. */
export interface AuthAnswer {
  readonly frame: Record<string, unknown>
  readonly nonce: string
  readonly verified: boolean
}

/** The challenge a fake engine sends a validator: a fresh 32-byte nonce and the genesis hash, unless a test says otherwise. */
export type Challenge = (genesisHash: string, index: number) => Record<string, unknown>

export const honestChallenge: Challenge = (genesisHash) => ({ type: "challenge", nonce: randomBytes(feedNonceBytes).toString("hex"), genesis: genesisHash })

/** One follower's connection to the fake engine. */
export class FederationConnection {
  /** The nonce sent in the challenge (validators only), as it was sent. */
  readonly nonce: string | undefined
  /** Resolves with the validator's answer to the challenge; never for a plain follower. */
  readonly auth: Promise<AuthAnswer>
  readonly closed: Promise<void>
  private isClosed = false
  private readonly received: Record<string, unknown>[] = []
  private readonly waiting: (() => void)[] = []
  private resolveAuth: (answer: AuthAnswer) => void = () => undefined

  constructor(
    readonly socket: WebSocket,
    /** The query of the connection: `from`, and `validator` for a validator. */
    readonly query: URLSearchParams,
    /** The genesis hash a login must be signed for. */
    genesisHash: string,
    /** The challenge frame it sends a validator. */
    challenge: Record<string, unknown>,
  ) {
    this.auth = new Promise((resolve) => (this.resolveAuth = resolve))
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true
        for (const wake of this.waiting.splice(0)) wake()
        resolve()
      }),
    )
    // A validator, or a member that only reads: both log in.
    const validator = query.get("validator") ?? query.get("member")
    let authenticating = validator !== null
    if (validator !== null) {
      this.nonce = typeof challenge["nonce"] === "string" ? challenge["nonce"] : undefined
      socket.send(JSON.stringify(challenge))
    }
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data)) as Record<string, unknown>
      if (!authenticating) return this.push(frame)
      authenticating = false
      const nonce = this.nonce ?? ""
      const verified = frame["type"] === "auth" && frame["validator"] === validator && feedLoginValid(validator ?? "", genesisHash, nonce, frame["signature"])
      this.resolveAuth({ frame, nonce, verified })
      // The engine closes on a failed proof; so does its stand-in.
      if (!verified) socket.close(1008, "the challenge was not signed by the validator named")
    })
  }

  /** The `from` the follower asked for. */
  get from(): number {
    return Number(this.query.get("from") ?? "0")
  }

  /** Sends a frame: an object is sent as its JSON text, a string as is. */
  send(frame: object | string): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame))
  }

  /**
   * The next frame the follower sends after its auth; waits for it (bound the wait with `within`).
   * Fails once the connection is closed and every frame has been read.
   */
  async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const frame = this.received.shift()
      if (frame !== undefined) return frame
      if (this.isClosed) throw new Error(`the follower's connection (from=${this.from}) is closed`)
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  close(): void {
    this.socket.close()
  }

  private push(frame: Record<string, unknown>): void {
    this.received.push(frame)
    for (const wake of this.waiting.splice(0)) wake()
  }
}

export interface FakeEngineOptions {
  /** Called for each connection, e.g. to serve a list of blocks. */
  readonly onConnection?: (connection: FederationConnection) => void
  /** The hash of the block 0 it serves: what challenges name and logins are checked against. */
  readonly genesisHash: string
  /** The challenge of each validator connection (`index` counts connections from 0); honest by default. */
  readonly challenge?: Challenge
}

/**
 * A stand-in for an engine's federation feed: a `ws` server on 127.0.0.1 (a free port) at
 * `/v1/federation`. It performs the validator challenge and otherwise sends only what the test
 * scripts.
 */
export class FakeEngine {
  readonly connections: FederationConnection[] = []
  private readonly waiting: (() => void)[] = []

  private constructor(
    private readonly server: WebSocketServer,
    readonly port: number,
  ) {}

  /** http://127.0.0.1:PORT, to give as `--engine`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(options: FakeEngineOptions): Promise<FakeEngine> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/v1/federation" })
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve)
      server.once("error", reject)
    })
    const engine = new FakeEngine(server, (server.address() as AddressInfo).port)
    const challenge = options.challenge ?? honestChallenge
    server.on("connection", (socket, request) => {
      const query = new URL(request.url ?? "/", "http://localhost").searchParams
      const index = engine.connections.length
      const connection = new FederationConnection(socket, query, options.genesisHash, challenge(options.genesisHash, index))
      engine.connections.push(connection)
      options.onConnection?.(connection)
      for (const wake of engine.waiting.splice(0)) wake()
    })
    return engine
  }

  /** The connection after the `seen` first ones (the first by default); waits for it. */
  async connection(seen = 0): Promise<FederationConnection> {
    for (;;) {
      const connection = this.connections[seen]
      if (connection !== undefined) return connection
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  async close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
