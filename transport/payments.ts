/**
 * What a validator that checks payments asks the payment processor (PROTOCOL.md section 9.5): about
 * a refill, whether the payment its `ref` names was made, of that amount, for that wallet; about an
 * online refund (`payback`), whether the refund its `ref` names succeeded, of that amount, from that
 * payment. The processor is an interface: the next step plugs Stripe in (a restricted, read-only key
 * retrieving the Checkout Session or the refund); until then `paymentsFile` stands in for it, a JSON
 * file of what the processor did, `{"<ref>": {"amount": CENTS, "wallet": ID}}` for a payment and
 * `{"<ref>": {"amount": CENTS, "payment": REF}}` for a refund, read anew at each question so that an
 * operator (or a test) adds to it while the validator runs.
 */
import { readFile } from "node:fs/promises"
import { isRecord } from "../engine/names.js"

export type PaymentQuestion =
  | { readonly kind: "payment"; readonly ref: string; readonly amount: number; readonly wallet: string }
  | { readonly kind: "refund"; readonly ref: string; readonly amount: number; readonly payment: string }

/** Undefined when the payment is as asked; otherwise what is wrong, in a few words. */
export type PaymentChecker = (question: PaymentQuestion) => Promise<string | undefined>

export const paymentsFile =
  (file: string): PaymentChecker =>
  async (question) => {
    const { ref, amount } = question
    let payments: unknown
    try {
      payments = JSON.parse(await readFile(file, "utf8")) as unknown
    } catch (error) {
      return `the payments cannot be read: ${error instanceof Error ? error.message : String(error)}`
    }
    const what = question.kind
    const made = isRecord(payments) && Object.hasOwn(payments, ref) ? payments[ref] : undefined
    if (!isRecord(made)) return `no ${what} ${ref}`
    if (made["amount"] !== amount) return `${what} ${ref} is of ${String(made["amount"])}, not ${amount}`
    if (question.kind === "payment" && made["wallet"] !== question.wallet) return `payment ${ref} is for another wallet`
    if (question.kind === "refund" && made["payment"] !== question.payment) return `refund ${ref} is of another payment`
    return undefined
  }
