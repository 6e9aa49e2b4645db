/**
 * The memory the node's resident state costs, measured in-process with the engine (not in a
 * running node): a ledger state built from the bench genesis, then
 * - N cards registered as a card import registers them, and N topups executed by the engine (each
 *   card's wallet created by the engine, holding one balance; no request id, so no idempotency
 *   record): bytes per wallet;
 * - then R sales with request ids, each record given its reply frame and dropped transaction as the
 *   node's writer does once committed: bytes per remembered request (the node keeps up to
 *   GESELL_REQUEST_CACHE_MAX of them, 500,000 by default).
 * Each figure is the growth of the V8 heap between full garbage collections.
 *
 * Run as a child of the bench: `node --expose-gc dist/bench/state-memory.js N`; it sends its
 * figures over IPC (or prints them as JSON when run by hand).
 */
import { performance } from "node:perf_hooks"
import { decodeCommand } from "../engine/command.js"
import { execute } from "../engine/execute.js"
import { decodeGenesisInput, ledgerFromGenesis } from "../engine/genesis.js"
import { requestKey } from "../engine/command.js"
import { defaults } from "../engine/limits.js"
import { type CardId, type TimeMs, type TxId } from "../engine/names.js"
import { newCard, type LedgerState } from "../engine/state.js"
import { resultFrame } from "../transport/wire.js"
import { barReader, benchAsset, benchGenesis, cardId, cardIds, deskReader, hotPlace } from "./federation.js"

export interface StateMemory {
  readonly method: string
  readonly wallets: number
  readonly bytesPerWallet: number
  readonly walletHeapBytes: number
  /** Engine time per topup while building the wallets (no IO, no JSON). */
  readonly microsecondsPerTopup: number
  readonly requests: number
  readonly bytesPerRequest: number
  readonly requestHeapBytes: number
}

const timeMs = 1_732_400_000_000

const collect = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc")
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Returns the engine's microseconds per topup. */
const addWallets = (state: LedgerState, count: number): number => {
  // The pseudonyms as a node holds them: parsed from a document (rows read back). Strings built here
  // by concatenation would be kept as two pieces, and count twice their size.
  const ids = JSON.parse(JSON.stringify(cardIds(count))) as CardId[]
  for (const id of ids) state.cards.set(id, newCard(id, undefined))
  const started = performance.now()
  for (let index = 0; index < count; index++) {
    const command = decodeCommand({ kind: "topup", place: hotPlace, reader: deskReader, card: cardId(index), amount: 1000 + (index % 1000), asset: benchAsset })
    if (!command.ok) throw new Error(`topup does not decode: ${command.message}`)
    const executed = execute(state, command.value, { now: (timeMs + index) as TimeMs, txId: String(index + 1) as TxId })
    if (!executed.ok) throw new Error(`topup ${index} failed: ${executed.status}`)
  }
  return ((performance.now() - started) * 1000) / count
}

/** Sales with request ids, their records left as the writer leaves them once committed. */
const addRequests = (state: LedgerState, count: number, cards: number): void => {
  const reader = barReader("spread", 0)
  for (let index = 0; index < count; index++) {
    const request = `p1c0-${index}`
    const command = decodeCommand({ kind: "sale", place: hotPlace, reader, card: cardId(index % cards), amount: 1, request })
    if (!command.ok) throw new Error(`sale does not decode: ${command.message}`)
    const executed = execute(state, command.value, { now: (timeMs + index) as TimeMs, txId: String(cards + index + 1) as TxId })
    if (!executed.ok) throw new Error(`sale ${index} failed: ${executed.status}`)
    const record = state.requests.get(requestKey(command.value) ?? "")
    if (record === undefined) throw new Error(`sale ${index} left no request record`)
    record.reply = resultFrame(request, command.value, executed, state)
    record.tx = null
  }
}

export const measureStateMemory = (wallets: number): StateMemory => {
  const genesis = decodeGenesisInput(benchGenesis(1, 0))
  if (!genesis.ok) throw new Error(`the bench genesis is invalid at ${genesis.field}: ${genesis.message}`)
  const state = ledgerFromGenesis(genesis.value.genesis)
  const empty = collect()
  const microsecondsPerTopup = addWallets(state, wallets)
  const withWallets = collect()
  const requests = Math.min(wallets, defaults.requestCacheMax)
  addRequests(state, requests, wallets)
  const withRequests = collect()
  if (state.wallets.size < wallets || state.requests.size < requests) throw new Error("the state lost wallets or requests")
  return {
    method: "in-process: the engine's state with N cards and N topped-up wallets, then R committed sale requests; V8 heapUsed growth between full GCs",
    wallets,
    bytesPerWallet: (withWallets - empty) / wallets,
    walletHeapBytes: withWallets - empty,
    microsecondsPerTopup,
    requests,
    bytesPerRequest: (withRequests - withWallets) / requests,
    requestHeapBytes: withRequests - withWallets,
  }
}

const count = Number(process.argv[2] ?? "1000000")
if (!Number.isSafeInteger(count) || count < 1) throw new Error(`the number of wallets must be a positive integer, got ${process.argv[2]}`)
const figures = measureStateMemory(count)
if (process.send !== undefined) process.send(figures, () => process.exit(0))
else console.log(JSON.stringify(figures))
