/**
 * The webhook's decisions on what Stripe says, with the real `stripe` library's signatures: what is
 * not a refill of this federation is acknowledged and never credited; a ledger that cannot commit
 * makes Stripe retry.
 */
import Stripe from "stripe"
import { describe, expect, it } from "vitest"
import { handleWebhook, type RefillOutcome, type WebhookDeps } from "./stripe.js"

const secret = "whsec_unit"
const stripe = new Stripe("sk_test_unit", { telemetry: false })
const wallet = `card:${"ab".repeat(16)}`

const session = (fields: Record<string, unknown>) => ({
  id: "cs_test_unit",
  object: "checkout.session",
  mode: "payment",
  payment_status: "paid",
  currency: "eur",
  amount_total: 1_500,
  payment_intent: "pi_unit",
  metadata: { wallet, refill: "r1" },
  ...fields,
})

/** One signed delivery of `object` as a checkout.session.completed event; the refills asked for. */
const deliver = async (object: Record<string, unknown>, refill: (command: object) => Promise<RefillOutcome> = async () => ({ ok: true })) => {
  const asked: object[] = []
  const payload = JSON.stringify({ id: "evt_unit", object: "event", type: "checkout.session.completed", data: { object } })
  const deps: WebhookDeps = { stripe, webhookSecret: secret, refill: (command) => (asked.push(command), refill(command)), log: () => undefined }
  const answer = await handleWebhook(deps, payload, stripe.webhooks.generateTestHeaderString({ payload, secret }))
  return { answer, asked }
}

describe("Stripe's webhook", () => {
  it("credits a paid refill session with what was paid, its id as the reference", async () => {
    const { answer, asked } = await deliver(session({}))
    expect(answer).toMatchObject({ status: 200, code: "committed" })
    expect(asked).toEqual([{ kind: "refill", wallet, amount: 1_500, ref: "cs_test_unit" }])
  })

  it("acknowledges and never credits a session that is not a refill of this federation", async () => {
    for (const object of [
      session({ metadata: {} }),
      session({ metadata: { wallet: "place:raffinerie", refill: "r1" } }),
      session({ currency: "usd" }),
      session({ amount_total: null }),
      session({ mode: "subscription" }),
    ]) {
      const { answer, asked } = await deliver(object)
      expect(answer.status).toBe(200)
      expect(answer.code).toBe("ignored")
      expect(asked).toEqual([])
    }
  })

  it("answers 503 while the ledger cannot commit, so that Stripe retries", async () => {
    const { answer } = await deliver(session({}), () => Promise.reject(new Error("overloaded")))
    expect(answer).toMatchObject({ status: 503, code: "unavailable" })
  })

  it("refuses a body changed after signing", async () => {
    const payload = JSON.stringify({ id: "evt_unit", type: "checkout.session.completed", data: { object: session({}) } })
    const signature = stripe.webhooks.generateTestHeaderString({ payload, secret })
    const deps: WebhookDeps = { stripe, webhookSecret: secret, refill: () => Promise.reject(new Error("never asked")), log: () => undefined }
    expect(await handleWebhook(deps, payload.replace("1500", "9500"), signature)).toMatchObject({ status: 400, code: "bad_signature" })
  })
})
