/**
 * The reply frames of the reader protocol against the contract's bound of 16,384 bytes: a card holds
 * at most walletAssetsMax assets, so the longest reply the node can make (every asset id 63
 * characters long, every amount at its bound) still fits. And `wallet_full` reaches the hub as itself.
 */
import { describe, expect, it } from "vitest"
import { decodeCommand, type Command } from "../engine/command.js"
import * as limits from "../engine/limits.js"
import type { AssetId, TimeMs, TxId, WalletId } from "../engine/names.js"
import { setMembership, walletFor, type LedgerState, type Leg, type Transaction } from "../engine/state.js"
import { cards, ledger } from "../test/federation.js"
import { codeOf, errorFrame, resultFrame } from "./wire.js"

const [uid] = cards
const cardW = `card:${uid}` as WalletId
/** An asset id of the longest form: 63 characters. */
const longAsset = (n: number): AssetId => `${String(n).padStart(2, "0")}-${"x".repeat(limits.nameLengthMax - 3)}` as AssetId
const longestId = "r".repeat(limits.requestIdLengthMax)

const command = (raw: Record<string, unknown>): Command => {
  const decoded = decodeCommand({ place: "raffinerie", reader: "desk-1", request: longestId, card: uid, ...raw })
  if (!decoded.ok) throw new Error(decoded.message)
  return decoded.value
}

/** The fixture's card holding walletAssetsMax assets, each at the largest balance there can be. */
const fullCard = (memberships: number): LedgerState => {
  const state = ledger()
  const wallet = walletFor(state, cardW)
  for (let n = 0; n < limits.walletAssetsMax; n++) {
    if (n < memberships) setMembership(wallet, longAsset(n), Number.MAX_SAFE_INTEGER as TimeMs)
    else wallet.balances.set(longAsset(n), limits.supplyMax)
  }
  return state
}

/** A sale paid from as many assets as a place may accept, each leg at the largest amount. */
const widestSale = (): Transaction => {
  const legs: Leg[] = Array.from({ length: limits.acceptsPerPlaceMax }, (_, n) => ({
    asset: longAsset(n),
    from: cardW,
    to: "place:raffinerie" as WalletId,
    amount: limits.amountMax,
  }))
  return { id: "t".repeat(64) as TxId, kind: "sale", time: 0 as TimeMs, legs }
}

const bytes = (text: string): number => Buffer.byteLength(text)

describe("reply frames", () => {
  it("a card holding as many assets as it may gets sale, check and topup replies within replyBytesMax", () => {
    const state = fullCard(0)
    const ok = { ok: true, status: "ok", tx: widestSale(), replayed: false } as const
    const sale = resultFrame(longestId, command({ kind: "sale", amount: 100 }), ok, state)
    const check = resultFrame(longestId, command({ kind: "check" }), { ok: true, status: "ok", tx: null, replayed: false }, state)
    const topup = resultFrame(longestId, command({ kind: "topup", amount: 100, asset: longAsset(0) }), ok, state)
    expect(JSON.parse(sale)).toMatchObject({ ok: true })
    expect((JSON.parse(sale) as { balances: unknown[] }).balances).toHaveLength(limits.walletAssetsMax)
    expect((JSON.parse(sale) as { paid: unknown[] }).paid).toHaveLength(limits.acceptsPerPlaceMax)
    for (const reply of [sale, check, topup]) expect(bytes(reply)).toBeLessThanOrEqual(limits.replyBytesMax)
    // Longer than a request frame: a hub that accepted only frameBytesMax would drop these.
    for (const reply of [sale, check, topup]) expect(bytes(reply)).toBeGreaterThan(limits.frameBytesMax)
  })

  it("balances and memberships together: a check of a card holding both within replyBytesMax", () => {
    const state = fullCard(limits.walletAssetsMax / 2)
    const check = JSON.parse(resultFrame(longestId, command({ kind: "check" }), { ok: true, status: "ok", tx: null, replayed: false }, state)) as { balances: unknown[]; memberships: unknown[] }
    expect([check.balances.length, check.memberships.length]).toEqual([limits.walletAssetsMax / 2, limits.walletAssetsMax / 2])
    expect(bytes(JSON.stringify(check))).toBeLessThanOrEqual(limits.replyBytesMax)
  })

  it("wallet_full is the contract's own code", () => {
    expect(codeOf("wallet_full")).toBe("wallet_full")
    const refused = resultFrame(longestId, command({ kind: "topup", amount: 100, asset: "raf-eur" }), { ok: false, status: "wallet_full", message: "full", replayed: false }, ledger())
    expect(JSON.parse(refused)).toEqual(JSON.parse(errorFrame(longestId, "wallet_full", "full")))
  })
})
