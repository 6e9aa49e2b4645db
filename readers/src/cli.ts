#!/usr/bin/env node
/**
 * The `gesell-reader` command: reads the configuration, takes the journal (one hub per journal),
 * connects the hub to the node, starts the card source, the terminal and the till's endpoint, and
 * stops cleanly on SIGTERM. Exit codes: 0 done or stopped, 2 a configuration or journal problem
 * (a damaged journal among them: `--journal-recover` then starts from what can be read), 3 PC/SC
 * unavailable (pcscd not running, or nfc-pcsc missing).
 */
import { randomBytes } from "node:crypto"
import { rmSync } from "node:fs"
import { connect, createServer, type Server } from "node:net"
import { createInterface } from "node:readline"
import { readConfig, usage, type Config } from "./config.js"
import { formatMinor, renderJson, renderText, type HubEvent } from "./display.js"
import { Hub } from "./hub.js"
import { Journal, JournalDamaged } from "./journal.js"
import * as limits from "./limits.js"
import { Link } from "./link.js"
import { RequestIds } from "./request-ids.js"
import type { CardSource } from "./sources/card-source.js"
import { PcscSource, PcscUnavailable } from "./sources/pcsc.js"
import { ScriptedSource } from "./sources/scripted.js"
import { parseCommand, terminalHelp } from "./terminal.js"
import { startTill } from "./till.js"

const fail = (code: number, text: string): never => {
  process.stderr.write(`gesell-reader: ${text}\n`)
  process.exit(code)
}

/** Whether something accepts connections on this Unix socket path. */
const answers = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ path })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const listenOn = (server: Server, path: string): Promise<NodeJS.ErrnoException | undefined> =>
  new Promise((resolve) => {
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error))
    server.listen(path, () => resolve(undefined))
  })

/**
 * One hub per journal: two would interleave their records and resend each other's requests. The
 * lock is a Unix socket the running hub listens on, next to the journal: it lives exactly as long as
 * the process (a pid in a file could be reused by another process after a reboot), and a socket file
 * left by a killed hub answers nothing, so it is replaced.
 */
const lockJournal = async (journal: string): Promise<Server> => {
  const lock = `${journal}.lock`
  const server = createServer()
  let failed = await listenOn(server, lock)
  if (failed?.code === "EADDRINUSE") {
    if (await answers(lock)) return fail(2, `another gesell-reader uses the journal ${journal} (it listens on ${lock})`)
    rmSync(lock, { force: true })
    failed = await listenOn(server, lock)
  }
  if (failed !== undefined) return fail(2, `cannot lock the journal with ${lock}: ${failed.message}`)
  server.unref()
  return server
}

const sourceOf = (config: Config, hub: Hub, show: (event: HubEvent) => void, stop: (code: number) => void): CardSource | undefined => {
  switch (config.source) {
    case "pcsc":
      return new PcscSource({
        readerName: config.pcscReader,
        notice: (text) => show({ event: "notice", text }),
        onFailure: (error) => {
          process.stderr.write(`gesell-reader: ${error.message}\n`)
          stop(3)
        },
      })
    case "script": {
      const script = new ScriptedSource(config.taps, config.tapIntervalMs)
      script.finished
        .then(() => drainThenStop(hub, stop))
        .catch((error: unknown) => console.error(`gesell-reader: the scripted taps failed: ${String(error)}`))
      return script
    }
    case "stdin":
      return undefined
  }
}

/** Exits once every request has its final reply: the end of a script or of the piped uids. */
const drainThenStop = (hub: Hub, stop: (code: number) => void): void => {
  const poll = setInterval(() => {
    if (hub.outstanding > 0) return
    clearInterval(poll)
    stop(0)
  }, 20)
}

const main = async (): Promise<void> => {
  let config: Config | "help"
  try {
    config = readConfig(process.argv.slice(2), process.env)
  } catch (error) {
    return fail(2, `${(error as Error).message} (gesell-reader --help lists the options)`)
  }
  if (config === "help") {
    process.stdout.write(usage)
    return
  }
  const show = (event: HubEvent): void => void process.stdout.write(`${(config.json ? renderJson : renderText)(event)}\n`)
  const lock = await lockJournal(config.journal)
  let opened: ReturnType<typeof Journal.open>
  try {
    opened = Journal.open(config.journal, limits, { recover: config.journalRecover })
  } catch (error) {
    lock.close()
    if (error instanceof JournalDamaged) return fail(2, error.message)
    return fail(2, `cannot open the journal ${config.journal}: ${(error as Error).message}`)
  }
  const { journal, tornLastLine, unreadable, copy } = opened
  if (tornLastLine) show({ event: "notice", text: "journal: its last line was cut by a crash (a write never sent): dropped" })
  if (copy !== undefined) {
    for (const line of unreadable) show({ event: "unreadable", line, copy })
    show({ event: "notice", text: `journal recovered: ${unreadable.length} line(s) could not be read (listed above; the journal as found is kept in ${copy}), the rest is kept` })
  }
  if (journal.pendingCount > 0) show({ event: "notice", text: `journal: ${journal.pendingCount} request(s) without a reply, sending them again with their ids` })

  const ids = new RequestIds(randomBytes(12).toString("base64url"), Date.now)
  const hub = new Hub(
    { mode: config.mode, doubleTapMs: config.doubleTapMs, requestAgeMsMax: limits.requestAgeMsMax, waitingNoticeMs: limits.waitingNoticeMs, saleAsset: config.mode === "bar" ? config.asset : undefined },
    journal,
    ids,
    Date.now,
    show,
  )
  const link = new Link(
    config.server,
    config.token,
    limits,
    {
      onHello: (hello) => {
        const accepted = hub.onHello(hello)
        // The journal belongs to another reader (the hub said which): nothing can be sent, so stop.
        if (!accepted) setImmediate(() => stop(2))
        return accepted
      },
      onResult: (frame, result) => hub.onResult(frame, result),
      onRetry: (frame, code, delayMs) => hub.onRetry(frame, code, delayMs),
      onExpired: (frame) => hub.onExpired(frame),
      onLinkChange: (_up, why) => show({ event: "notice", text: why }),
      onProblem: (text) => show({ event: "notice", text }),
    },
    Date.now,
  )
  let stopping = false
  const source = sourceOf(config, hub, show, (code) => stop(code))
  function stop(code: number): void {
    if (stopping) return
    stopping = true
    source?.stop()
    link.stop()
    journal.close()
    lock.close()
    process.exit(code)
  }
  process.once("SIGTERM", () => stop(0))
  process.once("SIGINT", () => stop(0))

  if (config.price !== undefined) hub.setPrice(config.price)
  hub.resume(link)
  link.start()

  try {
    await source?.start((uid) => hub.tap(uid))
  } catch (error) {
    if (!(error instanceof PcscUnavailable)) throw error
    process.stderr.write(`gesell-reader: cannot read cards: ${error.message}\n`)
    return stop(3)
  }

  const status = () => ({
    link: link.up ? "up" : "down",
    reader: hub.greeting?.reader ?? null,
    place: hub.greeting?.place ?? null,
    role: hub.greeting?.role ?? null,
    mode: hub.mode,
    price: hub.currentPrice ?? null,
    pending: hub.outstanding,
  })
  if (config.tillPort !== undefined) {
    const till = await startTill(config.tillPort, {
      price: () => hub.currentPrice,
      setPrice: (amount) => hub.setPrice(amount),
      arm: (action) => hub.arm(action),
      status,
      mode: config.mode,
      topupAsset: config.asset,
    })
    show({ event: "notice", text: `till endpoint on http://127.0.0.1:${till.port}/v1/price` })
    till.server.unref()
  }

  const terminal = createInterface({ input: process.stdin, terminal: false })
  terminal.on("line", (line) => {
    const command = parseCommand(line, config.source === "stdin")
    if (command === undefined) return
    switch (command.kind) {
      case "tap":
        return hub.tap(command.uid)
      case "price":
        return config.mode === "bar" ? hub.setPrice(command.amount) : show({ event: "notice", text: "the price is for bar mode" })
      case "topup": {
        const asset = command.asset ?? config.asset
        if (config.mode !== "cashdesk" || asset === undefined) return show({ event: "notice", text: "topup needs cashdesk mode and an asset (topup 20.00 ASSET, or --asset)" })
        return hub.arm({ type: "topup", amount: command.amount, asset })
      }
      case "refund":
      case "check":
        return config.mode === "cashdesk" ? hub.arm({ type: command.kind }) : show({ event: "notice", text: `${command.kind} is for cashdesk mode` })
      case "status": {
        const now = status()
        return show({ event: "notice", text: `link ${now.link}, ${now.pending} waiting, mode ${now.mode}, price ${now.price === null ? "not set" : formatMinor(now.price)}` })
      }
      case "help":
        return show({ event: "notice", text: `\n${terminalHelp}` })
      case "unknown":
        return show({ event: "notice", text: command.text })
    }
  })
  // Without a terminal (a service) stdin ends at once: that ends the hub only when it is the source.
  terminal.on("close", () => {
    if (config.source === "stdin") drainThenStop(hub, stop)
  })
}

main().catch((error: Error) => fail(2, error.stack ?? error.message))
