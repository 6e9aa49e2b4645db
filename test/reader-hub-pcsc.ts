/**
 * A real PC/SC stack for the hub's tests: Debian's pcscd with the vsmartcard-vpcd driver, started
 * by the harness, and a virtual card that speaks the vpcd protocol over TCP. vpcd's reader
 * "Virtual PCD 00 00" listens on 127.0.0.1:35963; a card is a TCP client of that port: connecting is
 * a tap, disconnecting takes the card away. Only one pcscd runs per machine and vpcd's ports are
 * fixed, so the suites that use this run in one file, one after the other.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"

export const pcscdPath = "/usr/sbin/pcscd"
export const vpcdDriverPath = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
export const pcscdSocket = "/run/pcscd/pcscd.comm"
/** vpcd's first reader, and the port its cards connect to. */
export const virtualReaderName = "Virtual PCD 00 00"
export const virtualReaderPort = 35963

export const pcscInstalled = (): boolean => existsSync(pcscdPath) && existsSync(vpcdDriverPath)
export const pcscInstallHint = "pcscd and vsmartcard-vpcd are not installed: apt-get install -y pcscd libpcsclite-dev vsmartcard-vpcd"

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Whether something listens on a loopback TCP port, read from /proc without connecting (a connection to vpcd is a tap). */
const listening = (port: number): boolean => {
  const hex = port.toString(16).toUpperCase().padStart(4, "0")
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .some((line) => {
      const [, local, , state] = line.trim().split(/\s+/)
      return state === "0A" && local !== undefined && local.endsWith(`:${hex}`)
    })
}

const socketAnswers = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false)
    const socket = connect({ path })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export interface Pcscd {
  /** Undefined when the tests use a pcscd that was already running. */
  readonly child: ChildProcess | undefined
  output(): string
  /** SIGTERM, and waits for the exit (pcscd removes its socket). */
  stop(): Promise<void>
}

/**
 * Starts pcscd in the foreground and waits until its socket answers and vpcd listens. Undefined when
 * pcscd or vpcd is not installed, unless GESELL_REQUIRE_SERVERS=1: then that is an error. A pcscd
 * already running (a system service, perhaps started by its socket) is used as it is if vpcd's
 * reader is up in it, and left running; one without vpcd is an error that says what to do.
 */
export const startPcscd = async (): Promise<Pcscd | undefined> => {
  if (!pcscInstalled()) {
    if (process.env["GESELL_REQUIRE_SERVERS"] === "1") throw new Error(pcscInstallHint)
    return undefined
  }
  if (await socketAnswers(pcscdSocket)) {
    for (let attempt = 0; attempt < 100 && !listening(virtualReaderPort); attempt++) await sleep(50)
    if (!listening(virtualReaderPort))
      throw new Error(`a pcscd is running without vpcd's reader (nothing listens on ${virtualReaderPort}): restart it after installing vsmartcard-vpcd, or stop it and let the tests start their own`)
    return { child: undefined, output: () => "(a pcscd that was already running)", stop: () => Promise.resolve() }
  }
  if (listening(virtualReaderPort)) throw new Error(`port ${virtualReaderPort} (vpcd's) is taken by another program`)
  mkdirSync("/run/pcscd", { recursive: true })
  const child = spawn(pcscdPath, ["--foreground"], { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  // A test process that dies without stopping it must not leave a pcscd holding vpcd's ports.
  const killAtExit = () => {
    if (child.exitCode === null && child.pid !== undefined) spawnSync("kill", ["-9", String(child.pid)])
  }
  process.once("exit", killAtExit)
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`pcscd exited with ${child.exitCode}:\n${output}`)
    if ((await socketAnswers(pcscdSocket)) && listening(virtualReaderPort)) break
    if (attempt > 200) {
      child.kill("SIGKILL")
      throw new Error(`pcscd did not get ready in time:\n${output}`)
    }
    await sleep(50)
  }
  return {
    child,
    output: () => output,
    stop: async () => {
      process.removeListener("exit", killAtExit)
      if (child.exitCode !== null) return
      child.kill("SIGTERM")
      await exited
    },
  }
}

/** The ATR that makes nfc-pcsc take the card for an ISO 14443-3 tag and ask its uid with FF CA 00 00 00. */
const atr = Buffer.from("3B8F8001804F0CA000000306030001000000006A", "hex")
const getUid = "ffca000000"

/** vpcd's framing: a 2-byte big-endian length, then the payload. */
const framed = (payload: Buffer): Buffer => {
  const header = Buffer.alloc(2)
  header.writeUInt16BE(payload.length)
  return Buffer.concat([header, payload])
}

/**
 * One placement of a virtual ISO 14443-3 card on vpcd's reader: answers power and reset (1-byte
 * control codes: 0 off, 1 on, 2 reset, 4 send the ATR) and the uid command with its uid then 90 00;
 * any other command gets 6A 81 (function not supported). Resolves true once the uid was read and the
 * card, held `holdMs` more, is taken away; false when it was not read within `readMs` (the card is
 * taken away then too, so that it never lingers on the reader into another test).
 */
const placeCard = (uid: string, holdMs: number, readMs: number, port: number): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const uidBytes = Buffer.from(uid, "hex")
    const socket: Socket = connect(port, "127.0.0.1")
    let pending = Buffer.alloc(0)
    let read = false
    const notRead = setTimeout(() => {
      socket.destroy()
      resolve(false)
    }, readMs)
    const answer = (payload: Buffer) => {
      if (socket.writable) socket.write(framed(payload))
    }
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0)
        if (pending.length < 2 + length) return
        const payload = pending.subarray(2, 2 + length)
        pending = pending.subarray(2 + length)
        if (payload.length === 1) {
          // Power off, power on and reset need no answer; 4 asks for the ATR.
          if (payload[0] === 4) answer(atr)
        } else if (payload.toString("hex") === getUid) {
          answer(Buffer.concat([uidBytes, Buffer.from([0x90, 0x00])]))
          if (!read) {
            read = true
            clearTimeout(notRead)
            setTimeout(() => {
              socket.end()
              resolve(true)
            }, holdMs)
          }
        } else {
          answer(Buffer.from([0x6a, 0x81]))
        }
      }
    })
    socket.once("error", (error) => {
      clearTimeout(notRead)
      reject(error)
    })
  })

/**
 * A tap of a virtual card: placed on the reader until its uid is read, then taken away. Like a
 * bartender told "card not read, tap again" (PC/SC now and then fails a first read: the hub reports
 * it), a card not read within `readMs` is lifted and tapped again, up to `attempts` times.
 */
export const tapCard = async (uid: string, options: { holdMs?: number; readMs?: number; attempts?: number; port?: number } = {}): Promise<void> => {
  const attempts = options.attempts ?? 3
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (await placeCard(uid, options.holdMs ?? 200, options.readMs ?? 3_000, options.port ?? virtualReaderPort)) return
    await sleep(300)
  }
  throw new Error(`the card ${uid} was not read in ${attempts} taps`)
}
