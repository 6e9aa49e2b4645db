/**
 * Runs the built `gesell-reader` command as a child process for black-box tests, in `--json` mode:
 * every line it prints is an event, kept in order, and a test waits for the events it expects.
 * Also reads the hub's journal file as it is on disk, and a card's balances from the node.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freshDataDir, ReaderClient, startNode, tokenOf, type NodeProcess } from "./node-process.js"

const root = new URL(import.meta.url.includes("/dist/") ? "../../" : "../", import.meta.url)
export const hubCliPath = new URL("readers/dist/cli.js", root).pathname

export type HubEvent = Record<string, unknown> & { event: string }
export type ResultEvent = HubEvent & { event: "result"; request: { id: string; type: string; card: string; amount?: number }; status: string; doubleTap: boolean; resent: boolean }

export interface HubProcess {
  readonly child: ChildProcess
  readonly events: HubEvent[]
  readonly journal: string
  output(): string
  /** The result events so far. */
  results(): ResultEvent[]
  /** Resolves with the first event from index `from` on that `select` accepts. */
  next(select: (event: HubEvent) => boolean, from?: number): Promise<HubEvent>
  /** Resolves once `count` result events were printed. */
  resultCount(count: number): Promise<ResultEvent[]>
  write(line: string): void
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>
  /** SIGTERM, and waits. */
  stop(): Promise<number | null>
  /** kill -9, and waits. */
  kill(): Promise<number | null>
}

export const hubDir = (): string => mkdtempSync(join(tmpdir(), "gesell-reader-"))

export interface HubOptions {
  readonly node?: NodeProcess
  /** The server URL when no node is given (e.g. a port where nothing listens). */
  readonly server?: string
  readonly reader?: string
  readonly journal: string
  readonly args?: readonly string[]
  readonly env?: Record<string, string>
}

export const startHub = (options: HubOptions): HubProcess => {
  const server = options.server ?? options.node?.ws ?? "ws://127.0.0.1:9/v1/readers"
  const args = [hubCliPath, "--server", server, "--token", tokenOf(options.reader ?? "bar-1"), "--journal", options.journal, "--json", ...(options.args ?? [])]
  const child = spawn(process.execPath, args, { env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] })
  const events: HubEvent[] = []
  let output = ""
  let partial = ""
  const waiters = new Set<() => void>()
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
    const lines = (partial + chunk.toString()).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) if (line.startsWith("{")) events.push(JSON.parse(line) as HubEvent)
    for (const wake of waiters) wake()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code)
      for (const wake of waiters) wake()
    }),
  )
  const next = (select: (event: HubEvent) => boolean, from = 0): Promise<HubEvent> =>
    new Promise((resolve, reject) => {
      const look = () => {
        const found = events.slice(from).find(select)
        if (found !== undefined) {
          waiters.delete(look)
          resolve(found)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(look)
          reject(new Error(`the hub exited (${child.exitCode ?? child.signalCode}) before the expected event:\n${output}`))
        }
      }
      waiters.add(look)
      look()
    })
  const results = () => events.filter((event): event is ResultEvent => event.event === "result")
  return {
    child,
    events,
    journal: options.journal,
    output: () => output,
    results,
    next,
    resultCount: async (count) => {
      await next(() => results().length >= count)
      return results()
    },
    write: (line) => void child.stdin?.write(`${line}\n`),
    exited,
    stop: () => (child.exitCode !== null ? exited : (child.kill("SIGTERM"), exited)),
    kill: () => (child.exitCode !== null || child.signalCode !== null ? exited : (child.kill("SIGKILL"), exited)),
  }
}

/** The requests of a journal file that have no reply record, as the file is on disk now. */
export const journalPending = (path: string): Array<{ id: string; type: string; card: string }> => {
  if (!existsSync(path)) return []
  const waiting = new Map<string, { id: string; type: string; card: string }>()
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line === "") continue
    let record: { request?: { id: string; type: string; card: string }; reply?: string }
    try {
      record = JSON.parse(line) as typeof record
    } catch {
      continue
    }
    if (record.request !== undefined) waiting.set(record.request.id, record.request)
    if (record.reply !== undefined) waiting.delete(record.reply)
  }
  return [...waiting.values()]
}

/** A card's balances as the node has them now (a check through the cash desk's reader). */
export const balancesOf = async (node: NodeProcess, card: string, reader = "desk-1"): Promise<unknown> => {
  const client = await ReaderClient.connect(node.ws, tokenOf(reader))
  try {
    await client.hello
    const reply = await client.request({ type: "check", id: `check-${card}-${process.hrtime.bigint()}`, card })
    return reply["balances"]
  } finally {
    client.close()
  }
}

/** Tops a card up at the cash desk; returns the reply. */
export const topUp = async (node: NodeProcess, card: string, amount: number, id: string) => {
  const client = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
  try {
    await client.hello
    return await client.request({ type: "topup", id, card, amount, asset: "raf-eur" })
  } finally {
    client.close()
  }
}

/**
 * Starts `gesell start` on a given port and data dir, so that a node restarted under a running hub
 * is found again at the same address (startNode takes any free port). Resolves once it listens.
 */
export const startNodeOnPort = (port: number, dataDir: string = freshDataDir()): Promise<NodeProcess> => startNode({ port, dataDir })

/**
 * The number of transactions the node has committed, from its health: `transactions` where the node
 * reports blocks apart (then `height` counts blocks), else `height`.
 */
export const transactionsOf = async (node: NodeProcess): Promise<number> => {
  const response = await fetch(`${node.http}/v1/health`)
  const body = (await response.json()) as { height: number; transactions?: number }
  return body.transactions ?? body.height
}
