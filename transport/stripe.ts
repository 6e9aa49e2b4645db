/**
 * Money in through Stripe (PROTOCOL.md section 9.5), reached only through the `stripe` library:
 * - a refill starts as a Checkout Session (mode payment, currency eur) whose metadata name the
 *   card's wallet by its pseudonym and the refill's id: the card's uid never goes to Stripe;
 * - Stripe's webhook, its signature verified by the library over the raw body, commits one `refill`
 *   per paid session (`ref` = the session id), whatever the number, order or concurrency of its
 *   deliveries: the engine refuses a reference used twice, and that refusal is the answer "already
 *   committed". A paid session the engine cannot credit (a card voided meanwhile) is refunded
 *   through Stripe, never lost. The node answers 2xx only once the refill is committed (or refunded):
 *   Stripe retries otherwise, and its retries are the only ones;
 * - a payment checker (a validator with a restricted, read-only key) retrieves a refill's session,
 *   or an online refund's refund, and says what is wrong with it, if anything.
 * STRIPE_API_URL points the library at another host (a local fake in the tests).
 */
import { randomBytes } from "node:crypto"
import Stripe from "stripe"
import { decodeWalletId, walletKind } from "../engine/names.js"
import type { PaymentChecker, PaymentQuestion } from "./payments.js"

/** The id of what a Stripe object names: an id, or the object itself when it was expanded. */
export const idOf = (field: string | { readonly id: string } | null | undefined): string | undefined => (typeof field === "string" ? field : field?.id)

/** Stripe's own recommendation: a webhook signed more than five minutes ago is refused. */
export const webhookToleranceSeconds = 300

/** The `stripe` library pointed at Stripe, or at `apiUrl` (scheme, host and port) when given. */
export const stripeClient = (key: string, apiUrl: string | undefined, options: { readonly maxNetworkRetries?: number } = {}): Stripe => {
  const config: Stripe.StripeConfig = { maxNetworkRetries: options.maxNetworkRetries ?? 2, timeout: 15_000, telemetry: false }
  if (apiUrl !== undefined) {
    const url = new URL(apiUrl)
    const protocol = url.protocol === "http:" ? "http" : "https"
    config.protocol = protocol
    config.host = url.hostname
    config.port = url.port === "" ? (protocol === "http" ? 80 : 443) : Number(url.port)
  }
  return new Stripe(key, config)
}

export interface RefillRequest {
  /** The card's wallet, `card:<pseudonym>`. */
  readonly wallet: string
  readonly amount: number
  /** Where Checkout sends the holder back: `{CHECKOUT_SESSION_ID}` is replaced by Stripe. */
  readonly successUrl: string
  readonly cancelUrl: string
  /** What the holder reads on Checkout's page. */
  readonly label: string
}

/** A new refill's Checkout Session: its id and the URL to send the holder to. */
export const createRefillSession = async (stripe: Stripe, request: RefillRequest): Promise<{ readonly id: string; readonly url: string }> => {
  const refill = randomBytes(12).toString("hex")
  const session = await stripe.checkout.sessions.create(
    {
      mode: "payment",
      line_items: [{ quantity: 1, price_data: { currency: "eur", unit_amount: request.amount, product_data: { name: request.label } } }],
      metadata: { wallet: request.wallet, refill },
      success_url: request.successUrl,
      cancel_url: request.cancelUrl,
    },
    // The refill's id: a retry of this very call (the library's own) creates no second session.
    { idempotencyKey: `gesell-refill-${refill}` },
  )
  if (session.url === null) throw new Error(`Stripe made session ${session.id} without a URL`)
  return { id: session.id, url: session.url }
}

/** What the engine answered a refill, as the webhook needs it. */
export type RefillOutcome = { readonly ok: true } | { readonly ok: false; readonly status: string; readonly message: string }

export interface WebhookDeps {
  readonly stripe: Stripe
  readonly webhookSecret: string
  /** Submits the refill and resolves once it is committed (or refused); rejects when the ledger cannot commit now. */
  readonly refill: (command: { readonly kind: "refill"; readonly wallet: string; readonly amount: number; readonly ref: string }) => Promise<RefillOutcome>
  readonly log: (line: string) => void
}

export interface WebhookAnswer {
  /** 200: done (or nothing to do); 400: not from Stripe; 503: not done, Stripe retries. */
  readonly status: 200 | 400 | 503
  readonly code: string
  readonly message: string
}

const answer = (status: WebhookAnswer["status"], code: string, message: string): WebhookAnswer => ({ status, code, message })

/** A refill's session as its metadata and amounts say, or why it is not one of ours. */
const refillOf = (session: Stripe.Checkout.Session): { wallet: string; amount: number } | string => {
  const wallet = session.metadata?.["wallet"]
  if (session.metadata?.["refill"] === undefined || wallet === undefined) return "not a refill of this federation"
  const decoded = decodeWalletId(wallet, "metadata.wallet")
  if (!decoded.ok || walletKind(decoded.value) !== "card") return `metadata.wallet ${JSON.stringify(wallet)} is not a card's wallet`
  if (session.currency !== "eur") return `a payment in ${String(session.currency)}, not eur`
  const amount = session.amount_total
  if (amount === null || !Number.isSafeInteger(amount) || amount <= 0) return `an amount of ${String(amount)}`
  return { wallet: decoded.value, amount }
}

/**
 * One delivery of Stripe's webhook, its body as received. Never throws: every outcome is an answer,
 * and only a 200 tells Stripe to stop retrying.
 */
export const handleWebhook = async (deps: WebhookDeps, rawBody: string, signature: string | undefined): Promise<WebhookAnswer> => {
  let event: Stripe.Event
  try {
    if (signature === undefined) return answer(400, "bad_signature", "no Stripe-Signature header")
    event = deps.stripe.webhooks.constructEvent(rawBody, signature, deps.webhookSecret, webhookToleranceSeconds)
  } catch (error) {
    return answer(400, "bad_signature", `the signature does not verify: ${error instanceof Error ? error.message : String(error)}`)
  }
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
      return paidSession(deps, event.data.object)
    case "checkout.session.async_payment_failed":
      deps.log(`stripe: the payment of session ${event.data.object.id} failed; nothing refilled`)
      return answer(200, "ignored", "the payment failed: nothing to refill")
    default:
      return answer(200, "ignored", `${event.type} is not handled`)
  }
}

const paidSession = async (deps: WebhookDeps, session: Stripe.Checkout.Session): Promise<WebhookAnswer> => {
  if (session.mode !== "payment") return answer(200, "ignored", "not a payment")
  const refill = refillOf(session)
  if (typeof refill === "string") return answer(200, "ignored", `session ${session.id}: ${refill}`)
  // A delayed payment method completes the session unpaid: its async_payment_succeeded comes later.
  if (session.payment_status !== "paid") return answer(200, "waiting", `session ${session.id} is not paid yet`)
  let outcome: RefillOutcome
  try {
    outcome = await deps.refill({ kind: "refill", wallet: refill.wallet, amount: refill.amount, ref: session.id })
  } catch (error) {
    return answer(503, "unavailable", `the refill is not committed (${error instanceof Error ? error.message : String(error)}): Stripe retries`)
  }
  if (outcome.ok) return answer(200, "committed", `session ${session.id}: ${refill.amount} cents refilled`)
  if (outcome.status === "duplicate_ref") return answer(200, "committed", `session ${session.id} was refilled already`)
  // Paid, but the engine cannot credit it (the card was voided meanwhile, the supply is full…): the
  // money goes back to the payer. The session's id keys the refund: one refund, however many deliveries.
  return refundSession(deps, session, `${outcome.status}: ${outcome.message}`)
}

const refundSession = async (deps: WebhookDeps, session: Stripe.Checkout.Session, why: string): Promise<WebhookAnswer> => {
  const paymentIntent = idOf(session.payment_intent)
  if (paymentIntent === undefined) {
    deps.log(`stripe: session ${session.id} is paid, refused by the ledger (${why}), and names no payment to refund: an operator must refund it`)
    return answer(200, "refund_needed", `session ${session.id} cannot be refunded without its payment`)
  }
  try {
    const refund = await deps.stripe.refunds.create(
      { payment_intent: paymentIntent, metadata: { session: session.id } },
      { idempotencyKey: `gesell-refill-refund-${session.id}` },
    )
    deps.log(`stripe: session ${session.id} refused by the ledger (${why}); refunded (${refund.id}, ${refund.status ?? "pending"})`)
    return answer(200, "refunded", `session ${session.id}: refunded, the ledger refused it (${why})`)
  } catch (error) {
    return answer(503, "unavailable", `session ${session.id} must be refunded and Stripe did not answer (${error instanceof Error ? error.message : String(error)}): Stripe retries`)
  }
}

/** Whether a Stripe error says "try again later" rather than "no". */
const transient = (error: unknown): boolean =>
  error instanceof Stripe.errors.StripeConnectionError ||
  error instanceof Stripe.errors.StripeAPIError ||
  error instanceof Stripe.errors.StripeRateLimitError ||
  (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500)

/**
 * A payment checker backed by Stripe: a refill's `ref` must be a Checkout Session paid in eur of that
 * amount for that wallet; a payback's, a succeeded refund of that amount of that session's payment.
 * Stripe out of reach, or answering 5xx, makes it wait and ask again (never a rejection): `wait` is
 * the pause between attempts.
 */
export const stripeChecker =
  (stripe: Stripe, wait: (attempt: number) => Promise<void>, log: (line: string) => void): PaymentChecker =>
  async (question) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await checkWithStripe(stripe, question)
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) {
          return `no ${question.kind === "payment" ? "Checkout Session" : "refund"} ${question.ref} at Stripe`
        }
        if (!transient(error)) return `Stripe refused the question: ${error instanceof Error ? error.message : String(error)}`
        log(`stripe: cannot reach Stripe to check ${question.ref} (attempt ${attempt}: ${error instanceof Error ? error.message : String(error)}); asking again`)
        await wait(attempt)
      }
    }
  }

const checkWithStripe = async (stripe: Stripe, question: PaymentQuestion): Promise<string | undefined> => {
  if (question.kind === "payment") {
    const session = await stripe.checkout.sessions.retrieve(question.ref)
    if (session.payment_status !== "paid") return `session ${question.ref} is ${session.payment_status}, not paid`
    if (session.currency !== "eur") return `session ${question.ref} is in ${String(session.currency)}, not eur`
    if (session.amount_total !== question.amount) return `session ${question.ref} is of ${String(session.amount_total)}, not ${question.amount}`
    if (session.metadata?.["wallet"] !== question.wallet) return `session ${question.ref} is for another wallet`
    return undefined
  }
  const refund = await stripe.refunds.retrieve(question.ref)
  if (refund.status !== "succeeded") return `refund ${question.ref} is ${String(refund.status)}, not succeeded`
  if (refund.amount !== question.amount) return `refund ${question.ref} is of ${refund.amount}, not ${question.amount}`
  const session = await stripe.checkout.sessions.retrieve(question.payment)
  const paid = idOf(session.payment_intent)
  const refunded = idOf(refund.payment_intent)
  if (paid === undefined || paid !== refunded) return `refund ${question.ref} is not of session ${question.payment}'s payment`
  return undefined
}
