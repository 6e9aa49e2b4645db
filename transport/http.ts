/**
 * The node's HTTP API (PROTOCOL.md section 7): health, supply, metrics, the OpenAPI document, and the
 * operator endpoints under /v1/admin behind the admin bearer token. Handlers are Effects run per
 * request; bodies are bounded and decoded at this edge.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { timingSafeEqual } from "node:crypto"
import { Effect, Either, Redacted, type Option } from "effect"
import { createReader, importCards, parseCards, putAsset, putPlace, revokeReader, AdminRejected } from "../actors/admin.js"
import type { LedgerWriter } from "../actors/writer.js"
import { decodeCommand } from "../engine/command.js"
import { walletKind } from "../engine/names.js"
import type { LedgerState } from "../engine/state.js"
import type { LedgerStore } from "../storage/ledger.js"
import type { BlockProducer } from "../actors/producer.js"
import { blocksPage, oneBlock } from "./blocks-http.js"
import type { Metrics } from "./metrics.js"
import { openApiDocument } from "./openapi.js"
import type { ReaderDirectoryStore } from "./directory.js"
import type { ReaderGateway } from "./readers.js"

export interface HttpDeps {
  readonly writer: () => LedgerWriter
  readonly store: LedgerStore
  readonly metrics: Metrics
  readonly directory: ReaderDirectoryStore
  readonly gateway: () => ReaderGateway
  readonly producer: BlockProducer
  readonly adminToken: Option.Option<Redacted.Redacted>
  readonly nowMs: () => number
}

const bodyBytesMax = 8 * 1024 * 1024

interface Reply {
  readonly status: number
  readonly body: string
  readonly type?: string
}
const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) })
const problem = (status: number, code: string, message: string, field?: string): Reply =>
  json(status, { ok: false, error: { code, message, ...(field === undefined ? {} : { field }) } })

const readBody = (request: IncomingMessage): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > bodyBytesMax) {
        resolve(undefined)
        request.destroy()
      } else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const isAdmin = (deps: HttpDeps, request: IncomingMessage): boolean => {
  const header = request.headers.authorization ?? ""
  const match = /^Bearer (\S+)$/.exec(header)
  if (match?.[1] === undefined || deps.adminToken._tag === "None") return false
  const given = Buffer.from(match[1])
  const expected = Buffer.from(Redacted.value(deps.adminToken.value))
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * Per asset, the amount in circulation (minus the issuing wallet's balance); for fed, the euros
 * received, refunded and paid out. `transactions` is the seq of the last transaction counted, so
 * that a node and a peer that hold the same ledger answer the same document.
 */
export const supplyOf = (state: LedgerState, transactions: number) => {
  // By id: a node rebuilt from storage and a replica made from the genesis list them in another order.
  const sorted = [...state.assets.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  const assets = sorted.map((asset) => {
    const circulation = -(state.wallets.get(`issuance:${asset.id}` as never)?.balances.get(asset.id) ?? 0)
    return asset.kind === "fed"
      ? { asset: asset.id, kind: asset.kind, circulation, euros: { ...state.backing } }
      : { asset: asset.id, kind: asset.kind, circulation }
  })
  return { transactions, assets }
}

const adminError = (error: unknown): Reply => {
  if (error instanceof AdminRejected) return problem(400, "bad_request", error.message, error.field)
  return problem(503, "unavailable", "the ledger cannot be written right now")
}

/** Runs an operator command through the writer and answers once it is committed. */
const operatorCommand = (deps: HttpDeps, raw: unknown): Promise<Reply> =>
  new Promise((resolve) => {
    const decoded = decodeCommand(raw)
    if (!decoded.ok) return resolve(problem(400, decoded.status, decoded.message, decoded.field))
    if ("reader" in decoded.value && decoded.value.reader !== undefined) {
      return resolve(problem(400, "bad_request", "operator commands are not made in a reader's name", "reader"))
    }
    deps.writer().submit(
      {
        command: decoded.value,
        render: (executed) =>
          JSON.stringify(executed.ok ? { ok: true, status: "ok", tx: executed.tx } : { ok: false, status: executed.status, message: executed.message, field: executed.field }),
        reply: (body) => resolve({ status: 200, body }),
        refuse: (why) => resolve(problem(503, why, `the ledger is ${why}; retry later`)),
      },
      deps.nowMs(),
    )
  })

type Route = (deps: HttpDeps, request: IncomingMessage, path: string[], query: URLSearchParams) => Promise<Reply> | Reply

const admin = (handler: Route): Route => (deps, request, path, query) =>
  isAdmin(deps, request) ? handler(deps, request, path, query) : problem(401, "unauthorized", "admin endpoints take Authorization: Bearer <admin token>")

const withBody = async (request: IncomingMessage, use: (body: string) => Promise<Reply>): Promise<Reply> => {
  const body = await readBody(request)
  return body === undefined ? problem(413, "bad_request", `bodies are at most ${bodyBytesMax} bytes`) : use(body)
}

const withJson = (request: IncomingMessage, use: (value: unknown) => Promise<Reply>): Promise<Reply> =>
  withBody(request, (body) => {
    let value: unknown
    try {
      value = JSON.parse(body)
    } catch {
      return Promise.resolve(problem(400, "bad_request", "the body is not JSON"))
    }
    return use(value)
  })

const run = <A>(effect: Effect.Effect<A, unknown>, ok: (value: A) => Reply): Promise<Reply> =>
  Effect.runPromise(Effect.either(effect)).then((result) => (Either.isRight(result) ? ok(result.right) : adminError(result.left)))

const routes: Record<string, Route> = {
  "GET /v1/health": (deps) => {
    const writer = deps.writer()
    const ready = writer.mode === "ready"
    return json(ready ? 200 : 503, { ok: ready, height: deps.producer.finalizedHeight, transactions: writer.height })
  },
  "GET /v1/supply": (deps) => json(200, supplyOf(deps.writer().state, deps.writer().height)),
  "GET /v1/blocks": (deps, _request, _path, query) => blocksPage(deps.store, query),
  "GET /v1/blocks/*": (deps, _request, path) => oneBlock(deps.store, path[2] ?? ""),
  "GET /v1/openapi.json": () => json(200, openApiDocument),
  "GET /metrics": async (deps) => {
    deps.metrics.queueDepth.set(deps.writer().queued)
    deps.metrics.height.set(deps.writer().height)
    deps.metrics.blockHeight.set(deps.producer.finalizedHeight)
    deps.metrics.sealedHeight.set(deps.producer.sealedHeight)
    return { status: 200, body: await deps.metrics.registry.metrics(), type: deps.metrics.registry.contentType }
  },
  "POST /v1/admin/places": admin((deps, request) =>
    withJson(request, (value) => run(putPlace(() => deps.writer().state, deps.store, value), (place) => json(200, place))),
  ),
  "POST /v1/admin/assets": admin((deps, request) =>
    withJson(request, (value) => run(putAsset(() => deps.writer().state, deps.store, value), (asset) => json(200, asset))),
  ),
  "POST /v1/admin/readers": admin((deps, request) =>
    withJson(request, (value) =>
      run(createReader(() => deps.writer().state, deps.store, value), ({ reader, token }) => {
        deps.directory.add(reader)
        return json(200, { id: reader.id, place: reader.place, role: reader.role, token })
      }),
    ),
  ),
  "DELETE /v1/admin/readers/*": admin((deps, _request, path) =>
    run(revokeReader(() => deps.writer().state, deps.store, path[3] ?? ""), (reader) => {
      deps.directory.revoke(reader.id)
      deps.gateway().disconnect(reader.id)
      return json(200, { id: reader.id, revoked: true })
    }),
  ),
  "POST /v1/admin/cards": admin((deps, request) =>
    withBody(request, (body) => {
      const cards = parseCards(request.headers["content-type"] ?? "application/json", body)
      if (cards instanceof AdminRejected) return Promise.resolve(adminError(cards))
      return run(importCards(() => deps.writer().state, deps.store, cards), (counts) => json(200, counts))
    }),
  ),
  "POST /v1/admin/commands": admin((deps, request) => withJson(request, (value) => operatorCommand(deps, value))),
  "GET /v1/admin/wallets/*": admin((deps, _request, path) => {
    const id = decodeURIComponent(path[3] ?? "")
    const wallet = deps.writer().state.wallets.get(id as never)
    if (wallet === undefined) return problem(404, "not_found", `no wallet ${id}`)
    return json(200, {
      id,
      kind: walletKind(wallet.id),
      balances: Object.fromEntries(wallet.balances),
      memberships: Object.fromEntries(wallet.memberships),
      lastActivityMs: wallet.lastActivityMs,
    })
  }),
}

const routeOf = (method: string, path: string[]): Route | undefined => {
  const exact = routes[`${method} /${path.join("/")}`]
  if (exact !== undefined) return exact
  return routes[`${method} /${path.slice(0, -1).join("/")}/*`]
}

export const handleHttp = (deps: HttpDeps) => (request: IncomingMessage, response: ServerResponse): void => {
  const url = new URL(request.url ?? "/", "http://localhost")
  const path = url.pathname.split("/").filter((part) => part !== "")
  const route = routeOf(request.method ?? "GET", path)
  const answer = route === undefined ? problem(404, "not_found", `no route ${request.method} ${url.pathname}`) : route(deps, request, path, url.searchParams)
  Promise.resolve(answer)
    .catch((error: unknown) => problem(500, "internal", String(error)))
    .then((reply) => {
      response.writeHead(reply.status, { "content-type": reply.type ?? "application/json" })
      response.end(reply.body)
    })
}
