/**
 * The node's HTTP API (PROTOCOL.md section 7), implementing `NodeApi` (api.ts): the public group
 * (public-http.ts), metrics, and the operator endpoints under /v1/admin behind the admin bearer
 * token. Every state-changing admin call carries a request id: a retry (after a 503, a timeout, a
 * lost answer) answers the first answer and applies nothing twice.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { Server } from "node:http"
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse, OpenApi } from "@effect/platform"
import { Duration, Effect, Layer, Redacted, type Scope } from "effect"
import {
  AdminRejected,
  AdminRequests,
  cardRowsOfCsv,
  createReader,
  decodeCards,
  importCards,
  putAsset,
  putPlace,
  refusedForApprovals,
  revokeReader,
  submitCommand,
  withNodeApprovals,
  type AdminDeps,
  type AdminOutcome,
  type CommandAnswer,
  type NodeApprovers,
} from "../actors/admin.js"
import { withPseudonyms, type CardNames } from "../actors/card-key.js"
import type { BlockProducer } from "../actors/producer.js"
import type { LedgerWriter } from "../actors/writer.js"
import { approvalText, authorityOf, decodeApprovals } from "../engine/authority.js"
import { decodeCommand } from "../engine/command.js"
import { adminTokenCharsMin } from "../engine/limits.js"
import { isCardId, isRecord, walletKind, type ValidatorId } from "../engine/names.js"
import type { LedgerState } from "../engine/state.js"
import type { LedgerStore } from "../storage/ledger.js"
import { AdminAuth, BadRequest, Conflict, Forbidden, NodeApi, NotFound, problem, Unauthorized, Unavailable } from "./api.js"
import type { ReaderDirectoryStore } from "./directory.js"
import { serveApi, type DefectSink } from "./http-server.js"
import type { Metrics } from "./metrics.js"
import { jsonText, publicGroup, type Readiness } from "./public-http.js"
import { moneyGroup, type MoneyConfig } from "./money-http.js"
import type { Committed, RefundDesk } from "./refunds.js"
import type { FinalSupply } from "./final-supply.js"
import type { ReaderGateway } from "./readers.js"

export interface HttpDeps {
  readonly writer: () => LedgerWriter
  readonly store: LedgerStore
  readonly metrics: Metrics
  readonly directory: ReaderDirectoryStore
  readonly gateway: () => ReaderGateway
  readonly producer: BlockProducer
  readonly adminToken: Redacted.Redacted
  readonly cardsPerImportMax: number
  readonly nowMs: () => number
  /** The keys the node approves operator commands with (PROTOCOL.md section 9.3). */
  readonly approvers: NodeApprovers
  /** Cards by uid, printed number or pseudonym (PROTOCOL.md section 9.4). */
  readonly cards: CardNames
  /** Refills online through Stripe (PROTOCOL.md section 9.5); undefined when not configured. */
  readonly money?: MoneyConfig | undefined
  /** The supply as of the last final transaction; without it, as of the last committed one. */
  readonly finalSupply?: FinalSupply | undefined
  /** Online refunds through Stripe; undefined without Stripe. */
  readonly refunds?: RefundDesk | undefined
  /** The federation's name, as holders read it. */
  readonly federationName?: string | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * A command the node makes itself (a refill Stripe was paid for, the steps of an online refund),
 * through the writer like any command, without approvals: resolves once it is committed (with its
 * transaction's id) or refused; rejects when the ledger cannot commit now.
 */
export const commandSubmitter = (writer: () => LedgerWriter, nowMs: () => number) => (raw: Record<string, unknown>): Promise<Committed> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const decoded = decodeCommand(raw)
      if (!decoded.ok) return { ok: false as const, status: decoded.status, message: decoded.message }
      const body = yield* submitCommand(writer(), decoded.value, nowMs()).pipe(
        Effect.catchTag("AdminUnavailable", ({ why }) => Effect.die(new Error(`the ledger cannot commit now (${why})`))),
      )
      const answer = JSON.parse(body) as CommandAnswer
      return answer.ok ? { ok: true as const, tx: String((answer.tx as { id?: unknown } | null)?.id) } : { ok: false as const, status: answer.status, message: answer.message }
    }).pipe(Effect.timeoutFail({ duration: Duration.millis(operatorCommandTimeoutMs), onTimeout: () => new Error(mayHaveCommitted) })),
  )

/** An asset's amount in circulation in `state`: what its issuing wallet has put out. */
export const circulationIn = (state: LedgerState, asset: string): number => -(state.wallets.get(`issuance:${asset}` as never)?.balances.get(asset as never) ?? 0)

/**
 * Per asset, the amount in circulation; for fed, the euros received, refunded and paid out.
 * `transactions` is the seq of the last transaction counted, so that a node and a peer that hold
 * the same ledger answer the same document. Circulation and backing are the state's, unless given
 * (the node's as of its last final transaction, transport/final-supply.ts).
 */
export const supplyOf = (
  state: LedgerState,
  transactions: number,
  circulation: (asset: string) => number = (asset) => circulationIn(state, asset),
  backing: LedgerState["backing"] = state.backing,
) => {
  // By id: a node rebuilt from storage and a replica made from the genesis list them in another order.
  const sorted = [...state.assets.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  const assets = sorted.map((asset) =>
    asset.kind === "fed"
      ? { asset: asset.id, kind: asset.kind, circulation: circulation(asset.id), euros: { ...backing } }
      : { asset: asset.id, kind: asset.kind, circulation: circulation(asset.id) },
  )
  return { transactions, assets }
}

/**
 * The bearer token against the admin token: `Authorization: Bearer <token>` exactly, a token of the
 * admin token's minimum length, compared as SHA-256 digests in constant time (which tells nothing of
 * the token's length either).
 */
const isAdminToken = (expected: Redacted.Redacted, header: string | undefined): boolean => {
  const given = header === undefined ? undefined : /^Bearer (\S+)$/.exec(header)?.[1]
  if (given === undefined || given.length < adminTokenCharsMin) return false
  const digest = (text: string) => createHash("sha256").update(text).digest()
  return timingSafeEqual(digest(given), digest(Redacted.value(expected)))
}

const adminAuth = (token: Redacted.Redacted) =>
  Layer.succeed(AdminAuth, {
    admin: () =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        isAdminToken(token, request.headers["authorization"])
          ? Effect.void
          : Effect.fail(problem(Unauthorized, "unauthorized", "admin endpoints take Authorization: Bearer <admin token>")),
      ),
  })

const mayHaveCommitted = "storage did not confirm in time: the change may have been made; retry with the same request id"

/** An admin outcome as the API's typed errors. */
const answered = <A>(outcome: AdminOutcome<A>) => {
  switch (outcome._tag) {
    case "done":
      return Effect.succeed(outcome.value)
    case "rejected":
      return Effect.fail(problem(BadRequest, "bad_request", outcome.error.message, outcome.error.field))
    case "conflict":
      return Effect.fail(problem(Conflict, "conflict", outcome.message, outcome.field))
    case "not_found":
      return Effect.fail(problem(NotFound, "not_found", outcome.message))
    case "forbidden":
      return Effect.fail(problem(Forbidden, outcome.code === "forbidden" ? "forbidden" : "approvals_missing", outcome.message, "approvals"))
    case "unavailable":
      return Effect.fail(problem(Unavailable, "unavailable", mayHaveCommitted))
  }
}

/** An operator command's answer is awaited this long; beyond, 503 and retry with the same request id. */
export const operatorCommandTimeoutMs = 30_000

/**
 * An operator command and the approvals given with it (PROTOCOL.md section 9.3), decoded; a reader's
 * command is not an operator's.
 */
const operatorCommandOf = (deps: HttpDeps, raw: unknown) =>
  Effect.gen(function* () {
    const { approvals: rawApprovals, ...fields } = isRecord(raw) ? raw : {}
    const named = withPseudonyms(fields, deps.cards)
    if (!named.ok) return yield* Effect.fail(problem(BadRequest, named.status, named.message, named.field))
    const decoded = decodeCommand(isRecord(raw) ? named.value : raw)
    if (!decoded.ok) return yield* Effect.fail(problem(BadRequest, decoded.status, decoded.message, decoded.field))
    if ("reader" in decoded.value && decoded.value.reader !== undefined) {
      return yield* Effect.fail(problem(BadRequest, "bad_request", "operator commands are not made in a reader's name", "reader"))
    }
    if (rawApprovals === undefined) return { command: decoded.value, approvals: undefined }
    const approvals = decodeApprovals(rawApprovals)
    if (!approvals.ok) return yield* Effect.fail(problem(BadRequest, "bad_request", approvals.message, approvals.field))
    return { command: decoded.value, approvals: approvals.value }
  })

/** Runs an operator command through the writer, with the node's approvals added, and answers once it is committed. */
const operatorCommand = (deps: HttpDeps, raw: unknown) =>
  Effect.gen(function* () {
    const { command, approvals } = yield* operatorCommandOf(deps, raw)
    const all = withNodeApprovals(deps.writer().state, command, approvals, deps.approvers)
    const body = yield* submitCommand(deps.writer(), command, deps.nowMs(), undefined, all).pipe(
      Effect.catchTag("AdminUnavailable", ({ why }) =>
        Effect.fail(problem(Unavailable, why, why === "overloaded" ? "the ledger is overloaded; retry with the same request id" : mayHaveCommitted)),
      ),
    )
    const answer = JSON.parse(body) as CommandAnswer
    if (!answer.ok && answer.status === "conflict") return yield* Effect.fail(problem(Conflict, "conflict", answer.message, "request"))
    if (!answer.ok && refusedForApprovals(answer)) {
      return yield* Effect.fail(problem(Forbidden, answer.status === "forbidden" ? "forbidden" : "approvals_missing", answer.message, answer.field))
    }
    return body
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(operatorCommandTimeoutMs),
      onTimeout: () => problem(Unavailable, "unavailable", mayHaveCommitted),
    }),
  )

/** What stewards sign to approve a command, and who must: the command as the engine decodes it. */
const prepareCommand = (deps: HttpDeps, raw: unknown) =>
  Effect.gen(function* () {
    const { command } = yield* operatorCommandOf(deps, raw)
    const state = deps.writer().state
    const authority = authorityOf(state, command)
    if (authority.by !== "none" && command.request === undefined) {
      return yield* Effect.fail(problem(BadRequest, "bad_request", "a command that needs approvals carries a request id", "request"))
    }
    const nodeApproves = (withNodeApprovals(state, command, undefined, deps.approvers) ?? []).map((approval) => approval.key as string)
    const who = authority.by === "none" ? { by: authority.by, count: 0, keys: [] } : authority
    return { command, message: approvalText(state.genesisHash, command), authority: who, nodeApproves }
  })

const adminGroup = (deps: HttpDeps) =>
  HttpApiBuilder.group(NodeApi, "admin", (handlers) =>
    Effect.gen(function* () {
      const requests = yield* AdminRequests.make(deps.nowMs)
      const state = () => deps.writer().state
      const admin: AdminDeps = { writer: deps.writer, nowMs: deps.nowMs, approvers: deps.approvers, cards: deps.cards }
      return handlers
        .handle("putPlace", ({ payload: { request, ...place } }) =>
          requests.once("putPlace", request, place, putPlace(admin, request, place)).pipe(Effect.flatMap(answered)),
        )
        .handle("putAsset", ({ payload: { request, ...asset } }) =>
          requests.once("putAsset", request, asset, putAsset(admin, request, asset)).pipe(Effect.flatMap(answered)),
        )
        .handle("createReader", ({ payload: { request, ...reader } }) =>
          requests
            .once(
              "createReader",
              request,
              reader,
              createReader(admin, request, reader).pipe(
                Effect.tap((created) => Effect.sync(() => created.token !== undefined && deps.directory.add(created.reader))),
                Effect.map(({ reader, token }) => ({ id: reader.id, place: reader.place, role: reader.role, token })),
              ),
              // The token is shown once: the answer remembered for a retry goes without it.
              ({ token: _token, ...rest }) => rest,
            )
            .pipe(Effect.flatMap(answered)),
        )
        .handle("revokeReader", ({ path, urlParams }) =>
          requests
            .once(
              "revokeReader",
              urlParams.request,
              path,
              revokeReader(admin, urlParams.request, path.id).pipe(
                Effect.tap((reader) =>
                  Effect.sync(() => {
                    deps.directory.revoke(reader.id)
                    deps.gateway().disconnect(reader.id)
                  }),
                ),
              ),
            )
            .pipe(Effect.flatMap(answered)),
        )
        .handle("importCards", ({ payload, urlParams }) => {
          const csv = typeof payload === "string"
          const requestId = csv ? urlParams.request : payload.request
          if (requestId === undefined) return Effect.fail(problem(BadRequest, "bad_request", "a card import needs a request id (the `request` URL parameter for CSV)", "request"))
          const rows = csv ? cardRowsOfCsv(payload, deps.cardsPerImportMax) : payload.cards
          const cards = rows instanceof AdminRejected ? rows : decodeCards(rows, deps.cardsPerImportMax, deps.cards)
          if (cards instanceof AdminRejected) return Effect.fail(problem(BadRequest, "bad_request", cards.message, cards.field))
          return requests.once("importCards", requestId, cards, importCards(admin, cards)).pipe(Effect.flatMap(answered))
        })
        .handle("command", ({ payload }) => operatorCommand(deps, payload).pipe(Effect.map(jsonText)))
        .handle("prepare", ({ payload }) => prepareCommand(deps, payload))
        .handle("findCard", ({ payload }) => {
          const id = deps.cards.resolve(payload.card, "card")
          if (!id.ok) return Effect.fail(problem(BadRequest, "bad_request", id.message, id.field))
          const card = state().cards.get(id.value)
          if (card === undefined) return Effect.fail(problem(NotFound, "not_found", "no such card"))
          const wallet = state().wallets.get(card.wallet)
          return Effect.succeed({
            card: card.pseudonym,
            wallet: card.wallet,
            status: card.status,
            ...(card.number === undefined ? {} : { number: card.number }),
            ...(card.staff === undefined ? {} : { staff: card.staff }),
            balances: Object.fromEntries(wallet?.balances ?? []),
            memberships: Object.fromEntries(wallet?.memberships ?? []),
          })
        })
        .handle("refundCard", ({ payload }) => {
          const desk = deps.refunds
          if (desk === undefined) return Effect.fail(problem(Unavailable, "unavailable", "online refunds need Stripe, which this node is not configured for (STRIPE_SECRET_KEY)"))
          const id = deps.cards.resolve(payload.card, "card")
          if (!id.ok) return Effect.fail(problem(BadRequest, "bad_request", id.message, id.field))
          if (!state().cards.has(id.value)) return Effect.fail(problem(NotFound, "not_found", "no such card"))
          const card = id.value
          return Effect.tryPromise({ try: () => desk.refundCard(card, payload.payment), catch: () => problem(Unavailable, "unavailable", mayHaveCommitted) })
        })
        .handle("wallet", ({ path }) => {
          if (path.id.startsWith("card:") && !isCardId(path.id.slice("card:".length))) {
            return Effect.fail(problem(BadRequest, "bad_request", "a card's wallet is card:<pseudonym>: find a card by uid or number with POST /v1/admin/cards/find (a uid never goes in a URL)", "id"))
          }
          const wallet = state().wallets.get(path.id as never)
          if (wallet === undefined) return Effect.fail(problem(NotFound, "not_found", "no such wallet"))
          return Effect.succeed({
            id: path.id,
            kind: walletKind(wallet.id),
            balances: Object.fromEntries(wallet.balances),
            memberships: Object.fromEntries(wallet.memberships),
            lastActivityMs: wallet.lastActivityMs,
          })
        })
    }),
  )

const metricsGroup = (deps: HttpDeps) =>
  HttpApiBuilder.group(NodeApi, "metrics", (handlers) =>
    handlers.handle("metrics", () =>
      Effect.promise(() => {
        const writer = deps.writer()
        deps.metrics.queueDepth.set(writer.queued)
        deps.metrics.height.set(writer.height)
        deps.metrics.blockHeight.set(deps.producer.finalizedHeight)
        deps.metrics.sealedHeight.set(deps.producer.sealedHeight)
        return deps.metrics.registry.metrics()
      }).pipe(Effect.map((text) => HttpServerResponse.text(text, { contentType: deps.metrics.registry.contentType }))),
    ),
  )

const readiness = (deps: HttpDeps): Readiness => {
  const writer = deps.writer()
  return {
    ready: writer.mode === "ready",
    height: deps.producer.finalizedHeight,
    transactions: writer.height,
    reason: writer.unavailableReason,
  }
}

/** The node's API on `server`'s requests, until the scope closes. */
export const serveNodeApi = (server: Server, deps: HttpDeps, sink: DefectSink): Effect.Effect<void, never, Scope.Scope> => {
  const openApi = OpenApi.fromApi(NodeApi)
  const source = {
    readiness: () => readiness(deps),
    supply: () => deps.finalSupply?.document(deps.writer().state) ?? supplyOf(deps.writer().state, deps.writer().height),
    store: deps.store,
    openApi,
    isMember: (id: string) => deps.producer.isValidatorInForce(id as ValidatorId) || deps.writer().state.observers.includes(id as ValidatorId),
    genesisHash: () => deps.producer.genesisHash,
    nowMs: deps.nowMs,
  }
  const api = HttpApiBuilder.api(NodeApi).pipe(
    Layer.provide([
      publicGroup(source),
      metricsGroup(deps),
      adminGroup(deps),
      moneyGroup({
        config: deps.money,
        federationName: () => deps.federationName ?? deps.writer().state.federation,
        cards: deps.cards,
        state: () => deps.writer().state,
        submitRefill: commandSubmitter(deps.writer, deps.nowMs),
        refunds: deps.refunds,
        nowMs: deps.nowMs,
        log: deps.log ?? ((line) => console.error(line)),
      }),
    ]),
    Layer.provide(adminAuth(deps.adminToken)),
  )
  return serveApi(server, api, sink)
}
