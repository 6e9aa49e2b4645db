/**
 * The HTTP API as a described API (PROTOCOL.md section 7): each endpoint with its path, the Schema
 * of its parameters, body, success and errors with their statuses. The node serves `NodeApi`; a
 * peer serves `PeerApi`, the public part of it. The OpenAPI document served at /v1/openapi.json is
 * derived from these definitions, so that it cannot drift from the code.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { blocksPageMax } from "../engine/limits.js"

/**
 * The protocol's error body: `{"ok":false,"error":{"code","message","field"?}}`, one class per
 * status (each registered with its status by `addError`). Each status has its own codes, so that a
 * client can tell them apart by the body alone; `BadRequest` takes every other code (an engine
 * status such as `amount_out_of_range`).
 */
const problemOf = <C extends Schema.Schema.Any>(code: C) =>
  ({
    ok: Schema.Literal(false),
    error: Schema.Struct({ code, message: Schema.String, field: Schema.optional(Schema.String) }),
  }) as const
const codesOfOtherStatuses: readonly string[] = ["unauthorized", "approvals_missing", "forbidden", "not_found", "conflict", "too_large", "rate_limited", "unavailable", "overloaded", "internal"]

export class BadRequest extends Schema.Class<BadRequest>("BadRequest")(
  problemOf(Schema.String.pipe(Schema.filter((code) => !codesOfOtherStatuses.includes(code)))),
  { description: "a field is missing or invalid; `error.field` names it" },
) {}
export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")(problemOf(Schema.Literal("unauthorized")), {
  description: "missing or wrong credentials",
}) {}
export class Forbidden extends Schema.Class<Forbidden>("Forbidden")(problemOf(Schema.Literal("approvals_missing", "forbidden")), {
  description: "the command lacks approvals the node cannot give, or an approval given is not valid (PROTOCOL.md section 9.3)",
}) {}
export class NotFound extends Schema.Class<NotFound>("NotFound")(problemOf(Schema.Literal("not_found")), {
  description: "no such thing (yet)",
}) {}
export class Conflict extends Schema.Class<Conflict>("Conflict")(problemOf(Schema.Literal("conflict")), {
  description: "this request id, or this id, was already used for something else",
}) {}
export class PayloadTooLarge extends Schema.Class<PayloadTooLarge>("PayloadTooLarge")(problemOf(Schema.Literal("too_large")), {
  description: "the body is larger than the node accepts",
}) {}
export class TooManyRequests extends Schema.Class<TooManyRequests>("TooManyRequests")(problemOf(Schema.Literal("rate_limited")), {
  description: "too many requests from this address or for this card; retry later",
}) {}
export class Unavailable extends Schema.Class<Unavailable>("Unavailable")(problemOf(Schema.Literal("unavailable", "overloaded")), {
  description: "storage cannot be read or written right now, or too many reads at once; retry (with the same request id)",
}) {}
export class Internal extends Schema.Class<Internal>("Internal")(problemOf(Schema.Literal("internal")), {
  description: "a defect of the node: answered, logged and counted, never fatal",
}) {}

type ProblemClass<A, C extends string> = new (fields: { ok: false; error: { code: C; message: string; field?: string } }) => A

/** An error value of the protocol's form. */
export const problem = <A, C extends string>(Class: ProblemClass<A, C>, code: C, message: string, field?: string): A =>
  new Class({ ok: false, error: field === undefined ? { code, message } : { code, message, field } })

// Names and ids of PROTOCOL.md section 1, checked again by the engine's decoders behind these.
const Name = Schema.String.pipe(Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}$/))
const RequestId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/)).annotations({
  description: "chosen by the caller: a retry with the same id and body answers the first answer and applies nothing twice",
})
const Height = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, Number.MAX_SAFE_INTEGER))

export const Health = Schema.Struct({
  ok: Schema.Literal(true),
  height: Schema.Number.annotations({ description: "the last final block" }),
  transactions: Schema.Number.annotations({ description: "the last committed transaction" }),
})
export class NotReady extends Schema.Class<NotReady>("NotReady")(
  { ...problemOf(Schema.Literal("unavailable")), height: Schema.Number, transactions: Schema.Number },
  { description: "the node cannot commit; `error.message` says why" },
) {}

const Euros = Schema.Struct({ received: Schema.Number, refunded: Schema.Number, paidOut: Schema.Number })
export const Supply = Schema.Struct({
  transactions: Schema.Number,
  assets: Schema.Array(
    Schema.Struct({ asset: Schema.String, kind: Schema.String, circulation: Schema.Number, euros: Schema.optional(Euros) }),
  ),
})

/** A block as PROTOCOL.md section 5 has it; served byte for byte as stored, never re-encoded. */
const Block = Schema.Struct({
  header: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  txs: Schema.Array(Schema.Unknown),
  signatures: Schema.optional(Schema.Array(Schema.Struct({ validator: Schema.String, signature: Schema.String }))),
})

/** A range of final blocks: from height `from`, at most `limit` of them. */
const BlockRange = Schema.Struct({
  from: Schema.optional(Height),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, blocksPageMax))),
})

const publicEndpoints = HttpApiGroup.make("public")
  .add(
    HttpApiEndpoint.get("live", "/v1/live")
      .addSuccess(Schema.Struct({ ok: Schema.Literal(true) }))
      .annotate(OpenApi.Description, "Liveness: 200 while the process runs."),
  )
  .add(
    HttpApiEndpoint.get("health", "/v1/health")
      .addSuccess(Health)
      .addError(NotReady, { status: 503 })
      .annotate(OpenApi.Description, "Readiness: 200 when the ledger can commit, else 503 and why."),
  )
  .add(HttpApiEndpoint.get("supply", "/v1/supply").addSuccess(Supply).addError(Unavailable, { status: 503 }))
  .add(
    HttpApiEndpoint.get("headers", "/v1/headers")
      .setUrlParams(BlockRange)
      .addSuccess(Schema.Struct({ headers: Schema.Array(Schema.Unknown) }))
      .addError(BadRequest, { status: 400 })
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Description, "Public: the headers of final blocks from height `from`, at most `limit`, each with its height, hash and signatures."),
  )
  .add(
    HttpApiEndpoint.get("blocks", "/v1/blocks")
      .setUrlParams(BlockRange)
      .addSuccess(Schema.Struct({ blocks: Schema.Array(Block) }))
      .addError(BadRequest, { status: 400 })
      .addError(Unauthorized, { status: 401 })
      .addError(Unavailable, { status: 503 })
      .annotate(
        OpenApi.Description,
        "Members only (Authorization: Member <id>.<unix ms>.<signature>): final blocks from height `from`, at most `limit` (and a bounded number of transactions).",
      ),
  )
  .add(
    HttpApiEndpoint.get("block", "/v1/blocks/:height")
      .setPath(Schema.Struct({ height: Height }))
      .addSuccess(Block)
      .addError(Unauthorized, { status: 401 })
      .addError(NotFound, { status: 404 })
      .addError(Unavailable, { status: 503 }),
  )
  .add(HttpApiEndpoint.get("openapi", "/v1/openapi.json").addSuccess(Schema.Unknown))

const metricsEndpoints = HttpApiGroup.make("metrics").add(
  HttpApiEndpoint.get("metrics", "/metrics")
    .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain; version=0.0.4" })))
    .annotate(OpenApi.Description, "Prometheus text exposition."),
)

/** The admin bearer token; a missing or wrong one is answered 401. */
export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("gesell/transport/AdminAuth", {
  failure: Unauthorized.annotations(HttpApiSchema.annotations({ status: 401 })),
  security: {
    admin: HttpApiSecurity.bearer.pipe(HttpApiSecurity.annotate(OpenApi.Description, "the admin token (GESELL_ADMIN_TOKEN)")),
  },
}) {}

/** An online refund's outcome, payment by payment (transport/refunds.ts). */
const RefundResult = Schema.Struct({
  parts: Schema.Array(
    Schema.Struct({
      payment: Schema.String,
      amount: Schema.Number,
      status: Schema.Literal("refunded", "pending", "restored"),
      refund: Schema.optional(Schema.String),
    }),
  ),
  left: Schema.Number.annotations({ description: "fed left on the card that no payment of it can take back online" }),
})

const withRequest = <F extends Schema.Struct.Fields>(fields: F) => Schema.Struct({ ...fields, request: RequestId })

const Place = withRequest({
  id: Name,
  name: Schema.String,
  accepts: Schema.Array(Schema.String),
  membershipRequired: Schema.optional(Schema.String).annotations({ description: "a membership asset its sales require on the card" }),
  staffRequired: Schema.optional(Schema.Boolean).annotations({ description: "its tills need a staff card" }),
  payout: Schema.optional(Schema.Struct({ iban: Schema.String, name: Schema.String })).annotations({
    description: "where its payouts go: an IBAN in its electronic form (capitals, no spaces) and the account holder's name",
  }),
})
const Asset = withRequest({
  id: Name,
  kind: Schema.Literal("fed", "local_fiat", "gift", "time", "loyalty", "membership"),
  name: Schema.String,
  issuer: Schema.optional(Schema.String),
  demurrage: Schema.optional(Schema.Unknown).annotations({
    description: "{idleMs, periodMs, rule: {kind: percent|fixed|all, basisPoints|amount}, shares: {place, fund, maintenance}}",
  }),
  exchange: Schema.optional(Schema.Unknown).annotations({ description: "{toFed: [numerator, denominator]}" }),
})
const NewReader = withRequest({ id: Schema.String, place: Schema.String, role: Schema.String })
const ReaderCreated = Schema.Struct({
  id: Schema.String,
  place: Schema.String,
  role: Schema.String,
  token: Schema.optional(Schema.String).annotations({ description: "shown once, on the first answer only: a retry answers without it" }),
})
const CardsJson = withRequest({
  cards: Schema.Array(Schema.Struct({ uid: Schema.Unknown, number: Schema.optional(Schema.Unknown) })),
})
const CardsCsv = Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/csv" })).annotations({
  description: "lines `uid,number` (a first line `uid,number` is a header); the request id is the `request` URL parameter",
})
const Command = Schema.Struct({ kind: Schema.String, request: RequestId }, { key: Schema.String, value: Schema.Unknown }).annotations({
  description:
    "an engine command, e.g. {kind: refill, wallet: card:04a1b2c3, amount: 2000, ref: pi_123, request: r1}; a card (`card`, a `card:` wallet, `cards[].card`) is named by its uid, its printed number or its pseudonym, and goes to the ledger as its pseudonym",
})
const FindCard = Schema.Struct({ card: Schema.Unknown.annotations({ description: "the card's uid, its printed number, or its pseudonym" }) })
const FoundCard = Schema.Struct({
  card: Schema.String.annotations({ description: "its pseudonym: the name the ledger knows it by" }),
  wallet: Schema.String.annotations({ description: "the wallet it pays from (its own, or its holder's once fused)" }),
  status: Schema.Literal("active", "blocked", "voided"),
  number: Schema.optional(Schema.String),
  staff: Schema.optional(Schema.Unknown),
  balances: Schema.Record({ key: Schema.String, value: Schema.Number }),
  memberships: Schema.Record({ key: Schema.String, value: Schema.Number }),
})
const Prepared = Schema.Struct({
  command: Schema.Unknown.annotations({ description: "the command as the engine decodes it: what approvals sign" }),
  message: Schema.String.annotations({ description: "the exact text an approval signs (UTF-8): gesell/approval/v1:<genesis hash>:<canonical command>" }),
  authority: Schema.Struct({
    by: Schema.Literal("none", "stewards", "validators"),
    count: Schema.Number,
    keys: Schema.Array(Schema.String),
    newcomer: Schema.optional(Schema.String),
  }),
  nodeApproves: Schema.Array(Schema.String).annotations({ description: "the keys of this node that approve it when it is submitted" }),
})
const CommandOutcome = Schema.Struct({
  ok: Schema.Boolean,
  status: Schema.String,
  tx: Schema.optional(Schema.Unknown),
  message: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
})
const Wallet = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  balances: Schema.Record({ key: Schema.String, value: Schema.Number }),
  memberships: Schema.Record({ key: Schema.String, value: Schema.Number }),
  lastActivityMs: Schema.Number,
})

const adminEndpoints = HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.post("putPlace", "/v1/admin/places").setPayload(Place).addSuccess(Schema.Unknown))
  .add(HttpApiEndpoint.post("putAsset", "/v1/admin/assets").setPayload(Asset).addSuccess(Schema.Unknown))
  .add(
    HttpApiEndpoint.post("createReader", "/v1/admin/readers")
      .setPayload(NewReader)
      .addSuccess(ReaderCreated)
      .addError(Conflict, { status: 409 })
      .annotate(OpenApi.Description, "Creates a reader; the first answer holds its token (only its SHA-256 is stored)."),
  )
  .add(
    HttpApiEndpoint.del("revokeReader", "/v1/admin/readers/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .setUrlParams(Schema.Struct({ request: RequestId }))
      .addSuccess(Schema.Struct({ id: Schema.String, revoked: Schema.Literal(true) }))
      .addError(NotFound, { status: 404 })
      .annotate(OpenApi.Description, "Revokes the reader's token and terminates its connections at once."),
  )
  .add(
    HttpApiEndpoint.post("importCards", "/v1/admin/cards")
      .setPayload(Schema.Union(CardsJson, CardsCsv))
      .setUrlParams(Schema.Struct({ request: Schema.optional(RequestId) }))
      .addSuccess(Schema.Struct({ added: Schema.Number, known: Schema.Number }))
      .addError(Conflict, { status: 409 }),
  )
  .add(
    HttpApiEndpoint.post("command", "/v1/admin/commands")
      .setPayload(Command)
      .addSuccess(CommandOutcome)
      .addError(Forbidden, { status: 403 })
      .annotate(
        OpenApi.Description,
        "Runs an operator command and answers once it is committed. `approvals`: [{key, signature}] of the stewards (or validators) who approved it; the node adds its own. Without enough, 403 approvals_missing and nothing is recorded under the request id.",
      ),
  )
  .add(
    HttpApiEndpoint.post("prepare", "/v1/admin/commands/prepare")
      .setPayload(Command)
      .addSuccess(Prepared)
      .annotate(OpenApi.Description, "The exact text stewards sign to approve a command, and who must approve it; changes nothing."),
  )
  .add(
    HttpApiEndpoint.post("findCard", "/v1/admin/cards/find")
      .setPayload(FindCard)
      .addSuccess(FoundCard)
      .addError(NotFound, { status: 404 })
      .annotate(OpenApi.Description, "A card by its uid or printed number (in the body: a uid never goes in a URL): its pseudonym, status, staff rights and what its wallet holds."),
  )
  .add(
    HttpApiEndpoint.post("refundCard", "/v1/admin/refunds")
      .setPayload(
        Schema.Struct({
          card: Schema.String.annotations({ description: "uid, printed number or pseudonym" }),
          payment: Schema.optional(Schema.String).annotations({ description: "only this payment (a Checkout Session's id)" }),
        }),
      )
      .addSuccess(RefundResult)
      .annotate(OpenApi.Description, "Refunds the card's fed to the Stripe payments it was refilled by (PROTOCOL.md section 9.5): withdraw, Stripe's refund, payback or restore."),
  )
  .add(
    HttpApiEndpoint.get("wallet", "/v1/admin/wallets/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(Wallet)
      .addError(NotFound, { status: 404 }),
  )
  .addError(BadRequest, { status: 400 })
  .addError(Conflict, { status: 409 })
  .addError(Forbidden, { status: 403 })
  .addError(Unavailable, { status: 503 })
  .middleware(AdminAuth)

/**
 * The builder reports a body or parameter that does not match its Schema as `HttpApiDecodeError`;
 * the node answers those in the protocol's form (`BadRequest`, see http-server.ts), so the document
 * says so too.
 */
const decodeErrorsAsBadRequest = (spec: Record<string, unknown>): Record<string, unknown> => {
  const text = JSON.stringify(spec).replaceAll('"#/components/schemas/HttpApiDecodeError"', '"#/components/schemas/BadRequest"')
  const document = JSON.parse(text) as { components?: { schemas?: Record<string, unknown> } }
  delete document.components?.schemas?.["HttpApiDecodeError"]
  return document
}

/** Money in through Stripe (PROTOCOL.md section 9.5): public, served by a node configured for it. */
const moneyEndpoints = HttpApiGroup.make("money")
  .add(
    HttpApiEndpoint.post("refund", "/v1/refunds")
      .setPayload(
        Schema.Struct({
          card: Schema.String.annotations({ description: "the card's printed number" }),
          receipt: Schema.String.annotations({ description: "the id of one of its Checkout payments (cs_…), from Stripe's receipt" }),
        }),
      )
      .addSuccess(RefundResult)
      .addError(NotFound, { status: 404 })
      .addError(TooManyRequests, { status: 429 })
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Description, "Public: the fed left of that payment goes back to it, through Stripe; the same answer for a wrong number or receipt."),
  )
  .add(
    HttpApiEndpoint.post("refill", "/v1/refills")
      .setPayload(
        Schema.Struct({
          card: Schema.String.annotations({ description: "the card's printed number (or its uid, read by a phone)" }),
          amount: Schema.Number.annotations({ description: "euro cents, within the federation's bounds" }),
        }),
      )
      .addSuccess(Schema.Struct({ url: Schema.String.annotations({ description: "the Stripe Checkout page to send the holder to" }) }))
      .addError(NotFound, { status: 404 })
      .addError(TooManyRequests, { status: 429 })
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Description, "Public: starts a refill of a card, paid by Stripe Checkout; the card is credited once Stripe says it is paid."),
  )
  .add(
    HttpApiEndpoint.post("stripeWebhook", "/v1/stripe/webhook")
      .addSuccess(Schema.Struct({ ok: Schema.Literal(true), code: Schema.String, message: Schema.String }))
      .addError(Unavailable, { status: 503 })
      .annotate(OpenApi.Description, "Stripe's webhook: its signature is verified over the raw body; 2xx only once a paid refill is committed."),
  )
  .add(
    HttpApiEndpoint.get("refillPage", "/refill")
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/html; charset=utf-8" })))
      .annotate(OpenApi.Description, "Public: the page where a holder refills their card by its printed number."),
  )

export const NodeApi = HttpApi.make("gesell-node")
  .add(publicEndpoints)
  .add(metricsEndpoints)
  .add(adminEndpoints)
  .add(moneyEndpoints)
  .addError(BadRequest, { status: 400 })
  .addError(PayloadTooLarge, { status: 413 })
  .addError(Internal, { status: 500 })
  .annotate(OpenApi.Title, "Gesell node")
  .annotate(OpenApi.Version, "2")
  .annotate(
    OpenApi.Description,
    "Health, supply, blocks, metrics and the operator endpoints. Readers use the WebSocket /v1/readers and the federation the WebSocket /v1/federation (PROTOCOL.md).",
  )
  .annotate(OpenApi.Transform, decodeErrorsAsBadRequest)

export const PeerApi = HttpApi.make("gesell-peer")
  .add(publicEndpoints)
  .addError(BadRequest, { status: 400 })
  .addError(PayloadTooLarge, { status: 413 })
  .addError(Internal, { status: 500 })
  .annotate(OpenApi.Title, "Gesell peer")
  .annotate(OpenApi.Version, "2")
  .annotate(OpenApi.Transform, decodeErrorsAsBadRequest)
