/**
 * The hub's configuration: command-line flags, each with an environment variable for a service
 * manager's unit file, checked once here so that the rest of the hub sees only valid values.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { parseMinor } from "./display.js"
import { normalizeUid } from "./hub.js"
import * as limits from "./limits.js"
import type { Mode } from "./protocol.js"

export type SourceKind = "pcsc" | "stdin" | "script"

export interface Config {
  readonly server: string
  readonly token: string
  readonly mode: Mode
  readonly source: SourceKind
  readonly taps: readonly string[]
  readonly tapIntervalMs: number
  readonly pcscReader: string | undefined
  readonly journal: string
  /** Start from what can be read of a damaged journal, listing what cannot (never from the environment: it is a decision for once). */
  readonly journalRecover: boolean
  readonly price: number | undefined
  readonly asset: string | undefined
  readonly tillPort: number | undefined
  readonly doubleTapMs: number
  readonly json: boolean
}

export const usage = `gesell-reader: the reader hub at a bar or cash desk

  gesell-reader --server ws://HOST:PORT/v1/readers --token TOKEN [options]

  --server URL          the node's reader WebSocket (GESELL_SERVER; default ws://127.0.0.1:7400/v1/readers)
  --token TOKEN         this reader's token (GESELL_READER_TOKEN), or
  --token-file FILE     a file holding it (GESELL_READER_TOKEN_FILE)
  --mode MODE           bar (a tap is a sale of the price), cashdesk (topup, refund, else check),
                        check (a tap shows the balances) (GESELL_READER_MODE; default bar)
  --price AMOUNT        the price of each tap at the bar, e.g. 3.50 (GESELL_READER_PRICE; else type it)
  --asset ASSET         bar: pay in this asset only; cashdesk: the asset of top-ups (GESELL_READER_ASSET)
  --source SOURCE       pcsc (an NFC reader through pcscd), stdin (uids typed or piped, one a line),
                        script (the uids of --taps) (GESELL_READER_SOURCE; default pcsc)
  --pcsc-reader NAME    only the PC/SC readers whose name contains NAME (GESELL_PCSC_READER)
  --taps UID,UID,...    the taps of --source script, --tap-interval-ms apart (default 1000)
  --journal FILE        the journal (GESELL_READER_JOURNAL; default ./gesell-reader.journal)
  --journal-recover     start from a journal with damaged lines (the hub stopped with code 2 and
                        said so): send what can be read, list the lines that cannot
  --till-port N         serve the till's endpoint on 127.0.0.1:N (GESELL_TILL_PORT; 0: any free port)
  --double-tap-ms N     the same card again within N ms is the same sale (GESELL_DOUBLE_TAP_MS; default ${limits.doubleTapMs})
  --json                one JSON object per line instead of text
  --help                this text
`

const integerOf = (text: string, name: string, min: number, max: number): number => {
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, not ${text}`)
  return value
}

/** The configuration of these arguments and this environment; throws with a clear message. */
export const readConfig = (args: readonly string[], env: NodeJS.ProcessEnv): Config | "help" => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      server: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      mode: { type: "string" },
      price: { type: "string" },
      asset: { type: "string" },
      source: { type: "string" },
      "pcsc-reader": { type: "string" },
      taps: { type: "string" },
      "tap-interval-ms": { type: "string" },
      journal: { type: "string" },
      "journal-recover": { type: "boolean" },
      "till-port": { type: "string" },
      "double-tap-ms": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
  })
  if (values.help === true) return "help"
  const tokenFile = values["token-file"] ?? env["GESELL_READER_TOKEN_FILE"]
  const token = values.token ?? env["GESELL_READER_TOKEN"] ?? (tokenFile === undefined ? undefined : readFileSync(tokenFile, "utf8").trim())
  if (token === undefined || token === "") throw new Error("no reader token: give --token, --token-file, GESELL_READER_TOKEN or GESELL_READER_TOKEN_FILE")
  const mode = values.mode ?? env["GESELL_READER_MODE"] ?? "bar"
  if (mode !== "bar" && mode !== "cashdesk" && mode !== "check") throw new Error(`--mode must be bar, cashdesk or check, not ${mode}`)
  const source = values.source ?? env["GESELL_READER_SOURCE"] ?? "pcsc"
  if (source !== "pcsc" && source !== "stdin" && source !== "script") throw new Error(`--source must be pcsc, stdin or script, not ${source}`)
  const priceText = values.price ?? env["GESELL_READER_PRICE"]
  const price = priceText === undefined ? undefined : parseMinor(priceText)
  if (priceText !== undefined && price === undefined) throw new Error(`--price must be an amount like 3.50, not ${priceText}`)
  const taps = (values.taps ?? "").split(",").filter((uid) => uid !== "")
  const badUid = taps.find((uid) => normalizeUid(uid) === undefined)
  if (badUid !== undefined) throw new Error(`--taps: ${badUid} is not a card uid (4, 7 or 10 bytes in hex)`)
  if (source === "script" && taps.length === 0) throw new Error("--source script needs --taps UID,UID,...")
  const asset = values.asset ?? env["GESELL_READER_ASSET"]
  if (asset !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(asset)) throw new Error(`--asset must be an asset id like raf-eur, not ${asset}`)
  const tillPort = values["till-port"] ?? env["GESELL_TILL_PORT"]
  const server = values.server ?? env["GESELL_SERVER"] ?? "ws://127.0.0.1:7400/v1/readers"
  if (!/^wss?:\/\//.test(server)) throw new Error(`--server must be a ws:// or wss:// URL, not ${server}`)
  return {
    server,
    token,
    mode,
    source,
    taps,
    tapIntervalMs: integerOf(values["tap-interval-ms"] ?? "1000", "--tap-interval-ms", 0, 3_600_000),
    pcscReader: values["pcsc-reader"] ?? env["GESELL_PCSC_READER"],
    journal: values.journal ?? env["GESELL_READER_JOURNAL"] ?? "gesell-reader.journal",
    journalRecover: values["journal-recover"] === true,
    price,
    asset,
    tillPort: tillPort === undefined ? undefined : integerOf(tillPort, "--till-port", 0, 65535),
    doubleTapMs: integerOf(values["double-tap-ms"] ?? env["GESELL_DOUBLE_TAP_MS"] ?? String(limits.doubleTapMs), "--double-tap-ms", 0, 60_000),
    json: values.json === true,
  }
}
