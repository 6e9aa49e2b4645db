/** The reader directory: a revoked token stops working, and a reader has one token at a time. */
import { describe, expect, it } from "vitest"
import { ReaderDirectoryStore } from "./directory.js"

const bar = { id: "bar-1", place: "raffinerie", role: "bar" } as const

describe("ReaderDirectoryStore", () => {
  it("forgets a revoked reader's token, and an older token when the reader gets a new one", () => {
    const directory = new ReaderDirectoryStore([{ ...bar, tokenSha256: "a".repeat(64), revoked: false }, { ...bar, id: "bar-2", tokenSha256: "b".repeat(64), revoked: true }])
    expect(directory.byToken("a".repeat(64))).toEqual(bar)
    expect(directory.byToken("b".repeat(64))).toBeUndefined()
    directory.add({ ...bar, tokenSha256: "c".repeat(64) })
    expect(directory.byToken("a".repeat(64))).toBeUndefined()
    expect(directory.byToken("c".repeat(64))).toEqual(bar)
    directory.revoke("bar-1")
    expect(directory.byToken("c".repeat(64))).toBeUndefined()
    directory.add({ ...bar, tokenSha256: "d".repeat(64) })
    expect(directory.byToken("d".repeat(64))).toEqual(bar)
  })
})
