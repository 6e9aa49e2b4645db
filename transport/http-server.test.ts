/**
 * The HTTP edge's guarantees, on a real Node HTTP server: a defect in a handler is answered 500 in
 * the protocol's error form, reported once, and the server goes on; an upgrade handler that throws
 * costs only its socket; block reads beyond their bound are answered 503 `overloaded` at once.
 */
import { createServer, type Server } from "node:http"
import { connect } from "node:net"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Deferred, Effect, Exit, Layer, Schema, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { LedgerStore, StoredBlockWithTxs } from "../storage/ledger.js"
import { NodeApi } from "./api.js"
import { serveApi, type DefectSink } from "./http-server.js"
import { publicGroup, publicReadsMax } from "./public-http.js"
import { attachUpgrades, rejectUpgrade } from "./upgrades.js"

const TestApi = HttpApi.make("test").add(
  HttpApiGroup.make("test")
    .add(HttpApiEndpoint.get("fine", "/fine").addSuccess(Schema.String))
    .add(HttpApiEndpoint.get("broken", "/broken").addSuccess(Schema.String)),
)
const testGroup = HttpApiBuilder.group(TestApi, "test", (handlers) =>
  handlers.handle("fine", () => Effect.succeed("fine")).handle("broken", () => Effect.die(new Error("a bug\nwith a second line"))),
)

const recordingSink = () => {
  const defects: Array<{ where: string; description: string }> = []
  const sink: DefectSink = { defect: (where, description) => void defects.push({ where, description }) }
  return { sink, defects }
}

let closing: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closing) await close()
  closing = []
})

/** Serves `api` on a new server listening on a free port; closed after the test. */
const serve = async (apiLayer: Layer.Layer<HttpApi.Api, never, HttpApiBuilder.Router>, sink: DefectSink): Promise<{ server: Server; base: string }> => {
  const server = createServer()
  const scope = Effect.runSync(Scope.make())
  await Effect.runPromise(serveApi(server, apiLayer, sink).pipe(Scope.extend(scope)))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  closing.push(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address()
  return { server, base: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}` }
}

describe("the HTTP edge", () => {
  it("answers a defect 500 in the protocol's form, reports it once, and goes on", async () => {
    const { sink, defects } = recordingSink()
    const { base } = await serve(HttpApiBuilder.api(TestApi).pipe(Layer.provide(testGroup)), sink)
    const broken = await fetch(`${base}/broken`)
    expect(broken.status).toBe(500)
    expect(await broken.json()).toEqual({ ok: false, error: { code: "internal", message: "the node could not answer this request; it was logged" } })
    expect(defects).toHaveLength(1)
    expect(defects[0]).toMatchObject({ where: "request" })
    expect(defects[0]?.description).toContain("a bug")
    expect(await (await fetch(`${base}/fine`)).json()).toBe("fine")
    expect(defects).toHaveLength(1)
  })

  it("closes only the socket of an upgrade whose handler throws, reports it, and goes on", async () => {
    const { sink, defects } = recordingSink()
    const { server, base } = await serve(HttpApiBuilder.api(TestApi).pipe(Layer.provide(testGroup)), sink)
    attachUpgrades(server, [{ upgrade: () => { throw new TypeError("Invalid URL") } }], sink)
    const port = Number(new URL(base).port)
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => socket.write("GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
      socket.on("close", () => resolve(true))
      socket.on("error", () => undefined)
    })
    expect(closed).toBe(true)
    expect(defects).toEqual([{ where: "upgrade", description: "TypeError: Invalid URL" }])
    expect(await (await fetch(`${base}/fine`)).json()).toBe("fine")
  })

  it("survives answering an upgrade whose client is already gone (EPIPE on the answer)", async () => {
    const { sink, defects } = recordingSink()
    const { server, base } = await serve(HttpApiBuilder.api(TestApi).pipe(Layer.provide(testGroup)), sink)
    const answered: Array<Promise<void>> = []
    // The answer is written once the client has reset the connection, as a slow handler's would be.
    attachUpgrades(server, [{
      upgrade: (_request, socket) => {
        answered.push(new Promise((resolve) => socket.once("close", () => (rejectUpgrade(socket, 401, "Unauthorized"), resolve()))))
        return true
      },
    }], sink)
    const port = Number(new URL(base).port)
    for (let i = 0; i < 20; i++) {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write("GET /v1/readers HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        setTimeout(() => socket.resetAndDestroy(), 20)
      })
      socket.on("error", () => undefined)
    }
    while (answered.length < 20) await new Promise((resolve) => setTimeout(resolve, 5))
    await Promise.all(answered)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(defects).toEqual([])
    expect(await (await fetch(`${base}/fine`)).json()).toBe("fine")
  })

  it(`serves at most ${publicReadsMax} block reads at once, abandoned ones included, and answers one more 503 overloaded at once`, async () => {
    const release = Effect.runSync(Deferred.make<void>())
    let reads = 0
    // Reads that hold until released, as reads of a slow disk would.
    const store = {
      blocks: () =>
        Effect.suspend(() => {
          reads++
          return Deferred.await(release).pipe(Effect.as([] as readonly StoredBlockWithTxs[]))
        }),
    } as unknown as LedgerStore
    const source = {
      readiness: () => ({ ready: true, height: 0, transactions: 0 }),
      supply: () => ({}),
      store,
      openApi: {},
      isMember: () => false,
      genesisHash: () => undefined,
      nowMs: () => 0,
    }
    const { sink } = recordingSink()
    const { base } = await serve(HttpApiBuilder.api(NodeApi).pipe(Layer.provide(publicGroup(source))) as never, sink)
    // Callers that hang up do not free their reads' places: the reads go on until storage answers.
    const abandoned = new AbortController()
    const held = Array.from({ length: publicReadsMax }, () => fetch(`${base}/v1/headers`, { signal: abandoned.signal }).catch(() => undefined))
    while (reads < publicReadsMax) await new Promise((resolve) => setTimeout(resolve, 5))
    abandoned.abort()
    await Promise.all(held)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const refused = await fetch(`${base}/v1/headers`)
    expect(refused.status).toBe(503)
    expect(await refused.json()).toMatchObject({ ok: false, error: { code: "overloaded" } })
    expect(reads).toBe(publicReadsMax)
    Effect.runSync(Deferred.succeed(release, undefined))
    while ((await fetch(`${base}/v1/headers`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(reads).toBeGreaterThan(publicReadsMax)
  })
})
