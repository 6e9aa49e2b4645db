/**
 * The undo log of re-execution (`Undo`): a replica that checks a proposal, or meets a fault half-way
 * through a block, rolls back what the block's commands changed, and must find its ledger exactly
 * as it was: balances, memberships, melted times, last activity, cards' status, wallet and staff
 * rights, places, assets, readers, refs, backing, validators, stewards, observers and rules. A
 * rollback that forgets one of them leaves the replica on another ledger than the node's, and the
 * next block it checks is judged against the wrong state.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { commandKinds, decodeCommand } from "./command.js"
import { decideAndApply } from "./execute.js"
import type { TimeMs, TxId } from "./names.js"
import { Undo } from "./registry.js"
import { transactionJson } from "./transaction.js"
import { cards, day, Session, t0, users, cardOf } from "../test/federation.js"
import { ledgerContents } from "../test/ledger-contents.js"
import { commandSequence, open } from "../test/random-commands.js"

type Raw = Record<string, unknown>

const [uid, , , other] = cards
const cardW = `card:${uid}`
const [user] = users

/** A ledger where every kind of change has something to change: money, a membership, staff, a fused card. */
const preparedSession = (): Session => {
  const s = new Session()
  open(s)
  return s
}

/**
 * Runs raw commands the way a replica re-executes a block: decided and applied with one undo log,
 * each at its own time and id. Answers the canonical texts of the transactions made, and their kinds.
 */
const runBlock = (s: Session, commands: ReadonlyArray<readonly [Raw, number]>, undo: Undo | undefined): { texts: string[]; kinds: string[] } => {
  const texts: string[] = []
  const kinds: string[] = []
  commands.forEach(([raw, wait], index) => {
    s.now += wait
    const approved = s.approve(raw, `undo-${index}`)
    const command = decodeCommand(approved.raw)
    if (!command.ok) return
    const outcome = decideAndApply(s.state, command.value, { now: s.now as TimeMs, txId: `undo-${index}` as TxId, approvals: approved.approvals }, undo)
    if (!outcome.ok || outcome.tx === null) return
    texts.push(transactionJson(outcome.tx))
    kinds.push(outcome.tx.kind)
  })
  return { texts, kinds }
}

describe("Undo", () => {
  it("rolls back what one block of commands of every kind changed, exactly; the same commands then make the same transactions", () => {
    const committed = new Set<string>()
    fc.assert(
      fc.property(commandSequence(30), commandSequence(25), (history, block) => {
        const s = preparedSession()
        for (const [raw, wait] of history) {
          s.now += wait
          s.run(raw)
        }
        const before = ledgerContents(s.state)
        const start = s.now
        const undo = new Undo()
        const first = runBlock(s, block, undo)
        for (const kind of first.kinds) committed.add(kind)
        undo.rollback()
        expect(ledgerContents(s.state)).toEqual(before)
        // Nothing the contents leave out (an order, a wallet opened empty) changes what the engine decides.
        s.now = start
        expect(runBlock(s, block, undefined).texts).toEqual(first.texts)
      }),
      { numRuns: 200, seed: 4 },
    )
    // Guards the generator: every kind that makes a transaction was rolled back at least once.
    expect([...committed].sort()).toEqual(commandKinds.filter((kind) => kind !== "check").sort())
  })

  it("rolls back a card that changed as a wallet and as a card in one block (a card record is both)", () => {
    const s = preparedSession()
    const before = ledgerContents(s.state)
    const undo = new Undo()
    // Its balance changes first (kept as a wallet), then its wallet and status (kept as a card).
    const { kinds } = runBlock(
      s,
      [
        [{ kind: "sale", place: "raffinerie", card: uid, amount: 100 }, 1_000],
        [{ kind: "fusion", card: uid, user }, 0],
        [{ kind: "block", card: uid, reason: "lost" }, 0],
        [{ kind: "cards", cards: [{ card: uid, staff: { places: ["manapany"], roles: ["cashdesk"], until: t0 + day } }] }, 0],
      ],
      undo,
    )
    expect(kinds).toEqual(["sale", "fusion", "block", "cards"])
    expect(s.state.cards.get(uid as never)).toMatchObject({ wallet: user, status: "blocked" })
    undo.rollback()
    expect(ledgerContents(s.state)).toEqual(before)
    expect(s.state.cards.get(uid as never)).toMatchObject({ wallet: cardW, status: "active", staff: undefined })
  })

  it("rolls back a card's changes made before its balances changed", () => {
    const s = preparedSession()
    const before = ledgerContents(s.state)
    const undo = new Undo()
    // Its staff rights change first (kept as a card), then its balance (kept as a wallet).
    const { kinds } = runBlock(
      s,
      [
        [{ kind: "cards", cards: [{ card: other, staff: null }] }, 0],
        [{ kind: "topup", place: "manapany", card: other, asset: "mana-time", amount: 10 }, 0],
        [{ kind: "void", card: other, reason: "voided", place: "manapany" }, 0],
      ],
      undo,
    )
    expect(kinds).toEqual(["cards", "topup", "void"])
    undo.rollback()
    expect(ledgerContents(s.state)).toEqual(before)
  })

  it("rolls back registered cards, places, assets and readers to their absence", () => {
    const s = preparedSession()
    const before = ledgerContents(s.state)
    const undo = new Undo()
    const { kinds } = runBlock(
      s,
      [
        [{ kind: "place", id: "epicerie", name: "L'Épicerie", accepts: ["fed"] }, 0],
        [{ kind: "asset", id: "epi-bon", assetKind: "gift", name: "Bon", issuer: "epicerie" }, 0],
        [{ kind: "reader", id: "bar-3", place: "epicerie", role: "bar", tokenSha256: "f".repeat(64) }, 0],
        [{ kind: "cards", cards: [{ card: cardOf("0a0b0c0d") }] }, 0],
        [{ kind: "mint", asset: "epi-bon", to: `card:${cardOf("0a0b0c0d")}`, amount: 10 }, 0],
        [{ kind: "refill", wallet: `card:${cardOf("0a0b0c0d")}`, amount: 10, ref: "pi_new" }, 0],
        [{ kind: "sale", place: "epicerie", reader: "bar-3", card: cardOf("0a0b0c0d"), amount: 10 }, 0],
      ],
      undo,
    )
    expect(kinds).toEqual(["place", "asset", "reader", "cards", "mint", "refill", "sale"])
    undo.rollback()
    expect(ledgerContents(s.state)).toEqual(before)
    expect(s.state.cards.has("0a0b0c0d" as never)).toBe(false)
  })
})

describe("Undo of a wallet's opening", () => {
  it("closes the wallets a rolled-back block opened: a replica that only checked a block holds no more wallets than before", () => {
    const s = preparedSession()
    const newcomer = "user:7b0f4e3a-2c1d-4e5f-8a9b-0c1d2e3f4a5b"
    const before = s.state.wallets.size
    expect(s.state.wallets.has(newcomer as never)).toBe(false)
    const undo = new Undo()
    const { kinds } = runBlock(s, [[{ kind: "transfer", from: cardW, to: newcomer, asset: "fed", amount: 1, request: "open-1" }, 1]], undo)
    expect(kinds, "the transfer applied").toEqual(["transfer"])
    expect(s.state.wallets.has(newcomer as never)).toBe(true)
    undo.rollback()
    expect(s.state.wallets.has(newcomer as never)).toBe(false)
    expect(s.state.wallets.size).toBe(before)
  })
})
