/**
 * What a validator that checks payments asks about a refill (PROTOCOL.md section 9.5): whether the
 * payment its `ref` names was made, of that amount, for that wallet. The processor is an interface:
 * the next step plugs Stripe in (a restricted, read-only key retrieving the Checkout Session); until
 * then `paymentsFile` stands in for it, a JSON file `{"<ref>": {"amount": CENTS, "wallet": ID}}` of
 * the payments made, read anew at each question so that an operator (or a test) adds to it while the
 * validator runs.
 */
import { readFile } from "node:fs/promises"
import { isRecord } from "../engine/names.js"

export interface PaymentQuestion {
  readonly ref: string
  readonly amount: number
  readonly wallet: string
}

/** Undefined when the payment is as asked; otherwise what is wrong, in a few words. */
export type PaymentChecker = (question: PaymentQuestion) => Promise<string | undefined>

export const paymentsFile =
  (file: string): PaymentChecker =>
  async ({ ref, amount, wallet }) => {
    let payments: unknown
    try {
      payments = JSON.parse(await readFile(file, "utf8")) as unknown
    } catch (error) {
      return `the payments cannot be read: ${error instanceof Error ? error.message : String(error)}`
    }
    const payment = isRecord(payments) && Object.hasOwn(payments, ref) ? payments[ref] : undefined
    if (!isRecord(payment)) return `no payment ${ref}`
    if (payment["amount"] !== amount) return `payment ${ref} is of ${String(payment["amount"])}, not ${amount}`
    if (payment["wallet"] !== wallet) return `payment ${ref} is for another wallet`
    return undefined
  }
