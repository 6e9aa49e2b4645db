#!/usr/bin/env node
/**
 * The `gesell` command line (PROTOCOL.md section 8). `keygen` writes a validator key. `start` does
 * not run the network node yet: it says so, and runs a demo festival in-process through the engine.
 */
// Keys and reader tokens are secrets: they come from the operating system's cryptographic
// generator, not from Effect's Random, which is for reproducible simulations.
import { randomBytes } from "node:crypto"
import { Clock, Effect } from "effect"
import { writeFileSync, existsSync } from "node:fs"
import { parseArgs } from "node:util"
import { keyFromSeed, validatorId, base64urlEncode } from "../engine/ed25519.js"
import { decodeGenesis, ledgerFromGenesis } from "../engine/genesis.js"
import { demoGenesis, demoReaders } from "./demo.js"
import { runFestival } from "./festival.js"

const usage = `usage:
  gesell start [--taps N]        run the demo festival through the engine (the network node comes next)
  gesell keygen --out FILE       write a new Ed25519 validator key and print its validator id`

const keygen = (args: string[]): number => {
  const { values } = parseArgs({ args, options: { out: { type: "string" } } })
  if (values.out === undefined) {
    console.error("gesell keygen: --out FILE is required")
    return 2
  }
  if (existsSync(values.out)) {
    console.error(`gesell keygen: ${values.out} exists; refusing to overwrite a key`)
    return 1
  }
  const seed = randomBytes(32)
  const key = keyFromSeed(seed)
  if (key === undefined) throw new Error("a 32-byte seed always makes a key")
  const id = validatorId(key.publicKeyRaw)
  writeFileSync(values.out, JSON.stringify({ validator: id, seed: base64urlEncode(seed) }) + "\n", { mode: 0o600 })
  console.log(id)
  return 0
}

const start = (args: string[]): number => {
  const { values } = parseArgs({ args, options: { taps: { type: "string", default: "200000" } }, strict: false })
  const taps = Number(values.taps)
  if (!Number.isSafeInteger(taps) || taps < 1 || taps > 10_000_000) {
    console.error("gesell start: --taps must be an integer between 1 and 10000000")
    return 2
  }
  const key = keyFromSeed(randomBytes(32))
  if (key === undefined) throw new Error("a 32-byte seed always makes a key")
  const readers = demoReaders(() => base64urlEncode(randomBytes(24)))
  const cards = 5_000
  const genesis = decodeGenesis(demoGenesis(validatorId(key.publicKeyRaw), readers, cards))
  if (!genesis.ok) throw new Error(`demo genesis rejected: ${genesis.field}: ${genesis.message}`)
  console.log("Gesell: the network node (readers over WebSocket, Postgres, blocks) is not built yet.")
  console.log(`Running a demo festival in-process through the ledger engine: ${readers.length} readers, ${cards} cards, ${taps} taps.`)
  const report = runFestival(ledgerFromGenesis(genesis.value), readers, {
    taps,
    cards,
    seed: 20261124,
    startMs: Effect.runSync(Clock.currentTimeMillis),
    clockMs: () => Number(Effect.runSync(Clock.currentTimeNanos)) / 1e6,
  })
  console.log(`  outcomes: ${[...report.statuses].map(([status, n]) => `${status} ${n}`).join(", ")}`)
  console.log(`  transactions: ${report.transactions}; engine time ${report.engineMs.toFixed(0)} ms (${Math.round(report.taps / (report.engineMs / 1000))} taps/s on one core, no IO)`)
  console.log(`  supply: ${[...report.supply].map(([asset, amount]) => `${asset} ${amount}`).join(", ")}`)
  console.log(`  replay of every transaction gives the same balances: ${report.replayMatches ? "yes" : "NO"}`)
  console.log(`  Merkle root of the transactions: ${report.txRoot}`)
  console.log("Run the tests with: npm test")
  return report.replayMatches ? 0 : 1
}

const main = (argv: string[]): number => {
  const [command, ...rest] = argv
  if (command === "keygen") return keygen(rest)
  if (command === "start") return start(rest)
  console.error(usage)
  return command === undefined || command === "help" || command === "--help" ? 0 : 2
}

process.exitCode = main(process.argv.slice(2))
