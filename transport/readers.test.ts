/**
 * The reader gateway in process, on a real writer over PGlite and a real WebSocket: frames that `ws`
 * hands over after a reader's revocation, from the very read that carried the frame being applied
 * when the revocation came, never reach the writer.
 */
import { once } from "node:events"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { WebSocket } from "ws"
import { tokenHash } from "../actors/admin.js"
import { LedgerWriter, type Submission } from "../actors/writer.js"
import { testPreset } from "../engine/limits.js"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { card, cardUids, ledger as testLedger, t0, testLedgerStart } from "../test/federation.js"
import { ReaderDirectoryStore } from "./directory.js"
import { makeMetrics } from "./metrics.js"
import { defectSink } from "./http-server.js"
import { ReaderGateway } from "./readers.js"
import { attachUpgrades } from "./upgrades.js"

/** A writer whose first submission revokes the reader, as an operator's revocation landing between two frames would. */
const revokingWriter = (writer: LedgerWriter, revoke: () => void, submitted: string[]): LedgerWriter =>
  Object.assign(Object.create(writer) as LedgerWriter, {
    submit: (submission: Submission, nowMs: number) => {
      submitted.push(submission.command.request ?? submission.command.kind)
      if (submitted.length === 1) revoke()
      writer.submit(submission, nowMs)
    },
  })

const pipelineAfterRevocation = async (writer: LedgerWriter) => {
  const metrics = makeMetrics()
  const directory = new ReaderDirectoryStore([{ id: "bar-1", place: "raffinerie", role: "bar", tokenSha256: tokenHash("token-bar-1"), revoked: false }])
  const submitted: string[] = []
  const gateway: ReaderGateway = new ReaderGateway({
    writer: () => revokingWriter(writer, () => gateway.disconnect("bar-1"), submitted),
    directory,
    cards: { pseudonym: card },
    metrics,
    nowMs: () => t0,
    connectionsMax: 8,
  })
  const server = createServer()
  attachUpgrades(server, [gateway], defectSink(metrics))
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const { port } = server.address() as AddressInfo
  const client = new WebSocket(`ws://127.0.0.1:${port}/v1/readers`, { headers: { authorization: "Bearer token-bar-1" } })
  await once(client, "message")
  // Ten sales in one write, so that the gateway reads them in one go: the revocation lands while the
  // first is applied, and `ws` hands over the other nine after it.
  const socket = (client as unknown as { _socket: { cork(): void; uncork(): void } })._socket
  socket.cork()
  for (let i = 0; i < 10; i++) client.send(JSON.stringify({ type: "sale", id: `s${i}`, card: cardUids[0], amount: 1 }))
  socket.uncork()
  const [code] = (await once(client, "close")) as [number]
  await gateway.close()
  server.close()
  return { submitted, code, metrics: await metrics.registry.getMetricsAsJSON() }
}

describe("ReaderGateway", () => {
  it.scopedLive("applies no frame of a reader after its revocation, even one read before it", () =>
    Effect.gen(function* () {
      const ledger = yield* Ledger
      const made = testLedgerStart()
      yield* ledger.initialize(made.document, made.genesisTx, made.start)
      const writer = new LedgerWriter(testLedger(), 2, ledger, testPreset, 5_000)
      yield* Effect.forkScoped(writer.commitLoop)
      const { submitted, code } = yield* Effect.promise(() => pipelineAfterRevocation(writer))
      expect(submitted).toEqual(["s0"])
      // Cut, not closed: the hub sees the connection end without a close frame.
      expect(code).toBe(1006)
    }).pipe(Effect.provide(pgliteLedger(mkdtempSync(join(tmpdir(), "gesell-gateway-"))))),
  )
})
