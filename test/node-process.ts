/**
 * Black-box harness: runs the built `gesell` command line as a child process on a random port, with
 * its own data dir (PGlite) or a DATABASE_URL, and a reader WebSocket client that pipelines requests
 * and matches replies by id. A test federation with known reader tokens is written as a genesis file.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createServer } from "node:net"
import { WebSocket } from "ws"
import { base64urlEncode, keyFromSeed, sign, validatorId, type SigningKey } from "../engine/ed25519.js"
import { memberHttpAuthorization } from "../engine/feed-login.js"
import { observerSigner, testObserverSeed } from "./federation.js"
import type { ValidatorId } from "../engine/names.js"

/** The project's root, whether this module runs from its source or from the build in dist/. */
const root = new URL(import.meta.url.includes("/dist/") ? "../../" : "../", import.meta.url)
export const cliPath = new URL("dist/transport/cli.js", root).pathname
/** At least 32 characters: a node refuses a shorter GESELL_ADMIN_TOKEN. */
export const adminToken = "test-admin-token-of-at-least-32-characters"

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** Readers of the black-box federation: the token of each is `token-<id>`. */
export const testReaders = [
  { id: "bar-1", place: "raffinerie", role: "bar" },
  { id: "bar-2", place: "raffinerie", role: "bar" },
  { id: "desk-1", place: "raffinerie", role: "cashdesk" },
  { id: "mana-bar", place: "manapany", role: "bar" },
  { id: "mana-desk", place: "manapany", role: "cashdesk" },
] as const
export const tokenOf = (reader: string): string => `token-${reader}`
export const blackBoxCards = Array.from({ length: 200 }, (_, i) => `04${(i + 1).toString(16).padStart(12, "0")}`)

/**
 * The steward of the test federations: its key is given to every node `startNode` starts
 * (`--steward-key`), as the demo's node holds its steward's, so that operator commands are approved
 * by the node (PROTOCOL.md section 9.3). A genesis without stewards is given this one.
 */
export const testStewardSeed = new Uint8Array(32).fill(0x5e)
export const testSteward = (() => {
  const key = keyFromSeed(testStewardSeed)
  if (key === undefined) throw new Error("a 32-byte seed makes a key")
  return { id: validatorId(key.publicKeyRaw) as ValidatorId, key }
})()

/**
 * The observer of the test federations (PROTOCOL.md section 9.7): a member who reads transactions.
 * Peers log in with its key, and tests read blocks with it (`memberFetch`). A genesis without
 * observers is given this one.
 */
export { testObserverSeed }
export const testObserver = observerSigner

/**
 * A GET of a members-only path (`/v1/blocks…`) as the test observer: the genesis hash its
 * credentials sign is read from the public `/v1/headers` of the same server (block 0 once final),
 * unless given.
 */
export const memberFetch = async (base: string, path: string, knownGenesisHash?: string): Promise<Response> => {
  const headers = knownGenesisHash === undefined ? ((await (await fetch(`${base}/v1/headers?from=0&limit=1`)).json()) as { headers?: Array<{ hash?: string }> }) : {}
  const genesisHash = knownGenesisHash ?? headers.headers?.[0]?.hash ?? "0".repeat(64)
  return fetch(`${base}${path}`, { headers: { authorization: memberHttpAuthorization(testObserver.id, testObserver.key, genesisHash, Date.now()) } })
}

export const blackBoxGenesis = {
  federation: { id: "blackbox", name: "Black box" },
  validators: { keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], threshold: 1 },
  stewards: { keys: [testSteward.id as string], threshold: 1 },
  assets: [
    { id: "fed", kind: "fed", name: "Euro fédéré" },
    { id: "raf-eur", kind: "local_fiat", issuer: "raffinerie", name: "Raffinerie €" },
    { id: "raf-gift", kind: "gift", issuer: "raffinerie", name: "Cadeau" },
    { id: "mana-gift", kind: "gift", issuer: "manapany", name: "Cadeau Manapany" },
  ],
  places: [
    { id: "raffinerie", name: "La Raffinerie", accepts: ["raf-gift", "raf-eur", "fed"] },
    { id: "manapany", name: "Manapany", accepts: ["mana-gift", "fed"] },
  ],
  readers: testReaders.map((reader) => ({ ...reader, tokenSha256: sha256(tokenOf(reader.id)) })),
  cards: blackBoxCards.map((uid, i) => ({ uid, number: `N${i + 1}` })),
}

export interface NodeProcess {
  readonly port: number
  readonly http: string
  readonly ws: string
  readonly dataDir: string
  readonly child: ChildProcess
  output(): string
  /** Waits for the process to exit after SIGTERM. */
  stop(): Promise<void>
  /** kill -9, and waits for the exit. */
  kill(): Promise<void>
}

export interface StartOptions {
  /** The port to listen on; any free one by default (printed by the node and read back here). */
  readonly port?: number
  readonly dataDir?: string
  readonly env?: Record<string, string | undefined>
  readonly genesis?: object
}

export const freshDataDir = (): string => mkdtempSync(join(tmpdir(), "gesell-node-"))

/**
 * V8's young generation at 32 MiB per semi-space instead of 16: a node allocates a few kilobytes per
 * tap, nearly all short-lived, and fewer scavenges promote less. Measured flat out, in alternating
 * runs: 5 to 11% less node CPU per tap (38.4 → 36.0 µs, 39.5 → 35.2 µs). The same flag is in the `gesell` shebang and in `npm start`.
 */
export const nodeRuntimeFlags: readonly string[] = ["--max-semi-space-size=32"]

/** Starts `gesell start` and resolves once it listens. */
export const startNode = (options: StartOptions = {}): Promise<NodeProcess> => {
  const dataDir = options.dataDir ?? freshDataDir()
  const genesisFile = join(dataDir, "..", `${dataDir.split("/").at(-1)}-genesis.json`)
  const genesis: object = options.genesis ?? blackBoxGenesis
  const withStewards = "stewards" in genesis ? genesis : { ...genesis, stewards: { keys: [testSteward.id], threshold: 1 } }
  writeFileSync(genesisFile, JSON.stringify("observers" in withStewards ? withStewards : { ...withStewards, observers: [testObserver.id] }))
  const stewardKeyFile = join(dataDir, "..", `${dataDir.split("/").at(-1)}-steward-key.json`)
  writeFileSync(stewardKeyFile, JSON.stringify({ validator: testSteward.id, seed: base64urlEncode(testStewardSeed) }), { mode: 0o600 })
  // The node runs as `gesell start` and `npm start` run it (README, "Running a node"), so that the
  // bench measures what operators get; GESELL_NODE_FLAGS adds flags, e.g. --cpu-prof for a profile.
  const runtimeFlags = [...nodeRuntimeFlags, ...(process.env["GESELL_NODE_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "")]
  const child = spawn(process.execPath, [...runtimeFlags, cliPath, "start", "--port", String(options.port ?? 0), "--data-dir", dataDir, "--genesis", genesisFile, "--steward-key", stewardKeyFile], {
    env: { ...process.env, GESELL_ADMIN_TOKEN: adminToken, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  // A process ended by a signal has no exit code, only a signal code.
  const ended = () => child.exitCode !== null || child.signalCode !== null
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (match?.[1] !== undefined) {
        const port = Number(match[1])
        resolve({
          port,
          http: `http://127.0.0.1:${port}`,
          ws: `ws://127.0.0.1:${port}/v1/readers`,
          dataDir,
          child,
          output: () => output,
          stop: () => (ended() ? Promise.resolve() : (child.kill("SIGTERM"), exited)),
          kill: () => (ended() ? Promise.resolve() : (child.kill("SIGKILL"), exited)),
        })
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) => reject(new Error(`the node exited with ${code} before listening:\n${output}`)))
  })
}

/**
 * An operator command approved by these keys as well as the node's (PROTOCOL.md section 9.3): the
 * node prepares it, each key signs the text it answers, and the command goes with those approvals.
 */
export const approvedCommand = async (node: NodeProcess, body: Record<string, unknown>, signers: ReadonlyArray<{ readonly id: string; readonly key: SigningKey }>) => {
  const prepared = await admin(node, "POST", "/v1/admin/commands/prepare", body)
  if (prepared.status !== 200) return prepared
  const message = new TextEncoder().encode(String(prepared.body["message"]))
  const approvals = signers.map((signer) => ({ key: signer.id, signature: sign(signer.key, message) }))
  return admin(node, "POST", "/v1/admin/commands", { ...(prepared.body["command"] as Record<string, unknown>), approvals })
}

/** The first line of a process's output that contains `text`, once it is there (bound the wait with `within`). */
export const outputLine = async (process: { output(): string }, text: string): Promise<string> => {
  for (;;) {
    const found = process.output().split("\n").find((row) => row.includes(text))
    if (found !== undefined) return found
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A port free on 127.0.0.1 now (the kernel's pick), for a server that must keep its address. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))))
    })
  })

/** Runs a gesell command to its end; resolves with its exit code and output. */
export const runCli = (args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.once("exit", (code) => resolve({ code: code ?? -1, output }))
  })

/** Resolves as `promise` does; fails with `what` after `timeoutMs`. */
export const within = async <A>(what: string, promise: Promise<A>, timeoutMs: number): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

export type Reply = Record<string, unknown> & { id: string | null; type: string; ok?: boolean; error?: { code: string; message: string } }

/** A reader connection: sends frames, and resolves each request's promise with its reply. */
export class ReaderClient {
  readonly hello: Promise<Reply>
  private readonly waiting = new Map<string, (reply: Reply) => void>()
  readonly unmatched: Reply[] = []
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(readonly socket: WebSocket) {
    let helloResolve: (reply: Reply) => void = () => undefined
    this.hello = new Promise((resolve) => (helloResolve = resolve))
    this.closed = new Promise((resolve) => socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })))
    socket.on("message", (data) => {
      const reply = JSON.parse(data.toString()) as Reply
      if (reply.type === "hello") return helloResolve(reply)
      const resolve = reply.id === null ? undefined : this.waiting.get(reply.id)
      if (resolve === undefined) return this.unmatched.push(reply)
      this.waiting.delete(reply.id as string)
      resolve(reply)
    })
  }

  static connect(url: string, token: string | undefined): Promise<ReaderClient> {
    const socket = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(new ReaderClient(socket)))
      socket.once("error", reject)
      socket.once("unexpected-response", (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)))
    })
  }

  /** Sends a request and resolves with its reply. */
  request(frame: Record<string, unknown> & { id: string }): Promise<Reply> {
    return new Promise((resolve) => {
      this.waiting.set(frame.id, resolve)
      this.socket.send(JSON.stringify(frame))
    })
  }

  /** Sends raw text or bytes; the reply (if any) lands in `unmatched` or closes the socket. */
  send(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary })
  }

  /** The next reply that no request waits for (bad frames have id null or an id never requested). */
  async nextUnmatched(): Promise<Reply> {
    for (;;) {
      const reply = this.unmatched.shift()
      if (reply !== undefined) return reply
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }

  close(): void {
    this.socket.close()
  }
}

let adminRequests = 0

/**
 * An admin call. A state-changing call needs a request id: unless the test gives one (in a JSON
 * body's `request`, or a `request` URL parameter), a fresh one is added.
 */
export const admin = async (node: NodeProcess, method: string, path: string, body?: unknown, contentType = "application/json") => {
  const request = `test-${process.pid}-${++adminRequests}`
  const json = typeof body === "object" && body !== null && !Array.isArray(body) && !("request" in body) ? { ...body, request } : body
  const inUrl = method !== "GET" && (typeof body === "string" || body === undefined) && !/[?&]request=/.test(path)
  const target = inUrl ? `${path}${path.includes("?") ? "&" : "?"}request=${request}` : path
  const response = await fetch(`${node.http}${target}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": contentType },
    ...(json === undefined ? {} : { body: typeof json === "string" ? json : JSON.stringify(json) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/**
 * `/v1/supply` once every committed transaction is in a final block: the supply counts final
 * blocks only (PROTOCOL.md section 9.5), so a test that just committed waits for it.
 */
export const finalSupply = (base: string, timeoutMs = 30_000): Promise<{ transactions: number; assets: Array<{ asset: string; circulation: number; euros?: Record<string, number> }> }> =>
  within(
    "every transaction final in the supply",
    (async () => {
      for (;;) {
        const health = (await (await fetch(`${base}/v1/health`)).json()) as { transactions: number }
        const supply = (await (await fetch(`${base}/v1/supply`)).json()) as { transactions: number; assets: Array<{ asset: string; circulation: number; euros?: Record<string, number> }> }
        if (supply.transactions === health.transactions) return supply
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })(),
    timeoutMs,
  )
