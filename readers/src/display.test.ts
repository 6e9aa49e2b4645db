import { describe, expect, it } from "vitest"
import { formatMinor, parseMinor, renderJson, renderText } from "./display.js"
import { errorCodes, errorText, errorTexts, isRetryable, type RequestFrame } from "./protocol.js"

const sale: RequestFrame = { type: "sale", id: "r1", card: "04a1b2c3", amount: 350 }

describe("amounts", () => {
  it.each([
    [350, "3.50"],
    [5, "0.05"],
    [100, "1.00"],
    [1_000_000_000_000, "10000000000.00"],
  ])("shows %d as %s", (amount, text) => expect(formatMinor(amount)).toBe(text))

  it.each([
    ["3.50", 350],
    ["3,5", 350],
    ["3", 300],
    ["0.05", 5],
    [" 12.3 ", 1230],
  ])("reads %s as %d", (text, amount) => expect(parseMinor(text)).toBe(amount))

  it.each(["", "0", "0.00", "-1", "3.505", "1e3", "abc", "3.50€"])("refuses %j", (text) => expect(parseMinor(text)).toBeUndefined())
})

describe("what the bartender sees", () => {
  it("has a clear, distinct text for every error code of the protocol", () => {
    const texts = errorCodes.map((code) => errorText(code))
    expect(new Set(texts).size).toBe(errorCodes.length)
    for (const code of errorCodes) expect(errorTexts[code].length).toBeGreaterThan(10)
    expect(errorCodes.filter(isRetryable)).toEqual(["overloaded", "unavailable"])
  })

  it("shows a sale: what was paid and what is left", () => {
    const line = renderText({
      event: "result",
      frame: sale,
      result: { type: "result", id: "r1", ok: true, tx: "t1", paid: [{ asset: "raf-gift", amount: 200 }, { asset: "raf-eur", amount: 150 }], balances: [{ asset: "raf-eur", amount: 650 }] },
      doubleTap: false,
      resent: false,
    })
    expect(line).toBe("OK      sale 3.50  card 04a1b2c3  paid raf-gift 2.00, raf-eur 1.50  left raf-eur 6.50  req r1")
  })

  it("shows a refusal with its text and the node's message, and marks a double tap", () => {
    const line = renderText({
      event: "result",
      frame: sale,
      result: { type: "result", id: "r1", ok: false, error: { code: "insufficient_funds", message: "balance 100 < 350" } },
      doubleTap: true,
      resent: false,
    })
    expect(line).toBe("REFUSED sale 3.50  card 04a1b2c3  not enough money on the card [insufficient_funds: balance 100 < 350]  req r1 (double tap: same sale)")
    expect(JSON.parse(renderJson({ event: "refused", card: "zz", why: "no price" }))).toEqual({ event: "refused", card: "zz", why: "no price" })
  })

  it("lists a journal line that could not be read: a request may be lost, a reply is harmless", () => {
    const copy = "/var/lib/gesell-reader/journal.damaged-0123456789abcdef"
    expect(renderText({ event: "unreadable", line: { line: 3, seems: "request", id: "r2", type: "sale", amount: 350 }, copy })).toBe(
      `LOST?   journal line 3 could not be read: a request (sale 3.50); not sent again: if it reached the node it was done, ask the organisers  req r2  (the journal as found: ${copy})`,
    )
    expect(renderText({ event: "unreadable", line: { line: 5, seems: "reply", id: "r1" }, copy })).toBe("UNREAD  journal line 5 could not be read: the reply to a request, which is sent again and answered once  req r1")
    expect(JSON.parse(renderJson({ event: "unreadable", line: { line: 4, seems: "unknown" }, copy }))).toEqual({ event: "unreadable", line: 4, seems: "unknown", copy })
  })
})
