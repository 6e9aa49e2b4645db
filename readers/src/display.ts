/**
 * What the bartender sees: one line per tap (its result, the amount, what is left on the card), or
 * one JSON object per line for a till or a test (`--json`). Amounts are integers in minor units and
 * are shown with two decimals (euro cents as euros) by integer arithmetic only.
 */
import type { UnreadableLine } from "./journal.js"
import { errorText, isRetryable, type AssetAmount, type RequestFrame, type Result } from "./protocol.js"

export type HubEvent =
  | { readonly event: "result"; readonly frame: RequestFrame; readonly result: Result; readonly doubleTap: boolean; readonly resent: boolean }
  | { readonly event: "waiting"; readonly frame: RequestFrame }
  | { readonly event: "retry"; readonly frame: RequestFrame; readonly code: string; readonly delayMs: number }
  | { readonly event: "expired"; readonly frame: RequestFrame }
  | { readonly event: "refused"; readonly card: string; readonly why: string }
  | { readonly event: "notice"; readonly text: string }
  | { readonly event: "unreadable"; readonly line: UnreadableLine; readonly copy: string }

/** 350 -> "3.50"; 5 -> "0.05". */
export const formatMinor = (amount: number): string => `${Math.floor(amount / 100)}.${String(amount % 100).padStart(2, "0")}`

/** "3.50", "3,5", "3" -> cents; undefined for anything else (no floats anywhere near money). */
export const parseMinor = (text: string): number | undefined => {
  const match = /^(\d{1,10})(?:[.,](\d{1,2}))?$/.exec(text.trim())
  if (match === null) return undefined
  const cents = Number(match[1]) * 100 + Number((match[2] ?? "0").padEnd(2, "0"))
  return cents >= 1 && Number.isSafeInteger(cents) ? cents : undefined
}

const amounts = (list: readonly AssetAmount[] | undefined): string =>
  list === undefined || list.length === 0 ? "nothing" : list.map(({ asset, amount }) => `${asset} ${formatMinor(amount)}`).join(", ")

/** "sale 3.50", "topup 20.00 raf-eur", "check", "refund". */
export const describeRequest = (frame: RequestFrame): string => {
  switch (frame.type) {
    case "sale":
      return `sale ${formatMinor(frame.amount)}${frame.asset === undefined ? "" : ` ${frame.asset}`}`
    case "topup":
      return `topup ${formatMinor(frame.amount)} ${frame.asset}`
    default:
      return frame.type
  }
}

/** What a journal line that could not be read seems to have held, and what follows for the bar. */
const unreadableLine = ({ line, copy }: Extract<HubEvent, { event: "unreadable" }>): string => {
  const req = line.id === undefined ? "" : `  req ${line.id}`
  const where = `journal line ${line.line} could not be read`
  switch (line.seems) {
    case "reply":
      return `UNREAD  ${where}: the reply to a request, which is sent again and answered once${req}`
    case "reader":
      return `UNREAD  ${where}: the reader it belongs to, recorded again at the next hello`
    default: {
      const what = line.type === undefined ? "" : ` (${line.type}${line.amount === undefined ? "" : ` ${formatMinor(line.amount)}`})`
      const seems = line.seems === "request" ? `a request${what}` : `nothing can be told of it${what}`
      return `LOST?   ${where}: ${seems}; not sent again: if it reached the node it was done, ask the organisers${req}  (the journal as found: ${copy})`
    }
  }
}

/** The status word that opens a result line. */
const statusOf = (result: Result): string => {
  if (result.ok) return "OK"
  if (result.error.code === "bad_request" || result.error.code === "conflict") return "ERROR"
  return "REFUSED"
}

const resultLine = (event: Extract<HubEvent, { event: "result" }>): string => {
  const { frame, result } = event
  const tags = `${event.doubleTap ? " (double tap: same sale)" : ""}${event.resent ? " (resent after a restart)" : ""}`
  const head = `${statusOf(result).padEnd(7)} ${describeRequest(frame)}  card ${frame.card}`
  if (!result.ok) return `${head}  ${errorText(result.error.code)} [${result.error.code}: ${result.error.message}]  req ${frame.id}${tags}`
  const paid = result.paid === undefined ? "" : `  paid ${amounts(result.paid)}`
  const left = result.balances === undefined ? "" : `  left ${amounts(result.balances)}`
  const memberships = result.memberships === undefined || result.memberships.length === 0 ? "" : `  memberships ${result.memberships.map((m) => `${m.asset} until ${new Date(m.until).toISOString()}`).join(", ")}`
  return `${head}${paid}${left}${memberships}  req ${frame.id}${tags}`
}

export const renderText = (event: HubEvent): string => {
  switch (event.event) {
    case "result":
      return resultLine(event)
    case "waiting":
      return `WAIT    ${describeRequest(event.frame)}  card ${event.frame.card}  kept in the journal, waiting for the node: do not tap again  req ${event.frame.id}`
    case "retry":
      return `RETRY   ${describeRequest(event.frame)}  card ${event.frame.card}  ${isRetryable(event.code) ? errorText(event.code) : event.code} in ${formatMinor(Math.round(event.delayMs / 10))} s  req ${event.frame.id}`
    case "expired":
      return `EXPIRED ${describeRequest(event.frame)}  card ${event.frame.card}  older than the node remembers: not resent, ask the organisers whether it was charged  req ${event.frame.id}`
    case "refused":
      return `NO TAP  card ${event.card}  ${event.why}`
    case "notice":
      return `-- ${event.text}`
    case "unreadable":
      return unreadableLine(event)
  }
}

/** The same event as one JSON object, for tills and tests. */
export const renderJson = (event: HubEvent): string => {
  switch (event.event) {
    case "result": {
      const { frame, result } = event
      const outcome = result.ok
        ? { status: "ok", tx: result.tx, paid: result.paid, balances: result.balances, memberships: result.memberships }
        : { status: result.error.code, message: result.error.message, text: errorText(result.error.code) }
      return JSON.stringify({ event: "result", request: frame, ...outcome, doubleTap: event.doubleTap, resent: event.resent })
    }
    case "waiting":
    case "expired":
      return JSON.stringify({ event: event.event, request: event.frame })
    case "retry":
      return JSON.stringify({ event: "retry", request: event.frame, code: event.code, delayMs: event.delayMs })
    case "refused":
      return JSON.stringify({ event: "refused", card: event.card, why: event.why })
    case "notice":
      return JSON.stringify({ event: "notice", text: event.text })
    case "unreadable":
      return JSON.stringify({ event: "unreadable", ...event.line, copy: event.copy })
  }
}
