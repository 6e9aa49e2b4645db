#!/usr/bin/env -S node --max-semi-space-size=32
/**
 * The `gesell` command line (PROTOCOL.md section 8): `start` runs a node, `keygen` writes a
 * validator key, `check` replays the stored ledger against the stored balances, `simulate` taps the
 * demo federation over the reader WebSocket, and `festival` runs the engine alone in-process.
 */
import { randomBytes } from "node:crypto"
import { parseArgs } from "node:util"
import { Clock, Effect, Exit, Cause } from "effect"
import { nodeConfig } from "../actors/config.js"
import { base64urlEncode, keyFromSeed, validatorId } from "../engine/ed25519.js"
import { CardKey } from "../actors/card-key.js"
import { newLedger } from "../actors/ledger-start.js"
import type { JsonValue } from "../engine/state.js"
import { runCheck } from "./check.js"
import { demoGenesis, demoReaders } from "./demo.js"
import { runFestival } from "./festival.js"
import { readKey, writeNewKey } from "./keys.js"
import { readFileSync } from "node:fs"
import { signApproval } from "../engine/authority.js"
import { decodeCommand } from "../engine/command.js"
import { isRecord, type ValidatorId } from "../engine/names.js"
import { commandJson } from "../engine/transaction.js"
import { runNode, storageLayer } from "./node.js"
import { simulate } from "./simulate.js"
import { runValidator } from "./validator.js"
import { runPeer } from "./peer.js"

const usage = `usage:
  gesell start [--genesis FILE] [--port N] [--data-dir DIR] [--key FILE] [--steward-key FILE]
                                  run a node (PGlite under the data dir unless DATABASE_URL is set);
                                  with no ledger yet and no --genesis, a demo federation
  gesell keygen --out FILE        write a new Ed25519 validator key and print its validator id
  gesell steward keygen --out FILE
                                  write a new steward key and print its id (for the genesis's stewards)
  gesell steward sign --key FILE --genesis-hash HEX --command FILE
                                  print a steward's approval {key, signature} of the command in FILE
                                  (as POST /v1/admin/commands/prepare answers it)
  gesell validator approve --key FILE --genesis-hash HEX --command FILE
                                  print a validator's approval of a change of the set or the rules
  gesell validator --engine URL --key FILE --data-dir DIR --genesis-hash HEX [--stripe-key-file FILE | --payments FILE]
                                  validate the engine's blocks: re-execute each proposal on an own
                                  replica, vote or reject
  gesell peer --engine URL --key FILE --data-dir DIR --genesis-hash HEX [--port N]
                                  follow and verify the final blocks; serve /v1/blocks and /v1/supply;
                                  stop with the evidence (exit 3) on any violation; --key: an
                                  observer's or a validator's key (transactions are for members)
                                  (--genesis-hash: the hash of block 0, printed by the node at start)
  gesell check [--data-dir DIR]   replay the whole ledger and compare it with the stored balances
                                  (PGlite: stop the node first; PostgreSQL: DATABASE_URL)
  gesell simulate [--data-dir DIR] [--port N] [--rate TAPS_PER_S] [--duration S]
                                  tap the demo federation's readers over the WebSocket
  gesell festival [--taps N]      run a demo festival through the engine alone, in-process`

const clockMs = () => Number(Effect.runSync(Clock.currentTimeNanos)) / 1e6

/** Parses the flags of a command; an unknown flag or a bad number is reported and exits 2. */
const flags = (args: string[], options: Record<string, { type: "string" }>) => {
  const { values } = parseArgs({ args, options, strict: true })
  return values as Record<string, string | undefined>
}

const integerFlag = (value: string | undefined, name: string, min: number, max: number): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer between ${min} and ${max}`)
  return n
}

class UsageError extends Error {}

/** Runs an Effect program to an exit code; failures print their reason. */
const runExit = async (program: Effect.Effect<number, unknown>): Promise<number> => {
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return exit.value
  if (Cause.isInterruptedOnly(exit.cause)) return 0
  // An expected failure (a bad setting, storage refused) is told in its own words; a defect with its trace.
  const failure = Cause.failureOption(exit.cause)
  const reason = failure._tag === "Some" && failure.value instanceof Error ? failure.value.message : Cause.pretty(exit.cause)
  console.error(`gesell: ${reason}`)
  return 1
}

const start = async (args: string[]): Promise<number> => {
  const f = flags(args, { genesis: { type: "string" }, port: { type: "string" }, "data-dir": { type: "string" }, key: { type: "string" }, "steward-key": { type: "string" } })
  const fiber = Effect.runFork(runNode({ genesis: f["genesis"], port: integerFlag(f["port"], "port", 0, 65535), dataDir: f["data-dir"], key: f["key"], stewardKey: f["steward-key"] }))
  const stop = () => Effect.runFork(fiber.interruptAsFork(fiber.id()))
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  return runExit(fiber.await.pipe(Effect.flatMap((exit) => exit), Effect.as(0)) as Effect.Effect<number, unknown>)
}

/** Runs a long-lived program until it ends or a signal interrupts it. */
const untilSignal = (program: Effect.Effect<number, unknown>): Promise<number> => {
  const fiber = Effect.runFork(program)
  const stop = () => Effect.runFork(fiber.interruptAsFork(fiber.id()))
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  return runExit(fiber.await.pipe(Effect.flatMap((exit) => exit)))
}

const required = (value: string | undefined, name: string): string => {
  if (value === undefined) throw new UsageError(`--${name} is required`)
  return value
}

/**
 * The hash of the federation's block 0, which a validator or a peer must be given (PROTOCOL.md
 * section 9.7): taken from the engine it follows, it would trust whatever federation that engine
 * serves. The node prints it at start; members compare it out of band.
 */
const genesisHashFlag = (value: string | undefined): string => {
  if (value === undefined) {
    throw new UsageError(
      "--genesis-hash HEX is required: the hash of the federation's block 0, which its node prints at start as 'Genesis hash (block 0): …' (compare it with the other members')",
    )
  }
  if (!/^[0-9a-f]{64}$/.test(value)) throw new UsageError("--genesis-hash must be a block hash: 64 lowercase hex digits")
  return value
}

/**
 * `gesell steward sign` and `gesell validator approve`: the approval of a command file (a command as
 * `POST /v1/admin/commands/prepare` answers it, or as written by hand) by the key of a steward or a
 * validator, printed as `{"key","signature"}` (PROTOCOL.md section 9.3). What is signed is told on
 * standard error first, as the engine reads it: one signs a command, not a file.
 */
const approve = (args: string[]): number => {
  const f = flags(args, { key: { type: "string" }, "genesis-hash": { type: "string" }, command: { type: "string" } })
  const key = readKey(required(f["key"], "key"))
  const genesisHash = genesisHashFlag(f["genesis-hash"])
  const file = required(f["command"], "command")
  const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown
  // A file saved from `prepare` holds its whole answer: the command is its `command`.
  const raw = isRecord(parsed) && isRecord(parsed["command"]) && parsed["kind"] === undefined ? parsed["command"] : parsed
  const command = decodeCommand(raw)
  if (!command.ok) throw new UsageError(`${file} holds no valid command: ${command.field ?? "command"}: ${command.message}`)
  if (command.value.request === undefined) throw new UsageError(`${file}: an approved command carries a request id (its field request)`)
  console.error(`approving, as ${key.validator}: ${commandJson(command.value as never)}`)
  console.log(JSON.stringify(signApproval(key.key, key.validator as ValidatorId, genesisHash, command.value)))
  return 0
}

const steward = (args: string[]): number => {
  const [sub, ...rest] = args
  if (sub === "keygen") return keygen(rest)
  if (sub === "sign") return approve(rest)
  throw new UsageError("gesell steward keygen --out FILE | gesell steward sign --key FILE --genesis-hash HEX --command FILE")
}

const validator = (args: string[]): Promise<number> => {
  if (args[0] === "approve") return Promise.resolve(approve(args.slice(1)))
  const f = flags(args, { engine: { type: "string" }, key: { type: "string" }, "data-dir": { type: "string" }, "genesis-hash": { type: "string" }, payments: { type: "string" }, "stripe-key-file": { type: "string" } })
  return untilSignal(
    runValidator({
      payments: f["payments"],
      stripeKeyFile: f["stripe-key-file"],
      stripeApiUrl: process.env["STRIPE_API_URL"],
      engine: required(f["engine"], "engine"),
      key: required(f["key"], "key"),
      dataDir: required(f["data-dir"], "data-dir"),
      genesisHash: genesisHashFlag(f["genesis-hash"]),
    }),
  )
}

const peer = (args: string[]): Promise<number> => {
  const f = flags(args, { engine: { type: "string" }, key: { type: "string" }, "data-dir": { type: "string" }, port: { type: "string" }, "genesis-hash": { type: "string" } })
  return untilSignal(
    runPeer({
      engine: required(f["engine"], "engine"),
      dataDir: required(f["data-dir"], "data-dir"),
      port: integerFlag(f["port"], "port", 0, 65535),
      genesisHash: genesisHashFlag(f["genesis-hash"]),
      key: required(f["key"], "key"),
    }),
  )
}

const check = (args: string[]): Promise<number> => {
  const f = flags(args, { "data-dir": { type: "string" } })
  return runExit(
    Effect.gen(function* () {
      const config = yield* nodeConfig({ dataDir: f["data-dir"] })
      return yield* runCheck.pipe(Effect.provide(storageLayer(config)))
    }),
  )
}

const keygen = (args: string[]): number => {
  const out = flags(args, { out: { type: "string" } })["out"]
  if (out === undefined) throw new UsageError("--out FILE is required")
  console.log(writeNewKey(out).validator)
  return 0
}

const simulateCommand = async (args: string[]): Promise<number> => {
  const f = flags(args, { "data-dir": { type: "string" }, port: { type: "string" }, rate: { type: "string" }, duration: { type: "string" } })
  const port = integerFlag(f["port"], "port", 1, 65535) ?? 7400
  const result = await simulate({
    url: `ws://127.0.0.1:${port}`,
    dataDir: f["data-dir"] ?? ".data",
    ratePerSecond: integerFlag(f["rate"], "rate", 1, 100_000) ?? 200,
    durationSeconds: integerFlag(f["duration"], "duration", 1, 3600) ?? 20,
    clockMs,
    print: (line) => console.log(line),
  })
  console.log(`simulate: ${result.sent} taps sent, ${result.answered} answered, ${result.ok} ok`)
  return result.answered === result.sent ? 0 : 1
}

const festival = (args: string[]): number => {
  const taps = integerFlag(flags(args, { taps: { type: "string" } })["taps"], "taps", 1, 10_000_000) ?? 200_000
  const key = keyFromSeed(randomBytes(32))
  if (key === undefined) throw new Error("a 32-byte seed always makes a key")
  const readers = demoReaders(() => base64urlEncode(randomBytes(24)))
  const cards = 5_000
  const startMs = Effect.runSync(Clock.currentTimeMillis)
  const cardKey = CardKey.generate()
  const made = newLedger(demoGenesis(validatorId(key.publicKeyRaw), readers, cards) as unknown as JsonValue, cardKey, startMs)
  if (!("state" in made)) throw new Error(`demo genesis rejected: ${made.field}: ${made.message}`)
  console.log(`A demo festival in-process through the ledger engine alone: ${readers.length} readers, ${cards} cards, ${taps} taps.`)
  const report = runFestival(made.state, readers, { taps, cards, seed: 20261124, startMs, clockMs, pseudonym: (uid) => cardKey.pseudonym(uid) })
  console.log(`  outcomes: ${[...report.statuses].map(([status, n]) => `${status} ${n}`).join(", ")}`)
  console.log(`  transactions: ${report.transactions}; engine time ${report.engineMs.toFixed(0)} ms (${Math.round(report.taps / (report.engineMs / 1000))} taps/s on one core, no IO)`)
  console.log(`  supply: ${[...report.supply].map(([asset, amount]) => `${asset} ${amount}`).join(", ")}`)
  console.log(`  replay of every transaction gives the same balances: ${report.replayMatches ? "yes" : "NO"}`)
  console.log(`  Merkle root of the transactions: ${report.txRoot}`)
  return report.replayMatches ? 0 : 1
}

const main = async (argv: string[]): Promise<number> => {
  const [command, ...rest] = argv
  try {
    if (command === "start") return await start(rest)
    if (command === "check") return await check(rest)
    if (command === "keygen") return keygen(rest)
    if (command === "steward") return steward(rest)
    if (command === "validator") return await validator(rest)
    if (command === "peer") return await peer(rest)
    if (command === "simulate") return await simulateCommand(rest)
    if (command === "festival") return festival(rest)
  } catch (error) {
    console.error(`gesell ${command ?? ""}: ${error instanceof Error ? error.message : String(error)}`)
    return 2
  }
  console.error(usage)
  return command === undefined || command === "help" || command === "--help" ? 0 : 2
}

process.exitCode = await main(process.argv.slice(2))
