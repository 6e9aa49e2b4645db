import { describe, expect, it } from "vitest"
import { parseCommand } from "./terminal.js"

describe("terminal commands", () => {
  it.each([
    ["price 3.50", { kind: "price", amount: 350 }],
    ["p 2", { kind: "price", amount: 200 }],
    ["topup 20.00 raf-eur", { kind: "topup", amount: 2000, asset: "raf-eur" }],
    ["topup 20", { kind: "topup", amount: 2000, asset: undefined }],
    ["refund", { kind: "refund" }],
    ["CHECK", { kind: "check" }],
    ["04A1B2C3", { kind: "tap", uid: "04a1b2c3" }],
    ["04a1b2c3d4e5f6", { kind: "tap", uid: "04a1b2c3d4e5f6" }],
  ])("reads %j", (line, command) => expect(parseCommand(line, true)).toEqual(command))

  it("ignores empty lines and explains the others", () => {
    expect(parseCommand("   ", true)).toBeUndefined()
    expect(parseCommand("price", true)).toMatchObject({ kind: "unknown" })
    expect(parseCommand("price -1", true)).toMatchObject({ kind: "unknown" })
    expect(parseCommand("04a1b2", true)).toMatchObject({ kind: "unknown" })
    expect(parseCommand("04a1b2c3", false)).toEqual({ kind: "unknown", text: "card uids are taps only with --source stdin" })
  })
})
