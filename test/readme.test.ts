/** The README's table of commands says what the engine does: each row lists its command's statuses. */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { commandKinds } from "../engine/command.js"
import { statusesOf } from "../engine/execute.js"

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
const common = new Set(["ok", "bad_request", "amount_out_of_range", "conflict"])

describe("README command table", () => {
  it.each(commandKinds)("lists the statuses of %s in order of precedence", (kind) => {
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${kind}\` |`))
    expect(row, `no README row for ${kind}`).toBeDefined()
    const listed = (row ?? "").split("|").at(-2)?.trim() ?? ""
    expect(listed).toBe(statusesOf[kind].filter((status) => !common.has(status)).join(", "))
  })
})

describe("README federation commands", () => {
  it("start every validator and peer pinned to the genesis hash, read from the line the node prints", () => {
    const commands = readme.split("\n").filter((line) => /(cli\.js|gesell) (validator|peer) --engine/.test(line))
    expect(commands.length, "validator and peer commands in the README").toBeGreaterThanOrEqual(4)
    for (const command of commands) expect(command).toMatch(/ --genesis-hash (\$GENESIS|HEX)\b/)
    // The node's line, as test/federation-process.ts reads it too.
    expect(readme).toContain(`GENESIS=$(sed -n 's/^Genesis hash (block 0): //p' fed/node.log)`)
  })
})
