/** The in-process demo festival that `gesell start` runs: every tap answered, books balanced. */
import { describe, expect, it } from "vitest"
import { card, stateOf } from "./federation.js"
import { demoGenesis, demoReaders } from "../transport/demo.js"
import { runFestival } from "../transport/festival.js"

describe("demo festival", () => {
  it("answers every tap, conserves every asset and replays to the same balances", () => {
    const readers = demoReaders((id) => `token-of-${id}`)
    const state = stateOf(demoGenesis("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", readers, 50))
    let clock = 0
    const report = runFestival(state, readers, { taps: 3_000, cards: 50, seed: 7, startMs: 1_732_400_000_000, clockMs: () => clock++, pseudonym: card })
    const answered = [...report.statuses.values()].reduce((a, b) => a + b, 0)
    expect(answered).toBe(3_000)
    expect(report.statuses.get("ok")).toBe(report.transactions)
    expect(report.replayMatches).toBe(true)
    expect(report.txRoot).toMatch(/^[0-9a-f]{64}$/)
    for (const [asset, amount] of report.supply) {
      const held = [...state.wallets.values()].reduce((sum, w) => sum + (w.id.startsWith("issuance:") ? 0 : (w.balances.get(asset as never) ?? 0)), 0)
      expect(held, asset).toBe(amount)
    }
  })
})
