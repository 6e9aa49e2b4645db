/**
 * The node's money endpoints (PROTOCOL.md section 9.5): `POST /v1/refills` starts a refill paid by
 * Stripe Checkout, `POST /v1/stripe/webhook` takes Stripe's word that it was paid, and `/refill` is
 * the page a holder does it from. Without Stripe configured they answer 503 and say so.
 */
import { HttpApiBuilder, HttpServerRequest } from "@effect/platform"
import { Effect } from "effect"
import type Stripe from "stripe"
import type { CardNames } from "../actors/card-key.js"
import { cardWallet } from "../engine/names.js"
import type { LedgerState } from "../engine/state.js"
import { BadRequest, NodeApi, NotFound, problem, TooManyRequests, Unavailable } from "./api.js"
import { clientAddress, RateLimiter } from "./rate-limit.js"
import { refillPage } from "./refill-page.js"
import { createRefillSession, handleWebhook, type RefillOutcome } from "./stripe.js"
import type { RefundDesk } from "./refunds.js"

/** Refills a client address may start per minute, and a card per ten minutes. */
export const refillsPerAddressPerMinute = 10
export const refillsPerCardPer10Minutes = 5

export interface MoneyConfig {
  readonly stripe: Stripe
  readonly webhookSecret: string
  /** The node's public address, where Checkout sends the holder back (`/refill`). */
  readonly publicUrl: string
  /** Bounds of one refill, in cents. */
  readonly refillMin: number
  readonly refillMax: number
  /** Proxies whose `X-Forwarded-For` names the client. */
  readonly trustedProxies: ReadonlySet<string>
}

export interface MoneyDeps {
  /** Undefined when the node has no Stripe keys: refills online are off. */
  readonly config: MoneyConfig | undefined
  readonly federationName: () => string
  readonly cards: CardNames
  readonly state: () => LedgerState
  /** Submits a refill and resolves once committed or refused; rejects when the ledger cannot commit now. */
  readonly submitRefill: (command: { readonly kind: "refill"; readonly wallet: string; readonly amount: number; readonly ref: string }) => Promise<RefillOutcome>
  /** Online refunds; undefined without Stripe. */
  readonly refunds: RefundDesk | undefined
  readonly nowMs: () => number
  readonly log: (line: string) => void
}

const notConfigured = problem(Unavailable, "unavailable", "refills online are not configured on this node (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET)")

const euros = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")} €`

export const moneyGroup = (deps: MoneyDeps) =>
  HttpApiBuilder.group(NodeApi, "money", (handlers) =>
    Effect.sync(() => {
      const byAddress = new RateLimiter(refillsPerAddressPerMinute, 60_000)
      const byCard = new RateLimiter(refillsPerCardPer10Minutes, 10 * 60_000)
      const refundsByAddress = new RateLimiter(refillsPerAddressPerMinute, 60_000)
      const addressOf = (request: HttpServerRequest.HttpServerRequest, config: MoneyConfig) =>
        clientAddress(request.remoteAddress._tag === "Some" ? request.remoteAddress.value : undefined, request.headers["x-forwarded-for"], config.trustedProxies)
      return handlers
        .handle("refill", ({ payload }) =>
          Effect.gen(function* () {
            const config = deps.config
            if (config === undefined) return yield* Effect.fail(notConfigured)
            const request = yield* HttpServerRequest.HttpServerRequest
            const now = deps.nowMs()
            if (!byAddress.allow(addressOf(request, config), now)) return yield* Effect.fail(problem(TooManyRequests, "rate_limited", `at most ${refillsPerAddressPerMinute} refills a minute from one address; retry later`))
            const { amount } = payload
            if (!Number.isSafeInteger(amount) || amount < config.refillMin || amount > config.refillMax) {
              return yield* Effect.fail(problem(BadRequest, "amount_out_of_range", `a refill is of ${euros(config.refillMin)} to ${euros(config.refillMax)}, in cents`, "amount"))
            }
            const id = deps.cards.resolve(payload.card, "card")
            const card = id.ok ? deps.state().cards.get(id.value) : undefined
            // The same answer for a number never printed and a card never registered: nothing to learn.
            if (card === undefined) return yield* Effect.fail(problem(NotFound, "not_found", "no card has this number"))
            if (card.status !== "active") return yield* Effect.fail(problem(BadRequest, "card_blocked", "this card is blocked: it cannot be refilled", "card"))
            if (!byCard.allow(card.pseudonym, now)) return yield* Effect.fail(problem(TooManyRequests, "rate_limited", `at most ${refillsPerCardPer10Minutes} refills of one card in ten minutes; retry later`))
            const session = yield* Effect.tryPromise({
              try: () =>
                createRefillSession(config.stripe, {
                  wallet: cardWallet(card.pseudonym),
                  amount,
                  successUrl: `${config.publicUrl}/refill?session={CHECKOUT_SESSION_ID}`,
                  cancelUrl: `${config.publicUrl}/refill?cancelled=1`,
                  label: `${deps.federationName()}: ${euros(amount)}`,
                }),
              catch: (error) => {
                deps.log(`stripe: cannot create a Checkout Session: ${error instanceof Error ? error.message : String(error)}`)
                return problem(Unavailable, "unavailable", "the payment service cannot be reached: nothing was charged; retry later")
              },
            })
            return { url: session.url }
          }),
        )
        .handle("stripeWebhook", () =>
          Effect.gen(function* () {
            const config = deps.config
            if (config === undefined) return yield* Effect.fail(notConfigured)
            const request = yield* HttpServerRequest.HttpServerRequest
            // The raw body, as Stripe signed it: never a body decoded first.
            const raw = yield* request.text.pipe(Effect.orElseFail(() => problem(BadRequest, "bad_request", "the body cannot be read")))
            const signature = request.headers["stripe-signature"]
            const webhookDeps = { stripe: config.stripe, webhookSecret: config.webhookSecret, refill: deps.submitRefill, log: deps.log }
            const answer = yield* Effect.promise(() => handleWebhook(webhookDeps, raw, signature))
            if (answer.status === 400) return yield* Effect.fail(problem(BadRequest, answer.code, answer.message))
            if (answer.status === 503) return yield* Effect.fail(problem(Unavailable, "unavailable", answer.message))
            return { ok: true as const, code: answer.code, message: answer.message }
          }),
        )
        .handle("refund", ({ payload }) =>
          Effect.gen(function* () {
            const config = deps.config
            const desk = deps.refunds
            if (config === undefined || desk === undefined) return yield* Effect.fail(notConfigured)
            const request = yield* HttpServerRequest.HttpServerRequest
            if (!refundsByAddress.allow(addressOf(request, config), deps.nowMs())) {
              return yield* Effect.fail(problem(TooManyRequests, "rate_limited", `at most ${refillsPerAddressPerMinute} refunds a minute from one address; retry later`))
            }
            // Only a holder with the receipt learns anything: a number without it, a receipt of
            // another card, and a card never refilled online all get the same answer.
            const id = deps.cards.resolve(payload.card, "card")
            const payment = deps.state().payments.get(payload.receipt)
            if (!id.ok || payment === undefined || payment.wallet !== cardWallet(id.value)) {
              return yield* Effect.fail(problem(NotFound, "not_found", "no payment with this receipt for this card"))
            }
            const card = id.value
            return yield* Effect.tryPromise({
              try: () => desk.refundCard(card, payload.receipt),
              catch: () => problem(Unavailable, "unavailable", "the refund could not be recorded now; ask again later: nothing is refunded twice"),
            })
          }),
        )
        .handle("refillPage", () => Effect.succeed(refillPage(deps.federationName(), deps.config)))
    }),
  )
