/**
 * The layering of ARCHITECTURE.md section 2: engine/ imports nothing of the project outside
 * itself and nothing that does IO. The linter enforces it too; this test says it in one place.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const engineDir = new URL("../engine/", import.meta.url).pathname
const sources = readdirSync(engineDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
const importsOf = (file: string): string[] =>
  [...readFileSync(join(engineDir, file), "utf8").matchAll(/^\s*(?:import|export)[^"']*?from\s+["']([^"']+)["']/gm)].map((m) => m[1] ?? "")

describe("engine layering", () => {
  it("finds the engine's sources", () => expect(sources.length).toBeGreaterThan(10))
  it.each(sources)("%s imports only engine modules, effect, canonicalize, ibantools and node:crypto", (file) => {
    // ibantools checks a payout account's IBAN: pure functions, deterministic, no IO.
    const allowed = (specifier: string) => specifier.startsWith("./") || ["effect", "canonicalize", "ibantools", "node:crypto"].includes(specifier)
    expect(importsOf(file).filter((specifier) => !allowed(specifier)), `what ${file} may not import`).toEqual([])
  })
})
