// Peer-supplied text in a log line: one line, bounded, no control characters, never half a character.
import { describe, expect, it } from "vitest"
import { logTextCharsMax, oneLine } from "./log-line.js"

describe("oneLine", () => {
  it("keeps plain text as it is", () => {
    expect(oneLine("txRoot: the root is not its transactions'")).toBe("txRoot: the root is not its transactions'")
  })

  it("turns each run of control characters into one space: newlines, ANSI escapes, separators, bidi overrides", () => {
    expect(oneLine("a\r\nb\u001b[31mc\u0000\u007f\u0085d\u2028e\u202ef\u2066g")).toBe("a b [31mc d e f g")
  })

  it("cuts at the bound with an ellipsis, however long the text", () => {
    const line = oneLine("x".repeat(10_000_000))
    expect(line).toBe(`${"x".repeat(logTextCharsMax)}…`)
    expect(oneLine("\n".repeat(10_000))).toBe(" …")
  })

  it("never ends on half of a surrogate pair", () => {
    const line = oneLine(`${"x".repeat(logTextCharsMax - 1)}😀😀`)
    expect(line).toBe(`${"x".repeat(logTextCharsMax - 1)}…`)
  })
})
