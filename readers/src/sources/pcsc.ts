/**
 * The NFC card source: a USB reader (ACR122U class) through PC/SC with `nfc-pcsc`, an optional
 * dependency loaded here only. Its native module spins at 100% CPU and never returns when pcscd is
 * not running, so pcscd's socket is checked, and connected to, before `new NFC()`; and it is watched
 * afterwards: if pcscd goes away the source fails (the hub exits, its service manager restarts it,
 * and the check at start says what is missing).
 */
import { existsSync } from "node:fs"
import { connect } from "node:net"
import type { CardSource } from "./card-source.js"

/** Where libpcsclite finds pcscd; PCSCLITE_CSOCK_NAME is the library's own override. */
export const pcscdSocketPath = (): string => process.env["PCSCLITE_CSOCK_NAME"] ?? "/run/pcscd/pcscd.comm"

/** How long the probe of pcscd's socket may take, and how often the socket is probed while running. */
const socketProbeTimeoutMs = 2_000
const socketWatchIntervalMs = 5_000

/** Why PC/SC cannot be used: what is missing, and how to get it. */
export class PcscUnavailable extends Error {}

/** Resolves when something accepts connections on pcscd's socket; else says what is missing. */
export const probePcscd = (path: string = pcscdSocketPath()): Promise<void> =>
  new Promise((resolve, reject) => {
    const missing = (why: string) =>
      new PcscUnavailable(`pcscd is not running (${why}): install it with \`apt-get install -y pcscd\` and start it (\`systemctl enable --now pcscd\`, or \`pcscd\`)`)
    if (!existsSync(path)) return reject(missing(`no socket at ${path}`))
    const socket = connect({ path })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(missing(`${path} does not answer`))
    }, socketProbeTimeoutMs)
    socket.once("connect", () => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    })
    socket.once("error", (error) => {
      clearTimeout(timer)
      reject(missing(`${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`))
    })
  })

/** The part of nfc-pcsc this source uses (the package ships no types). */
interface NfcCard {
  readonly uid?: string
}
interface NfcReader {
  readonly reader: { readonly name: string }
  on(event: "card", listener: (card: NfcCard) => void): void
  on(event: "error" | "end", listener: (error?: Error) => void): void
}
interface Nfc {
  on(event: "reader", listener: (reader: NfcReader) => void): void
  on(event: "error", listener: (error: Error) => void): void
  close(): void
}
type NfcConstructor = new () => Nfc

const loadNfc = async (): Promise<NfcConstructor> => {
  // A name in a variable: the package is optional, and has no types to check against.
  const name = "nfc-pcsc"
  let module: { NFC?: NfcConstructor; default?: { NFC?: NfcConstructor } }
  try {
    module = (await import(name)) as typeof module
  } catch (error) {
    throw new PcscUnavailable(
      `the optional package nfc-pcsc is not installed or did not build (${(error as Error).message.split("\n")[0]}): ` +
        "install libpcsclite-dev (`apt-get install -y libpcsclite-dev`), then run `npm install` again",
    )
  }
  const NFC = module.NFC ?? module.default?.NFC
  if (NFC === undefined) throw new PcscUnavailable("the nfc-pcsc package has no NFC export: install nfc-pcsc 0.8.1")
  return NFC
}

export interface PcscOptions {
  /** Only readers whose PC/SC name contains this (e.g. "ACR122"); all readers when undefined. */
  readonly readerName: string | undefined
  /** Said to the operator: readers found, unreadable cards. */
  readonly notice: (text: string) => void
  /** pcscd went away while running: the hub should stop. */
  readonly onFailure: (error: PcscUnavailable) => void
}

export class PcscSource implements CardSource {
  private nfc: Nfc | undefined
  private watch: NodeJS.Timeout | undefined

  constructor(private readonly options: PcscOptions) {}

  async start(onTap: (uid: string) => void): Promise<void> {
    // Both checked, so that the operator learns everything that is missing at once.
    const [loaded, probed] = await Promise.allSettled([loadNfc(), probePcscd()])
    const missing = [loaded, probed].flatMap((outcome) => (outcome.status === "rejected" ? [(outcome.reason as Error).message] : []))
    if (loaded.status === "rejected" || missing.length > 0) throw new PcscUnavailable(missing.join("; and "))
    const nfc = new loaded.value()
    this.nfc = nfc
    nfc.on("reader", (reader) => {
      const name = reader.reader.name
      // A reader left out still emits errors (when pcscd goes away): unheard, they would end the process.
      if (this.options.readerName !== undefined && !name.includes(this.options.readerName)) return reader.on("error", () => undefined)
      this.options.notice(`card reader ready: ${name}`)
      reader.on("card", (card) => {
        if (typeof card.uid === "string") onTap(card.uid)
        else this.options.notice(`a card on ${name} gave no uid: not one of ours, or tap again`)
      })
      reader.on("error", (error) => this.options.notice(`card not read on ${name}: ${error?.message ?? "unknown error"}; tap again`))
      reader.on("end", () => this.options.notice(`card reader removed: ${name}`))
    })
    nfc.on("error", (error) => this.options.notice(`PC/SC: ${error.message}`))
    this.watch = setInterval(() => {
      probePcscd().catch((error: PcscUnavailable) => this.options.onFailure(error))
    }, socketWatchIntervalMs)
    this.watch.unref()
  }

  stop(): void {
    clearInterval(this.watch)
    this.nfc?.close()
  }
}
