/**
 * Genesis pinning (PROTOCOL.md section 9.7) with the built `gesell validator` and `gesell peer`:
 * without `--genesis-hash` they stop at start and say where to find the hash; pinned to another
 * hash than the block 0 they are given, they refuse it, never vote it, never store nor serve it; a
 * replica stored from another block 0 than the pinned one is refused at start.
 */
import { rmSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { genesisHeader, headerHash, signBlock } from "../engine/block.js"
import { decodeGenesis, genesisTransaction } from "../engine/genesis.js"
import type { TimeMs } from "../engine/names.js"
import type { JsonValue } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { genesisDocument, ledgerDocumentOf, t0 } from "./federation.js"
import { FakeEngine, readyMsDefault, startPeer, startValidator, testKey, writeKeyFile, type FollowerProcess } from "./federation-process.js"
import { freshDataDir, memberFetch, runCli, within } from "./node-process.js"

const deadlineMs = 30_000
/** A case that starts followers one after the other: each may take readyMsDefault to open its replica on a busy machine. */
const startsMs = (followers: number) => followers * readyMsDefault + deadlineMs
const alice = testKey(1)

// A federation whose one validator is alice.
const document = ledgerDocumentOf({ ...genesisDocument, validators: { keys: [alice.id], threshold: 1 } })
const decoded = decodeGenesis(document)
if (!decoded.ok) throw new Error(`test genesis rejected: ${decoded.field}: ${decoded.message}`)
const genesisTx = genesisTransaction(document as unknown as JsonValue, t0 as TimeMs)
const block0 = { header: genesisHeader(decoded.value, genesisTx, alice.id), txs: [JSON.parse(transactionJson(genesisTx)) as unknown] }
const genesisHash = headerHash(block0.header)
/** The hash some other federation's block 0 has. */
const otherHash = "e".repeat(64)
const finalBlock0 = { type: "block", block: { ...block0, signatures: [signBlock(alice.key, alice.id, genesisHash)] } }

const processes: FollowerProcess[] = []
const directories: string[] = []
afterAll(async () => {
  await Promise.all(processes.map((process) => process.kill()))
  for (const directory of directories) rmSync(directory, { recursive: true, force: true })
})

const track = <P extends FollowerProcess>(process: P): P => {
  processes.push(process)
  return process
}

const dataDir = (): string => {
  const directory = freshDataDir()
  directories.push(directory)
  return directory
}

/** A fake engine whose feed sends block 0 as a final block to every connection from height 0. */
const servingFinalBlock0 = () =>
  FakeEngine.start({ genesisHash, onConnection: (connection) => (connection.from === 0 ? connection.send(finalBlock0) : undefined) })

describe("--genesis-hash", () => {
  const where = /--genesis-hash HEX is required: the hash of the federation's block 0, which its node prints at start as 'Genesis hash \(block 0\): …'/

  it("is required: a validator or a peer started without it exits 2 at once, saying where to find the hash on one line", async () => {
    const key = writeKeyFile(alice.seed, dataDir())
    const validator = await runCli(["validator", "--engine", "http://127.0.0.1:1", "--key", key.file, "--data-dir", dataDir()])
    const peer = await runCli(["peer", "--engine", "http://127.0.0.1:1", "--data-dir", dataDir()])
    for (const [command, run] of [["validator", validator], ["peer", peer]] as const) {
      expect(run.code, run.output).toBe(2)
      expect(run.output.trimEnd().split("\n"), run.output).toHaveLength(1)
      expect(run.output).toMatch(new RegExp(`^gesell ${command}: ${where.source}`))
    }
  }, startsMs(2))

  it("is a block hash: 64 lowercase hex digits", async () => {
    const run = await runCli(["peer", "--engine", "http://127.0.0.1:1", "--data-dir", dataDir(), "--genesis-hash", genesisHash.toUpperCase()])
    expect(run.code, run.output).toBe(2)
    expect(run.output).toContain("gesell peer: --genesis-hash must be a block hash: 64 lowercase hex digits")
  }, startsMs(1))
})

describe("a validator pinned to another block 0", () => {
  it("rejects the block 0 it is proposed and sent final, votes nothing and stores nothing", async () => {
    // An engine whose challenge names the validator's hash, as one that lies about its federation
    // would, and whose block 0 is another: the login passes, block 0 must not.
    const engine = await FakeEngine.start({ genesisHash: otherHash })
    try {
      const validator = track(await startValidator({ engine: engine.url, key: alice.seed, dataDir: dataDir(), genesisHash: otherHash }))
      const feed = await within("the validator to connect", engine.connection(0), deadlineMs)
      expect((await within("the validator's auth", feed.auth, deadlineMs)).verified).toBe(true)
      const refusal = { type: "reject", height: 0, reason: `genesis: block 0 hashes to ${genesisHash}, not the pinned ${otherHash}` }
      feed.send({ type: "proposal", block: block0 })
      expect(await within("the answer to the proposal", feed.next(), deadlineMs)).toEqual(refusal)
      feed.send(finalBlock0)
      expect(await within("the answer to the final block", feed.next(), deadlineMs)).toEqual(refusal)
      // It hangs up on a final block it cannot follow, and comes back from height 0: nothing stored.
      await within("the validator to hang up", feed.closed, deadlineMs)
      expect((await within("the validator to reconnect", engine.connection(1), deadlineMs)).from).toBe(0)
      expect(validator.child.exitCode).toBeNull()
    } finally {
      await engine.close()
    }
  }, startsMs(1))

  it("refuses at start a replica stored from another block 0", async () => {
    const engine = await FakeEngine.start({ genesisHash })
    try {
      const directory = dataDir()
      const validator = track(await startValidator({ engine: engine.url, key: alice.seed, dataDir: directory, genesisHash }))
      const feed = await within("the validator to connect", engine.connection(0), deadlineMs)
      feed.send({ type: "proposal", block: block0 })
      expect(await within("the validator's vote", feed.next(), deadlineMs)).toMatchObject({ type: "vote", height: 0, hash: genesisHash })
      expect(await within("the validator to stop", validator.stop(), deadlineMs)).toBe(0)
      const refused = startValidator({ engine: engine.url, key: alice.seed, dataDir: directory, genesisHash: otherHash }).then(track)
      await expect(refused).rejects.toThrow(`exited with 1 before it was ready`)
      await expect(refused).rejects.toThrow(`starts from block 0 ${genesisHash}, not the pinned ${otherHash}`)
    } finally {
      await engine.close()
    }
  }, startsMs(2))
})

describe("a peer pinned to another block 0", () => {
  it("does not log in to an engine of another federation", async () => {
    const engine = await servingFinalBlock0()
    try {
      const pinnedElsewhere = track(await startPeer({ engine: engine.url, dataDir: dataDir(), genesisHash: otherHash }))
      await within("the login to be refused", engine.connection(1), deadlineMs)
      expect(pinnedElsewhere.stderr()).toContain(`no login: the engine's federation has block 0 ${genesisHash}, not the pinned ${otherHash}`)
    } finally {
      await engine.close()
    }
  }, startsMs(1))

  it("stops on the block 0 it is sent (genesis, exit 3) and never stores it; a replica of another block 0 is refused at start", async () => {
    // An engine that names the peer's pinned federation in its challenge, then sends another block 0.
    const lying = await FakeEngine.start({
      genesisHash,
      challenge: () => ({ type: "challenge", nonce: "ab".repeat(32), genesis: otherHash }),
      onConnection: (connection) => connection.send(finalBlock0),
    })
    const engine = await servingFinalBlock0()
    try {
      const directory = dataDir()
      const pinnedElsewhere = track(await startPeer({ engine: lying.url, dataDir: directory, genesisHash: otherHash }))
      expect(await within("the peer to stop", pinnedElsewhere.exited, deadlineMs), pinnedElsewhere.output()).toBe(3)
      expect(pinnedElsewhere.stderr()).toContain(`PEER STOPPED: genesis: block 0 hashes to ${genesisHash}, not the pinned ${otherHash}`)

      // Pinned right on the same data dir, it asks for block 0 again (none was stored) and serves it.
      const pinned = track(await startPeer({ engine: engine.url, dataDir: directory, genesisHash }))
      expect((await within("the peer to connect", engine.connection(0), deadlineMs)).from).toBe(0)
      const served = await within(
        "block 0 to be served",
        (async () => {
          for (;;) {
            const response = await memberFetch(pinned.http, "/v1/blocks/0")
            if (response.status === 200) return (await response.json()) as { header: unknown }
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
        })(),
        deadlineMs,
      )
      expect(served.header).toEqual(block0.header)
      expect(await within("the peer to stop", pinned.stop(), deadlineMs)).toBe(0)

      const refused = startPeer({ engine: engine.url, dataDir: directory, genesisHash: otherHash }).then(track)
      await expect(refused).rejects.toThrow(`exited with 1 before it was ready`)
      await expect(refused).rejects.toThrow(`starts from block 0 ${genesisHash}, not the pinned ${otherHash}`)
    } finally {
      await lying.close()
      await engine.close()
    }
  }, startsMs(3))
})
