/**
 * A local fake of the Stripe API, so that tests drive the code that takes payments through the real
 * `stripe` library (`new Stripe(key, { host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0 })`)
 * and so meet the library's own encoding, error classes and webhook signatures, without a network.
 *
 * Faked, in Stripe's shapes and error bodies:
 * - `POST /v1/checkout/sessions` (mode `payment`, one line item with inline `price_data`) and
 *   `GET /v1/checkout/sessions/:id`;
 * - `POST /v1/refunds` on a payment intent (part, or what remains, never more) and `GET /v1/refunds/:id`;
 * - `GET /v1/balance_transactions`, newest first, with `limit`, `starting_after`, `type` and `source`;
 * - bearer keys: the secret key may do everything, the restricted key only read (403 on any POST), any
 *   other key is answered 401. As Stripe does, both errors have the type `invalid_request_error`: the
 *   library picks StripeAuthenticationError and StripePermissionError by the status;
 * - `Idempotency-Key` on a POST: the same key with the same request replays the first answer, with
 *   another request it is an `idempotency_error`;
 * - unknown parameters, missing ones, amounts that are not integers: 400 naming the `param`;
 * - the holder's and the bank's side, by methods: paying at Checkout (at once, or later for a delayed
 *   method), disputes, a refund that fails, an API that cannot be reached; events, and their delivery
 *   signed as Stripe signs them.
 *
 * Not faked: every other endpoint (404); sessions expiring; Stripe's minimum and maximum amounts;
 * several line items, prices by id, `expand`, `ending_before`; the page behind a session's `url`; a
 * refund that goes `pending` and fails later (here a failed refund fails at once and moves no money);
 * a dispute's fee and the withdrawal of its amount; payouts, Connect, rate limits, webhook retries;
 * Basic auth. A refused request is not remembered under its idempotency key (Stripe keeps some).
 */
import { randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import Stripe from "stripe"

export interface FakeStripeOptions {
  readonly secretKey?: string
  /** A key that may read (GET) and not write (POST). */
  readonly restrictedKey?: string
  readonly webhookSecret?: string
  /** Stripe's fee on a charge: this many hundredths of a percent of the amount, rounded half up... */
  readonly feeBasisPoints?: number
  /** ...plus this many cents. */
  readonly feeFixed?: number
}

export interface CheckoutSession {
  readonly id: string
  readonly object: "checkout.session"
  readonly livemode: false
  readonly created: number
  readonly mode: "payment"
  status: "open" | "complete"
  payment_status: "paid" | "unpaid"
  readonly amount_total: number
  readonly currency: string
  readonly metadata: Record<string, string>
  /** Null once the session is complete, as Stripe's. */
  url: string | null
  readonly success_url: string
  readonly cancel_url: string | null
  readonly client_reference_id: string | null
  readonly customer_email: string | null
  payment_intent: string | null
  customer_details: { readonly email: string | null } | null
}

export interface Refund {
  readonly id: string
  readonly object: "refund"
  readonly created: number
  readonly amount: number
  readonly currency: string
  readonly payment_intent: string
  readonly charge: string
  readonly status: "succeeded" | "failed"
  readonly metadata: Record<string, string>
}

export interface BalanceTransaction {
  readonly id: string
  readonly object: "balance_transaction"
  readonly created: number
  readonly amount: number
  readonly fee: number
  readonly net: number
  readonly currency: string
  /** The charge's id, or the refund's. */
  readonly source: string
  readonly type: "charge" | "refund"
  readonly reporting_category: "charge" | "refund"
}

export type DisputeStatus = "warning_needs_response" | "warning_under_review" | "warning_closed" | "needs_response" | "under_review" | "won" | "lost"

export interface Dispute {
  readonly id: string
  readonly object: "dispute"
  readonly livemode: false
  readonly created: number
  readonly amount: number
  readonly currency: string
  readonly charge: string
  readonly payment_intent: string
  status: DisputeStatus
  readonly reason: "fraudulent"
}

export interface FakeEvent<T = unknown> {
  readonly id: string
  readonly object: "event"
  readonly type: string
  readonly api_version: string
  readonly created: number
  readonly livemode: false
  /** A copy of the object as it was when the event happened. */
  readonly data: { readonly object: T }
  readonly pending_webhooks: number
  readonly request: { readonly id: null; readonly idempotency_key: null }
}

export interface RecordedRequest {
  readonly method: string
  /** Without the query. */
  readonly path: string
  readonly idempotencyKey: string | null
  /** Received while unreachable: its socket was destroyed. The library resends such a request once. */
  readonly dropped: boolean
}

export interface DeliveryOptions {
  /** Signs with this secret instead of the webhook secret: a forged delivery. */
  readonly secret?: string
  /** Signs as of this unix time in seconds instead of now: a stale delivery. */
  readonly timestamp?: number
  /** Sends this `Stripe-Signature` header as it is. */
  readonly signature?: string
}

export interface FakeStripe {
  /** http://127.0.0.1:PORT */
  readonly url: string
  readonly port: number
  readonly secretKey: string
  readonly restrictedKey: string
  readonly webhookSecret: string
  readonly sessions: ReadonlyMap<string, Readonly<CheckoutSession>>
  /** Every API request received, oldest first. */
  readonly requests: readonly RecordedRequest[]
  /** The holder paid at Checkout; a delayed method (`async`) leaves it unpaid until `settle`. */
  pay(sessionId: string, options?: { readonly async?: boolean; readonly email?: string }): FakeEvent<CheckoutSession>
  /** A delayed payment succeeds or fails: `checkout.session.async_payment_succeeded` or `..._failed`. */
  settle(sessionId: string, succeeded: boolean): FakeEvent<CheckoutSession>
  /** The next refund created fails, and moves no money. */
  failNextRefund(): void
  /** The holder disputes the session's charge: `charge.dispute.created`. */
  dispute(sessionId: string, status?: DisputeStatus): FakeEvent<Dispute>
  /** The bank decides: `charge.dispute.closed`. */
  disputeClosed(disputeId: string, status: "lost" | "won"): FakeEvent<Dispute>
  event<T>(type: string, object: T): FakeEvent<T>
  /** POSTs the event to a webhook endpoint as Stripe does; answers its status and body. */
  deliver(webhookUrl: string, event: FakeEvent, options?: DeliveryOptions): Promise<{ status: number; body: string }>
  /** While on, every API request has its socket destroyed unanswered. */
  unreachable(on: boolean): void
  close(): Promise<void>
}

interface Payment {
  readonly paymentIntent: string
  readonly charge: string
  readonly amount: number
  readonly currency: string
  state: "processing" | "succeeded" | "failed"
  refunded: number
}

interface State {
  readonly options: Required<FakeStripeOptions>
  readonly base: string
  readonly sessions: Map<string, CheckoutSession>
  /** By payment intent. */
  readonly payments: Map<string, Payment>
  readonly refunds: Map<string, Refund>
  readonly disputes: Map<string, Dispute>
  /** Oldest first. */
  readonly balanceTransactions: BalanceTransaction[]
  readonly idempotent: Map<string, { readonly request: string; readonly answer: Answer }>
  readonly requests: RecordedRequest[]
  failNextRefund: boolean
  unreachable: boolean
}

interface Answer {
  readonly status: number
  /** The JSON text, fixed when first answered: a replay answers the object as it was then. */
  readonly json: string
  readonly replayed?: boolean
}

interface ErrorBody {
  readonly type: string
  readonly message: string
  readonly code?: string
  readonly param?: string
}

/** A request Stripe refuses, with the status and error body it answers. */
class Refusal extends Error {
  constructor(readonly status: number, readonly body: ErrorBody) {
    super(body.message)
  }
}

const invalid = (message: string, details: { param?: string; code?: string } = {}, status = 400) =>
  new Refusal(status, { type: "invalid_request_error", message, ...details })

const randomId = (prefix: string) => `${prefix}${randomBytes(12).toString("hex")}`

const now = () => Math.floor(Date.now() / 1000)

/** Stripe's fee on a charge, rounded half up. */
const feeOf = (options: Required<FakeStripeOptions>, amount: number) =>
  Math.floor((amount * options.feeBasisPoints + 5000) / 10000) + options.feeFixed

/** An amount as Stripe writes it in messages: `€12.50`. */
const money = (amount: number, currency: string) => {
  const format = new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() })
  return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2))
}

/** A key as Stripe shows it in messages: its prefix and its last four characters. */
const redacted = (key: string) => {
  const prefix = /^[a-z]+_(test|live)_/.exec(key)?.[0] ?? ""
  return `${prefix}${"*".repeat(Math.max(0, key.length - prefix.length - 4))}${key.slice(-4)}`
}

// Parameters come form-encoded, with bracketed keys such as `line_items[0][quantity]`, as the library sends them.

/** Stripe refuses a parameter it does not know; here, one the fake does not model either. */
const refuseUnknown = (params: URLSearchParams, known: readonly string[]) => {
  for (const name of params.keys()) {
    const isMetadata = known.includes("metadata") && /^metadata\[[^\]]+\]$/.test(name)
    if (!known.includes(name) && !isMetadata) throw invalid(`Received unknown parameter: ${name}`, { param: name })
  }
}

const optional = (params: URLSearchParams, name: string) => {
  const value = params.get(name)
  return value === null || value === "" ? null : value
}

const required = (params: URLSearchParams, name: string) => {
  const value = optional(params, name)
  if (value === null) throw invalid(`Missing required param: ${name}.`, { param: name })
  return value
}

/** An integer at least `minimum`, or undefined when absent. Amounts are cents: 12.5 is refused. */
const integer = (params: URLSearchParams, name: string, minimum: number) => {
  const text = optional(params, name)
  if (text === null) return undefined
  const value = Number(text)
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw invalid(`Invalid integer: ${text}`, { param: name })
  if (value < minimum) throw invalid(`This value must be greater than or equal to ${minimum}.`, { param: name })
  return value
}

const requiredInteger = (params: URLSearchParams, name: string, minimum: number) => {
  required(params, name)
  return integer(params, name, minimum) ?? minimum
}

const currency = (params: URLSearchParams, name: string) => {
  const text = required(params, name)
  if (!/^[a-zA-Z]{3}$/.test(text)) throw invalid(`Invalid currency: ${text}.`, { param: name })
  return text.toLowerCase()
}

/** `metadata[key]=value` pairs, within Stripe's limits; an empty value sets nothing. */
const metadataOf = (params: URLSearchParams) => {
  const metadata: Record<string, string> = {}
  for (const [name, value] of params) {
    const key = /^metadata\[([^\]]+)\]$/.exec(name)?.[1]
    if (key === undefined || value === "") continue
    if (key.length > 40) throw invalid("Metadata keys can have up to 40 characters.", { param: name })
    if (value.length > 500) throw invalid("Metadata values can have up to 500 characters.", { param: name })
    metadata[key] = value
  }
  if (Object.keys(metadata).length > 50) throw invalid("Metadata can have up to 50 keys.", { param: "metadata" })
  return metadata
}

// The endpoints.

const item = "line_items[0]"
const sessionParameters = [
  "mode", `${item}[price_data][currency]`, `${item}[price_data][unit_amount]`, `${item}[price_data][product_data][name]`,
  `${item}[quantity]`, "success_url", "cancel_url", "client_reference_id", "customer_email", "metadata",
]

const createSession = (state: State, params: URLSearchParams): CheckoutSession => {
  refuseUnknown(params, sessionParameters)
  const mode = required(params, "mode")
  if (mode !== "payment") throw invalid(`Invalid mode: ${mode} (this fake models only payment)`, { param: "mode" })
  const sessionCurrency = currency(params, `${item}[price_data][currency]`)
  const unitAmount = requiredInteger(params, `${item}[price_data][unit_amount]`, 0)
  const quantity = requiredInteger(params, `${item}[quantity]`, 1)
  required(params, `${item}[price_data][product_data][name]`)
  const id = randomId("cs_test_")
  const session: CheckoutSession = {
    id, object: "checkout.session", livemode: false, created: now(), mode: "payment", status: "open",
    payment_status: "unpaid", amount_total: unitAmount * quantity, currency: sessionCurrency,
    metadata: metadataOf(params), url: `${state.base}/pay/${id}`, success_url: required(params, "success_url"),
    cancel_url: optional(params, "cancel_url"), client_reference_id: optional(params, "client_reference_id"),
    customer_email: optional(params, "customer_email"), payment_intent: null, customer_details: null,
  }
  state.sessions.set(id, session)
  return session
}

/** Why a payment cannot be refunded now, or nothing. */
const refundRefusal = (state: State, payment: Payment) => {
  if (payment.state !== "succeeded") {
    return invalid(`This PaymentIntent (${payment.paymentIntent}) does not have a successful charge to refund.`, { param: "payment_intent" })
  }
  const chargedBack = [...state.disputes.values()].some((dispute) =>
    dispute.charge === payment.charge && ["needs_response", "under_review", "lost"].includes(dispute.status))
  if (chargedBack) return invalid(`Charge ${payment.charge} has been charged back; cannot issue a refund.`, { code: "charge_disputed" })
  if (payment.refunded >= payment.amount) {
    return invalid(`Charge ${payment.charge} has already been refunded.`, { code: "charge_already_refunded" })
  }
  return undefined
}

const createRefund = (state: State, params: URLSearchParams): Refund => {
  refuseUnknown(params, ["payment_intent", "amount", "metadata"])
  const paymentIntent = required(params, "payment_intent")
  const payment = state.payments.get(paymentIntent)
  if (payment === undefined) throw invalid(`No such payment_intent: '${paymentIntent}'`, { param: "payment_intent", code: "resource_missing" })
  const requested = integer(params, "amount", 1)
  const metadata = metadataOf(params)
  const refusal = refundRefusal(state, payment)
  if (refusal !== undefined) throw refusal
  const remaining = payment.amount - payment.refunded
  if (requested !== undefined && requested > remaining) {
    const message = `Refund amount (${money(requested, payment.currency)}) is greater than unrefunded amount on charge (${money(remaining, payment.currency)})`
    throw invalid(message, { param: "amount" })
  }
  const status = state.failNextRefund ? "failed" : "succeeded"
  state.failNextRefund = false
  const refund: Refund = {
    id: randomId("re_"), object: "refund", created: now(), amount: requested ?? remaining, currency: payment.currency,
    payment_intent: payment.paymentIntent, charge: payment.charge, status, metadata,
  }
  state.refunds.set(refund.id, refund)
  if (status === "succeeded") {
    payment.refunded += refund.amount
    addBalanceTransaction(state, "refund", -refund.amount, 0, refund.currency, refund.id)
  }
  return refund
}

const addBalanceTransaction = (state: State, type: "charge" | "refund", amount: number, fee: number, currency: string, source: string) => {
  state.balanceTransactions.push({
    id: randomId("txn_"), object: "balance_transaction", created: now(), amount, fee, net: amount - fee, currency, source,
    type, reporting_category: type,
  })
}

/** Stripe's list: newest first, a page of `limit` after the `starting_after` object. */
const listBalanceTransactions = (state: State, params: URLSearchParams) => {
  refuseUnknown(params, ["limit", "starting_after", "type", "source"])
  const limit = integer(params, "limit", 1) ?? 10
  if (limit > 100) throw invalid("This value must be less than or equal to 100.", { param: "limit" })
  const type = optional(params, "type")
  const source = optional(params, "source")
  const newestFirst = [...state.balanceTransactions].reverse()
  const after = optional(params, "starting_after")
  const start = after === null ? 0 : newestFirst.findIndex((transaction) => transaction.id === after) + 1
  if (start === 0 && after !== null) {
    throw invalid(`No such balance transaction: '${after}'`, { param: "starting_after", code: "resource_missing" })
  }
  const matching = newestFirst.slice(start).filter((transaction) =>
    (type === null || transaction.type === type) && (source === null || transaction.source === source))
  return { object: "list", data: matching.slice(0, limit), has_more: matching.length > limit, url: "/v1/balance_transactions" }
}

const found = <T>(objects: ReadonlyMap<string, T>, id: string, kind: string, param: string) => {
  const object = objects.get(id)
  if (object === undefined) throw invalid(`No such ${kind}: '${id}'`, { param, code: "resource_missing" }, 404)
  return object
}

/** The object an endpoint answers; throws a Refusal for what Stripe refuses. */
const route = (state: State, method: string, path: string, params: URLSearchParams): unknown => {
  const [, resource, id] = /^\/v1\/(checkout\/sessions|refunds|balance_transactions)(?:\/([^/]+))?$/.exec(path) ?? []
  if (method === "POST" && resource === "checkout/sessions" && id === undefined) return createSession(state, params)
  if (method === "POST" && resource === "refunds" && id === undefined) return createRefund(state, params)
  if (method === "GET" && resource === "balance_transactions" && id === undefined) return listBalanceTransactions(state, params)
  if (method === "GET" && id !== undefined && resource !== "balance_transactions") {
    refuseUnknown(params, [])
    const identifier = decodeURIComponent(id)
    if (resource === "checkout/sessions") return found(state.sessions, identifier, "checkout.session", "session")
    return found(state.refunds, identifier, "refund", "id")
  }
  const message = `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`
  throw invalid(message, {}, 404)
}

// The server.

/** Stripe's answers to a missing, unknown or restricted key. */
const authenticate = (state: State, method: string, authorization: string | undefined) => {
  const key = /^Bearer (.+)$/.exec(authorization ?? "")?.[1]
  if (key === undefined) {
    throw invalid("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", {}, 401)
  }
  if (key === state.options.secretKey || (key === state.options.restrictedKey && method === "GET")) return
  if (key === state.options.restrictedKey) {
    throw invalid(`The provided key '${redacted(key)}' does not have the required permissions for this endpoint on account 'acct_fake'.`, {}, 403)
  }
  throw invalid(`Invalid API Key provided: ${redacted(key)}`, {}, 401)
}

/** Answers a request, replaying or refusing one whose idempotency key was used before. */
const answer = (state: State, request: IncomingMessage, url: URL, body: string, idempotencyKey: string | null): Answer => {
  const method = request.method ?? "GET"
  try {
    authenticate(state, method, request.headers.authorization)
    const key = method === "POST" ? idempotencyKey : null
    const fingerprint = `${method} ${url.pathname}\n${body}`
    const earlier = key === null ? undefined : state.idempotent.get(key)
    if (earlier !== undefined && earlier.request !== fingerprint) {
      const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`
      throw new Refusal(400, { type: "idempotency_error", message })
    }
    if (earlier !== undefined) return { ...earlier.answer, replayed: true }
    const params = method === "POST" ? new URLSearchParams(body) : url.searchParams
    const answered = { status: 200, json: JSON.stringify(route(state, method, url.pathname, params)) }
    if (key !== null) state.idempotent.set(key, { request: fingerprint, answer: answered })
    return answered
  } catch (error) {
    if (!(error instanceof Refusal)) throw error
    return { status: error.status, json: JSON.stringify({ error: error.body }) }
  }
}

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8")
}

const send = (response: ServerResponse, { status, json, replayed }: Answer) => {
  const headers: Record<string, string> = { "content-type": "application/json", "request-id": randomId("req_") }
  if (replayed === true) headers["idempotent-replayed"] = "true"
  response.writeHead(status, headers).end(json)
}

const handle = async (state: State, request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url ?? "/", state.base)
  const header = request.headers["idempotency-key"]
  const idempotencyKey = typeof header === "string" ? header : null
  state.requests.push({ method: request.method ?? "GET", path: url.pathname, idempotencyKey, dropped: state.unreachable })
  if (state.unreachable) {
    request.socket.destroy()
    return
  }
  send(response, answer(state, request, url, await readBody(request), idempotencyKey))
}

// The holder's and the bank's side, played by the tests.

const eventOf = <T>(type: string, object: T): FakeEvent<T> => ({
  id: randomId("evt_"), object: "event", type, api_version: Stripe.API_VERSION, created: now(), livemode: false,
  data: { object: structuredClone(object) }, pending_webhooks: 1, request: { id: null, idempotency_key: null },
})

const sessionNamed = (state: State, sessionId: string) => {
  const session = state.sessions.get(sessionId)
  if (session === undefined) throw new Error(`no checkout session ${sessionId}`)
  return session
}

const paymentOf = (state: State, sessionId: string) => {
  const paymentIntent = sessionNamed(state, sessionId).payment_intent
  const payment = paymentIntent === null ? undefined : state.payments.get(paymentIntent)
  if (payment === undefined) throw new Error(`checkout session ${sessionId} is not paid`)
  return payment
}

/** The charge succeeded: the session is paid, and the money with its fee is in the balance. */
const charged = (state: State, session: CheckoutSession, payment: Payment) => {
  payment.state = "succeeded"
  session.payment_status = "paid"
  addBalanceTransaction(state, "charge", payment.amount, feeOf(state.options, payment.amount), payment.currency, payment.charge)
}

const pay = (state: State, sessionId: string, options: { readonly async?: boolean; readonly email?: string }) => {
  const session = sessionNamed(state, sessionId)
  if (session.status !== "open") throw new Error(`checkout session ${sessionId} is ${session.status}`)
  const payment: Payment = {
    paymentIntent: randomId("pi_"), charge: randomId("ch_"), amount: session.amount_total,
    currency: session.currency, state: "processing", refunded: 0,
  }
  state.payments.set(payment.paymentIntent, payment)
  session.status = "complete"
  session.url = null
  session.payment_intent = payment.paymentIntent
  session.customer_details = { email: options.email ?? session.customer_email ?? "holder@example.com" }
  if (options.async !== true) charged(state, session, payment)
  return eventOf("checkout.session.completed", session)
}

const settle = (state: State, sessionId: string, succeeded: boolean) => {
  const payment = paymentOf(state, sessionId)
  if (payment.state !== "processing") throw new Error(`the payment of checkout session ${sessionId} is settled`)
  const session = sessionNamed(state, sessionId)
  if (succeeded) charged(state, session, payment)
  else payment.state = "failed"
  return eventOf(`checkout.session.async_payment_${succeeded ? "succeeded" : "failed"}`, session)
}

const dispute = (state: State, sessionId: string, status: DisputeStatus) => {
  const payment = paymentOf(state, sessionId)
  if (payment.state !== "succeeded") throw new Error(`checkout session ${sessionId} has no successful charge`)
  const opened: Dispute = {
    id: randomId("dp_"), object: "dispute", livemode: false, created: now(), amount: payment.amount,
    currency: payment.currency, charge: payment.charge, payment_intent: payment.paymentIntent, status, reason: "fraudulent",
  }
  state.disputes.set(opened.id, opened)
  return eventOf("charge.dispute.created", opened)
}

const disputeClosed = (state: State, disputeId: string, status: "lost" | "won") => {
  const closed = state.disputes.get(disputeId)
  if (closed === undefined) throw new Error(`no dispute ${disputeId}`)
  closed.status = status
  return eventOf("charge.dispute.closed", closed)
}

/** The event's JSON as Stripe sends it (indented by two spaces), signed with the library's own helper. */
const deliver = async (state: State, webhookUrl: string, event: FakeEvent, options: DeliveryOptions) => {
  const payload = JSON.stringify(event, null, 2)
  const signature = options.signature ?? Stripe.webhooks.generateTestHeaderString({
    payload, secret: options.secret ?? state.options.webhookSecret, timestamp: options.timestamp ?? now(),
  })
  const response = await fetch(webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": signature, "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" },
    body: payload,
  })
  return { status: response.status, body: await response.text() }
}

export const createFakeStripe = async (options: FakeStripeOptions = {}): Promise<FakeStripe> => {
  const settings: Required<FakeStripeOptions> = {
    secretKey: "sk_test_fake_secret", restrictedKey: "rk_test_fake_read", webhookSecret: "whsec_fake",
    feeBasisPoints: 150, feeFixed: 25, ...options,
  }
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const state: State = {
    options: settings, base: `http://127.0.0.1:${port}`, sessions: new Map(), payments: new Map(), refunds: new Map(),
    disputes: new Map(), balanceTransactions: [], idempotent: new Map(), requests: [], failNextRefund: false, unreachable: false,
  }
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    handle(state, request, response).catch((error: unknown) => {
      const body = { error: { type: "api_error", message: error instanceof Error ? error.message : String(error) } }
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify(body))
    })
  })
  return {
    url: state.base, port, secretKey: settings.secretKey, restrictedKey: settings.restrictedKey, webhookSecret: settings.webhookSecret,
    sessions: state.sessions, requests: state.requests,
    pay: (sessionId, payOptions = {}) => pay(state, sessionId, payOptions),
    settle: (sessionId, succeeded) => settle(state, sessionId, succeeded),
    failNextRefund: () => { state.failNextRefund = true },
    dispute: (sessionId, status = "needs_response") => dispute(state, sessionId, status),
    disputeClosed: (disputeId, status) => disputeClosed(state, disputeId, status),
    event: (type, object) => eventOf(type, object),
    deliver: (webhookUrl, event, deliveryOptions = {}) => deliver(state, webhookUrl, event, deliveryOptions),
    unreachable: (on) => { state.unreachable = on },
    close: () => new Promise<void>((resolve, reject) => {
      if (!server.listening) return resolve()
      server.close((error) => (error === undefined ? resolve() : reject(error)))
      server.closeAllConnections()
    }),
  }
}
