/**
 * The fake of Stripe against the real `stripe` library: what the library sends is what the fake reads,
 * and what the fake answers is parsed by the library into the objects and errors the project sees.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import Stripe from "stripe"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createFakeStripe, type FakeStripe } from "./fake-stripe.js"

let fake: FakeStripe
let stripe: Stripe
/** Closes the servers a test started besides the fake. */
let closers: Array<() => Promise<void>> = []

const clientOf = (key: string) => new Stripe(key, { host: "127.0.0.1", port: fake.port, protocol: "http", maxNetworkRetries: 0 })

beforeEach(async () => {
  fake = await createFakeStripe()
  stripe = clientOf(fake.secretKey)
})

afterEach(async () => {
  await Promise.all([fake.close(), ...closers.map((close) => close())])
  closers = []
})

/** A top-up of 2 × 11.50 €: its fee, 1.5 % of 23.00 € (34.5 cents, rounded half up) plus 25 cents, is 60 cents. */
const topUp = (overrides: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams => ({
  mode: "payment",
  line_items: [{ price_data: { currency: "eur", unit_amount: 1150, product_data: { name: "Top-up" } }, quantity: 2 }],
  metadata: { wallet: "card:42" },
  success_url: "https://example.org/paid",
  cancel_url: "https://example.org/cancelled",
  client_reference_id: "top-up-1",
  ...overrides,
})

/** A session the holder paid, and its payment intent. */
const paidSession = async () => {
  const created = await stripe.checkout.sessions.create(topUp())
  fake.pay(created.id)
  const session = await stripe.checkout.sessions.retrieve(created.id)
  return { session, paymentIntent: String(session.payment_intent) }
}

const balanceTransactions = async (params: Stripe.BalanceTransactionListParams = {}) =>
  (await stripe.balanceTransactions.list(params)).data.map(({ type, amount, fee, net, source }) => ({ type, amount, fee, net, source }))

describe("checkout sessions", () => {
  it("creates a session as Stripe answers it, and retrieves it", async () => {
    const session = await stripe.checkout.sessions.create(topUp({ customer_email: "holder@example.org" }))
    expect(session).toMatchObject({
      object: "checkout.session", livemode: false, mode: "payment", status: "open", payment_status: "unpaid", amount_total: 2300,
      currency: "eur", metadata: { wallet: "card:42" }, success_url: "https://example.org/paid", cancel_url: "https://example.org/cancelled",
      client_reference_id: "top-up-1", payment_intent: null, customer_details: null,
    })
    expect(session.id).toMatch(/^cs_test_[0-9a-f]{24}$/)
    expect(session.url).toBe(`${fake.url}/pay/${session.id}`)
    expect(await stripe.checkout.sessions.retrieve(session.id)).toEqual(session)
    expect(fake.sessions.get(session.id)?.customer_email).toBe("holder@example.org")
  })

  it("refuses a missing, invalid or unknown parameter, naming it", async () => {
    const { success_url: _successUrl, ...withoutSuccessUrl } = topUp()
    const refusals = [
      [withoutSuccessUrl, "success_url"],
      [topUp({ line_items: [{ price_data: { currency: "eur", unit_amount: 12.5, product_data: { name: "Top-up" } }, quantity: 1 }] }), "line_items[0][price_data][unit_amount]"],
      [topUp({ line_items: [{ price_data: { currency: "eur", unit_amount: 100, product_data: { name: "Top-up" } }, quantity: 0 }] }), "line_items[0][quantity]"],
      [topUp({ mode: "subscription" }), "mode"],
      [topUp({ locale: "fr" }), "locale"],
    ] as const
    for (const [params, param] of refusals) {
      await expect(stripe.checkout.sessions.create(params)).rejects.toMatchObject({ type: "StripeInvalidRequestError", statusCode: 400, param })
    }
    expect(fake.sessions.size).toBe(0)
    await expect(stripe.checkout.sessions.retrieve("cs_test_nothing")).rejects.toMatchObject({
      type: "StripeInvalidRequestError", statusCode: 404, code: "resource_missing",
    })
  })

  it("replays an idempotency key used with the same request, and refuses it with another", async () => {
    const first = await stripe.checkout.sessions.create(topUp(), { idempotencyKey: "top-up-1" })
    fake.pay(first.id)
    const replay = await stripe.checkout.sessions.create(topUp(), { idempotencyKey: "top-up-1" })
    // Stripe replays the first answer as it was: the session open, though paid since.
    expect(replay).toEqual(first)
    expect(replay.status).toBe("open")
    const other = stripe.checkout.sessions.create(topUp({ client_reference_id: "top-up-2" }), { idempotencyKey: "top-up-1" })
    await expect(other).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError)
    await expect(other).rejects.toMatchObject({ rawType: "idempotency_error", statusCode: 400 })
    expect(fake.sessions.size).toBe(1)
    expect(fake.requests.filter((request) => request.idempotencyKey === "top-up-1")).toHaveLength(3)
  })
})

describe("payments and refunds", () => {
  it("pays a session: paid, and a charge with its fee in the balance", async () => {
    const created = await stripe.checkout.sessions.create(topUp())
    const completed = fake.pay(created.id)
    expect(completed).toMatchObject({ object: "event", type: "checkout.session.completed", livemode: false, pending_webhooks: 1 })
    expect(completed.data.object).toMatchObject({ id: created.id, status: "complete", payment_status: "paid", url: null })
    const session = await stripe.checkout.sessions.retrieve(created.id)
    expect(session).toMatchObject({ status: "complete", payment_status: "paid", payment_intent: expect.stringMatching(/^pi_/) })
    expect(await balanceTransactions()).toEqual([{ type: "charge", amount: 2300, fee: 60, net: 2240, source: expect.stringMatching(/^ch_/) }])
  })

  it("refunds part, then the rest, and refuses a refund beyond", async () => {
    const { paymentIntent } = await paidSession()
    const part = await stripe.refunds.create({ payment_intent: paymentIntent, amount: 1000, metadata: { request: "r1" } })
    expect(part).toMatchObject({ object: "refund", amount: 1000, currency: "eur", payment_intent: paymentIntent, status: "succeeded", metadata: { request: "r1" } })
    const beyond = stripe.refunds.create({ payment_intent: paymentIntent, amount: 1301 })
    await expect(beyond).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError)
    await expect(beyond).rejects.toMatchObject({ param: "amount", message: expect.stringContaining("greater than unrefunded amount on charge (€13.00)") })
    const rest = await stripe.refunds.create({ payment_intent: paymentIntent })
    expect(rest).toMatchObject({ amount: 1300, status: "succeeded", charge: part.charge })
    const again = stripe.refunds.create({ payment_intent: paymentIntent, amount: 1 })
    await expect(again).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError)
    await expect(again).rejects.toMatchObject({ statusCode: 400, code: "charge_already_refunded" })
    expect(await stripe.refunds.retrieve(part.id)).toEqual(part)
    expect(await balanceTransactions()).toEqual([
      { type: "refund", amount: -1300, fee: 0, net: -1300, source: rest.id },
      { type: "refund", amount: -1000, fee: 0, net: -1000, source: part.id },
      { type: "charge", amount: 2300, fee: 60, net: 2240, source: part.charge },
    ])
  })

  it("pages the balance newest first, and filters it by type and source", async () => {
    const { paymentIntent } = await paidSession()
    const refund = await stripe.refunds.create({ payment_intent: paymentIntent, amount: 100 })
    await paidSession()
    const first = await stripe.balanceTransactions.list({ limit: 2 })
    expect(first).toMatchObject({ object: "list", has_more: true, url: "/v1/balance_transactions" })
    expect(first.data.map((transaction) => transaction.type)).toEqual(["charge", "refund"])
    const next = await stripe.balanceTransactions.list({ limit: 2, starting_after: first.data[1]?.id ?? "" })
    expect(next.has_more).toBe(false)
    expect(next.data.map((transaction) => transaction.source)).toEqual([refund.charge])
    expect(await balanceTransactions({ type: "refund" })).toEqual([{ type: "refund", amount: -100, fee: 0, net: -100, source: refund.id }])
    expect(await balanceTransactions({ source: String(refund.charge) })).toHaveLength(1)
    await expect(stripe.balanceTransactions.list({ starting_after: "txn_nothing" })).rejects.toMatchObject({ code: "resource_missing" })
  })

  it("counts nothing of a failed refund", async () => {
    const { paymentIntent } = await paidSession()
    fake.failNextRefund()
    expect(await stripe.refunds.create({ payment_intent: paymentIntent })).toMatchObject({ amount: 2300, status: "failed" })
    expect(await stripe.refunds.create({ payment_intent: paymentIntent })).toMatchObject({ amount: 2300, status: "succeeded" })
    expect(await balanceTransactions({ type: "refund" })).toHaveLength(1)
  })

  it("leaves a delayed payment unpaid until it settles, and refunds nothing of it meanwhile", async () => {
    const created = await stripe.checkout.sessions.create(topUp())
    expect(fake.pay(created.id, { async: true }).data.object).toMatchObject({ status: "complete", payment_status: "unpaid" })
    const paymentIntent = String((await stripe.checkout.sessions.retrieve(created.id)).payment_intent)
    await expect(stripe.refunds.create({ payment_intent: paymentIntent })).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError)
    expect(await balanceTransactions()).toEqual([])
    const settled = fake.settle(created.id, true)
    expect(settled).toMatchObject({ type: "checkout.session.async_payment_succeeded", data: { object: { payment_status: "paid" } } })
    expect(await balanceTransactions()).toHaveLength(1)

    const failing = await stripe.checkout.sessions.create(topUp())
    fake.pay(failing.id, { async: true })
    expect(fake.settle(failing.id, false)).toMatchObject({ type: "checkout.session.async_payment_failed", data: { object: { payment_status: "unpaid" } } })
    expect(await balanceTransactions()).toHaveLength(1)
  })

  it("opens and closes a dispute; a charge disputed and not won is not refunded", async () => {
    const { session, paymentIntent } = await paidSession()
    const created = fake.dispute(session.id)
    expect(created).toMatchObject({ type: "charge.dispute.created", data: { object: {
      object: "dispute", amount: 2300, currency: "eur", payment_intent: paymentIntent, status: "needs_response", reason: "fraudulent",
    } } })
    await expect(stripe.refunds.create({ payment_intent: paymentIntent })).rejects.toMatchObject({ code: "charge_disputed" })
    const closed = fake.disputeClosed(created.data.object.id, "won")
    expect(closed).toMatchObject({ type: "charge.dispute.closed", data: { object: { id: created.data.object.id, status: "won" } } })
    expect(await stripe.refunds.create({ payment_intent: paymentIntent })).toMatchObject({ status: "succeeded" })
  })
})

describe("keys", () => {
  it("lets the restricted key read, and refuses it any write", async () => {
    const { session, paymentIntent } = await paidSession()
    const restricted = clientOf(fake.restrictedKey)
    expect((await restricted.checkout.sessions.retrieve(session.id)).payment_status).toBe("paid")
    expect((await restricted.balanceTransactions.list()).data).toHaveLength(1)
    for (const write of [restricted.checkout.sessions.create(topUp()), restricted.refunds.create({ payment_intent: paymentIntent })]) {
      await expect(write).rejects.toBeInstanceOf(Stripe.errors.StripePermissionError)
    }
    expect(fake.sessions.size).toBe(1)
    expect(await balanceTransactions({ type: "refund" })).toEqual([])
  })

  it("refuses an unknown key", async () => {
    const wrong = clientOf("sk_test_wrong_key")
    const refused = wrong.checkout.sessions.create(topUp())
    await expect(refused).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError)
    await expect(refused).rejects.toMatchObject({ statusCode: 401, message: expect.stringContaining("Invalid API Key provided: sk_test_") })
    expect(fake.sessions.size).toBe(0)
  })

  it("answers 404 for an endpoint it does not fake", async () => {
    await expect(stripe.customers.list()).rejects.toMatchObject({ type: "StripeInvalidRequestError", statusCode: 404 })
  })
})

/** A webhook endpoint that checks each delivery as the project must: the raw body, the signature, the secret. */
const webhookEndpoint = async (secret: string) => {
  const received: Array<{ contentType: string | undefined; event: Stripe.Event }> = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      try {
        const event = stripe.webhooks.constructEvent(Buffer.concat(chunks), request.headers["stripe-signature"] ?? "", secret)
        received.push({ contentType: request.headers["content-type"], event })
        response.writeHead(200).end(event.id)
      } catch (error) {
        response.writeHead(400).end(error instanceof Error ? error.message : String(error))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, received }
}

describe("events and webhooks", () => {
  it("makes events as Stripe's, holding a copy of the object", () => {
    const payout = { id: "po_1", object: "payout", amount: 500 }
    const event = fake.event("payout.paid", payout)
    payout.amount = 0
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_/), object: "event", type: "payout.paid", api_version: Stripe.API_VERSION,
      created: expect.any(Number), livemode: false, data: { object: { id: "po_1", object: "payout", amount: 500 } },
      pending_webhooks: 1, request: { id: null, idempotency_key: null },
    })
  })

  it("delivers an event signed so that the library accepts it, and forged or stale ones it refuses", async () => {
    const endpoint = await webhookEndpoint(fake.webhookSecret)
    const created = await stripe.checkout.sessions.create(topUp())
    const event = fake.pay(created.id)
    expect(await fake.deliver(endpoint.url, event)).toEqual({ status: 200, body: event.id })
    expect(endpoint.received).toEqual([{ contentType: "application/json; charset=utf-8", event: JSON.parse(JSON.stringify(event)) }])

    const forged = await fake.deliver(endpoint.url, event, { secret: "whsec_someone_else" })
    expect(forged).toMatchObject({ status: 400, body: expect.stringContaining("No signatures found matching the expected signature") })
    const stale = await fake.deliver(endpoint.url, event, { timestamp: Math.floor(Date.now() / 1000) - 600 })
    expect(stale).toMatchObject({ status: 400, body: expect.stringContaining("Timestamp outside the tolerance zone") })
    expect(await fake.deliver(endpoint.url, event, { signature: "t=1,v1=00" })).toMatchObject({ status: 400 })
    expect(endpoint.received).toHaveLength(1)
  })
})

describe("an unreachable API", () => {
  it("drops every request while unreachable, and answers again after", async () => {
    const created = await stripe.checkout.sessions.create(topUp())
    fake.unreachable(true)
    await expect(stripe.checkout.sessions.retrieve(created.id)).rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError)
    expect(fake.requests.filter((request) => request.dropped).length).toBeGreaterThan(0)
    fake.unreachable(false)
    expect((await stripe.checkout.sessions.retrieve(created.id)).id).toBe(created.id)
  })
})
