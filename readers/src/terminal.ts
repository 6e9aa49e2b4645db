/**
 * The bartender's and cashier's commands typed on the hub's terminal, one a line: the price of the
 * next taps, the next cash-desk action, and (with the simulated source) a card uid as a tap.
 */
import { parseMinor } from "./display.js"
import { normalizeUid } from "./hub.js"

export type Command =
  | { readonly kind: "price"; readonly amount: number }
  | { readonly kind: "topup"; readonly amount: number; readonly asset: string | undefined }
  | { readonly kind: "refund" }
  | { readonly kind: "check" }
  | { readonly kind: "tap"; readonly uid: string }
  | { readonly kind: "status" }
  | { readonly kind: "help" }
  | { readonly kind: "unknown"; readonly text: string }

export const terminalHelp = [
  "price 3.50          every tap at the bar is a sale of 3.50 from now on",
  "topup 20.00 [ASSET] (cash desk) the next tap tops the card up",
  "refund              (cash desk) the next tap refunds the card",
  "check               (cash desk) the next tap shows the card's balances",
  "status              the link, the journal, the price",
  "04a1b2c3…           (simulated source) a tap of this card uid",
].join("\n")

/** The command of one line; undefined for an empty line. */
export const parseCommand = (line: string, uidsAllowed: boolean): Command | undefined => {
  const words = line.trim().split(/\s+/).filter((word) => word !== "")
  const [verb, first, second] = words
  if (verb === undefined) return undefined
  const amount = first === undefined ? undefined : parseMinor(first)
  switch (verb.toLowerCase()) {
    case "price":
    case "p":
      return amount === undefined || words.length !== 2 ? { kind: "unknown", text: "price takes one amount, like `price 3.50`" } : { kind: "price", amount }
    case "topup":
      return amount === undefined || words.length > 3 ? { kind: "unknown", text: "topup takes an amount and maybe an asset, like `topup 20.00 raf-eur`" } : { kind: "topup", amount, asset: second }
    case "refund":
    case "check":
    case "status":
    case "help":
      return words.length === 1 ? { kind: verb.toLowerCase() as "refund" | "check" | "status" | "help" } : { kind: "unknown", text: `${verb} takes nothing after it` }
  }
  const uid = words.length === 1 ? normalizeUid(verb) : undefined
  if (uid !== undefined && uidsAllowed) return { kind: "tap", uid }
  if (uid !== undefined) return { kind: "unknown", text: "card uids are taps only with --source stdin" }
  return { kind: "unknown", text: `unknown command: ${line.trim()} (type help)` }
}
