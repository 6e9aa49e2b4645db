/**
 * Online refunds of fed (PROTOCOL.md section 9.5): the fed a holder refilled through Stripe goes back
 * to the payments it came from. For each payment of the card with something left to refund (the
 * latest refilled first, as far as the node knows their order), and never more than the card still holds:
 * 1. `withdraw` commits the amount out of the card into `fund:refunds` (the ledger checks it against
 *    what remains of that payment);
 * 2. Stripe refunds it, the withdrawal's transaction id as the idempotency key, so that asking again
 *    (after a crash, Stripe out of reach, a retry) never refunds twice;
 * 3. `payback` burns it with the refund's id in `ref` once the refund succeeded, or `restore` puts it
 *    back on the card when Stripe refused it. A refund still pending at Stripe stays pending here,
 *    and is asked about again.
 * Whatever stops between 1 and 3, the ledger still holds the withdrawal as pending: `resume` asks
 * Stripe again for every one of them (at start, and then periodically).
 */
import Stripe from "stripe"
import type { CardId } from "../engine/names.js"
import { cardWallet } from "../engine/names.js"
import { balanceOf, refundable, type LedgerState } from "../engine/state.js"
import { idOf } from "./stripe.js"

/** What the writer answered a command, as the refunds need it. */
export type Committed = { readonly ok: true; readonly tx: string } | { readonly ok: false; readonly status: string; readonly message: string }

export interface RefundDeps {
  readonly stripe: Stripe
  readonly state: () => LedgerState
  /** Submits a command and resolves once it is committed or refused; rejects when the ledger cannot commit now. */
  readonly submit: (command: Record<string, unknown>) => Promise<Committed>
  readonly log: (line: string) => void
}

/** One payment's part of a refund, as the holder or the operator is told. */
export interface RefundPart {
  readonly payment: string
  readonly amount: number
  /** refunded: burnt, Stripe's refund succeeded; pending: Stripe has not said yet (asked again later); restored: Stripe refused, the fed is back. */
  readonly status: "refunded" | "pending" | "restored"
  readonly refund?: string
}

export interface RefundResult {
  readonly parts: readonly RefundPart[]
  /** Fed left on the card that no payment of it can take back online (spent and refilled in cash, gifts…). */
  readonly left: number
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Whether Stripe said no for good (a refund it will never make), rather than "not now". */
const refused = (error: unknown): boolean =>
  error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripePermissionError

export class RefundDesk {
  /** Payments being settled now: a second settle of one waits for the next resume. */
  private readonly settling = new Set<string>()

  constructor(private readonly deps: RefundDeps) {}

  /**
   * Refunds a card's fed to its payments; `only`, a payment's reference, limits it to that one (the
   * holder's receipt). Resolves once every part is refunded, restored or left pending at Stripe.
   */
  async refundCard(card: CardId, only?: string): Promise<RefundResult> {
    const wallet = cardWallet(card)
    const state = this.deps.state()
    let remaining = balanceOf(state, wallet, state.fed)
    const payments = [...state.payments].filter(([ref, payment]) => payment.wallet === wallet && (only === undefined || ref === only)).reverse()
    const parts: RefundPart[] = []
    for (const [ref, payment] of payments) {
      if (remaining === 0) break
      const amount = Math.min(refundable(payment), remaining)
      if (amount <= 0 || payment.pending !== undefined) continue
      const withdrawn = await this.deps.submit({ kind: "withdraw", payment: ref, amount })
      if (!withdrawn.ok) {
        this.deps.log(`refunds: ${ref} not withdrawn: ${withdrawn.status} (${withdrawn.message})`)
        continue
      }
      remaining -= amount
      parts.push(await this.settle(ref, withdrawn.tx, amount))
    }
    return { parts, left: remaining }
  }

  /** Asks Stripe again about every withdrawal the ledger holds as pending. */
  async resume(): Promise<readonly RefundPart[]> {
    const pending = [...this.deps.state().payments].flatMap(([ref, payment]) => (payment.pending === undefined ? [] : [{ ref, ...payment.pending }]))
    const parts: RefundPart[] = []
    for (const { ref, tx, amount } of pending) parts.push(await this.settle(ref, tx, amount))
    return parts
  }

  /** Stripe's refund of one withdrawal, then its `payback` or `restore`. */
  private async settle(ref: string, tx: string, amount: number): Promise<RefundPart> {
    const pending: RefundPart = { payment: ref, amount, status: "pending" }
    if (this.settling.has(ref)) return pending
    this.settling.add(ref)
    try {
      let refund: Stripe.Refund
      try {
        const session = await this.deps.stripe.checkout.sessions.retrieve(ref)
        const paymentIntent = idOf(session.payment_intent)
        if (paymentIntent === undefined) return await this.restore(ref, amount, `session ${ref} names no payment`)
        refund = await this.deps.stripe.refunds.create(
          { payment_intent: paymentIntent, amount, metadata: { withdrawal: tx } },
          { idempotencyKey: `gesell-refund-${tx}` },
        )
      } catch (error) {
        if (refused(error)) return await this.restore(ref, amount, messageOf(error))
        this.deps.log(`refunds: Stripe did not answer for ${ref} (${messageOf(error)}); asked again later`)
        return pending
      }
      if (refund.status === "succeeded") {
        const paid = await this.deps.submit({ kind: "payback", payment: ref, ref: refund.id })
        if (paid.ok || paid.status === "duplicate_ref") return { payment: ref, amount, status: "refunded", refund: refund.id }
        this.deps.log(`refunds: ${ref} refunded by Stripe (${refund.id}) and not burnt: ${paid.status} (${paid.message})`)
        return { ...pending, refund: refund.id }
      }
      if (refund.status === "failed" || refund.status === "canceled") return await this.restore(ref, amount, `Stripe's refund ${refund.id} is ${refund.status}`)
      return { ...pending, refund: refund.id }
    } catch (error) {
      // The ledger could not commit the payback or the restore: the withdrawal stays pending.
      this.deps.log(`refunds: ${ref} stays pending: ${messageOf(error)}`)
      return pending
    } finally {
      this.settling.delete(ref)
    }
  }

  private async restore(ref: string, amount: number, why: string): Promise<RefundPart> {
    const restored = await this.deps.submit({ kind: "restore", payment: ref })
    this.deps.log(`refunds: Stripe refused to refund ${ref} (${why}); ${restored.ok ? "put back on the card" : `not put back: ${restored.status}`}`)
    return { payment: ref, amount, status: restored.ok ? "restored" : "pending" }
  }
}
