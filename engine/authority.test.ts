/**
 * Authority (PROTOCOL.md section 9.3): which commands need approvals, whose, and how many; that an
 * approval is worth something only as its key's signature of this very command in this federation;
 * that a command refused for its approvals is not recorded under its request id; and that an
 * approved command's request id is never accepted twice, even after the node forgot its 24 h
 * idempotency records. The replica side (decideAndApply with an Undo) is checked too: a rolled
 * back transaction frees its request id.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { authorityOf, decodeApprovals, signApproval, sortedApprovals, type Approval } from "./authority.js"
import { decodeCommand, type Command } from "./command.js"
import { decideAndApply, forgetRequestsBefore, type Executed } from "./execute.js"
import type { TimeMs, TxId } from "./names.js"
import { Undo } from "./registry.js"
import { decodeTransaction, transactionJson } from "./transaction.js"
import type { Transaction } from "./state.js"
import { day, genesis, genesisCardsCommand, newcomerSigner, Session, spareSigners, stewardSigners, validatorSigner, type Signer, cardOf } from "../test/federation.js"
import { ledgerFromGenesis } from "./genesis.js"
import { ledgerContents } from "../test/ledger-contents.js"

type Raw = Record<string, unknown>

const uid = cardOf("04a1b2c3")
const cardW = `card:${uid}`
const fedMint = (f: Raw = {}): Raw => ({ kind: "mint", asset: "fed", to: cardW, amount: 100, request: "m1", ...f })
const giftMint = (f: Raw = {}): Raw => ({ kind: "mint", asset: "raf-gift", to: cardW, amount: 100, request: "g1", ...f })

const commandOf = (raw: Raw): Command => {
  const decoded = decodeCommand(raw)
  if (!decoded.ok) throw new Error(`test command rejected: ${decoded.field}: ${decoded.message}`)
  return decoded.value
}

/** The approvals of exactly these signers, in this order, of a raw command in this session's federation. */
const signed = (s: Session, raw: Raw, signers: readonly Signer[], genesisHash = s.state.genesisHash): Approval[] =>
  signers.map((signer) => signApproval(signer.key, signer.id, genesisHash, commandOf(raw)))

const [steward1, steward2] = stewardSigners
const bothStewards = [steward1, steward2] as const

const why = (outcome: Executed): string => (outcome.ok ? "ok" : `${outcome.status} on ${outcome.field}: ${outcome.message}`)

describe("a fed mint takes the threshold of the stewards", () => {
  it("without approvals: approvals_missing, nothing changes, and its request id stays free", () => {
    const s = new Session()
    const before = ledgerContents(s.state)
    const refused = s.runWith(fedMint(), undefined)
    expect(refused.status).toBe("approvals_missing")
    expect(refused.ok ? undefined : refused.field).toBe("approvals")
    expect(refused.ok ? "" : refused.message).toContain("2 more of the stewards")
    expect(s.balance(cardW, "fed")).toBe(0)
    expect(s.state.approved.size).toBe(0)
    expect(ledgerContents(s.state)).toEqual(before)
    expect(s.state.requests.size).toBe(0)

    // Given in the reverse of key order: the transaction carries them sorted by key.
    const approvals = signed(s, fedMint(), bothStewards)
    const sorted = [...approvals].sort((a, b) => (a.key < b.key ? -1 : 1))
    const reversed = [...sorted].reverse()
    const done = s.runWith(fedMint(), reversed)
    expect(done.status, why(done)).toBe("ok")
    expect(done.replayed).toBe(false)
    expect(s.balance(cardW, "fed")).toBe(100)
    expect([...s.state.approved]).toEqual(["m1"])
    const tx = done.ok ? done.tx : null
    expect(tx?.approvals).toEqual(sorted)
    expect(tx?.command).toEqual(commandOf(fedMint()))
  })

  it("writes its approvals first in the transaction's canonical text, and reads them back", () => {
    const s = new Session()
    const done = s.runWith(fedMint(), signed(s, fedMint(), [steward2, steward1]))
    expect(done.status, why(done)).toBe("ok")
    const tx = (done.ok ? done.tx : null) as Transaction
    const text = transactionJson(tx)
    const keys = [steward1.id, steward2.id].sort()
    expect(text.startsWith(`{"approvals":[{"key":"${keys[0]}","signature":`)).toBe(true)
    const back = decodeTransaction(JSON.parse(text))
    expect(back.ok && back.value.approvals).toEqual(tx.approvals)
    expect(back.ok && transactionJson(back.value)).toBe(text)
  })

  it("with one steward's approval: approvals_missing, for 1 more of the stewards", () => {
    for (const steward of bothStewards) {
      const s = new Session()
      const before = ledgerContents(s.state)
      const refused = s.runWith(fedMint(), signed(s, fedMint(), [steward]))
      expect(refused.status).toBe("approvals_missing")
      expect(refused.ok ? undefined : refused.field).toBe("approvals")
      expect(refused.ok ? "" : refused.message).toContain("1 more of the stewards")
      expect(ledgerContents(s.state)).toEqual(before)
      expect(s.state.approved.size).toBe(0)
    }
  })

  it("a steward approving twice is refused where approvals enter (decodeApprovals)", () => {
    const s = new Session()
    const one = signed(s, fedMint(), [steward1])
    const decoded = decodeApprovals([...one, ...one])
    expect(decoded.ok).toBe(false)
    expect(decoded.ok ? undefined : decoded.field).toBe("approvals[1].key")
    expect(decodeApprovals(signed(s, fedMint(), bothStewards)).ok).toBe(true)
  })
})

describe("a place's own asset takes one steward", () => {
  it("mints with one steward's approval, either of them", () => {
    for (const steward of bothStewards) {
      const s = new Session()
      const done = s.runWith(giftMint(), signed(s, giftMint(), [steward]))
      expect(done.status, why(done)).toBe("ok")
      expect(s.balance(cardW, "raf-gift")).toBe(100)
      expect(s.state.approved.has("g1")).toBe(true)
      expect(done.ok && done.tx?.approvals).toEqual(signed(s, giftMint(), [steward]))
    }
  })

  it("not with none", () => {
    const s = new Session()
    const refused = s.runWith(giftMint(), undefined)
    expect(refused.status).toBe("approvals_missing")
    expect(refused.ok ? "" : refused.message).toContain("1 more of the stewards")
    expect(s.balance(cardW, "raf-gift")).toBe(0)
  })
})

describe("an approval that proves nothing is refused", () => {
  it("by a key that is not a steward", () => {
    for (const outsider of [newcomerSigner, validatorSigner, ...spareSigners]) {
      const s = new Session()
      const refused = s.runWith(fedMint(), signed(s, fedMint(), [outsider]))
      expect(refused.status).toBe("forbidden")
      expect(refused.ok ? undefined : refused.field).toBe("approvals[0].key")
      expect(s.balance(cardW, "fed")).toBe(0)
    }
  })

  it("even beside the stewards' valid approvals: it is not ignored", () => {
    const s = new Session()
    const refused = s.runWith(fedMint(), signed(s, fedMint(), [steward1, steward2, newcomerSigner]))
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[2].key")
    expect(s.balance(cardW, "fed")).toBe(0)
    expect(s.state.approved.size).toBe(0)
  })

  it("signed over another genesis hash", () => {
    const s = new Session()
    const elsewhere = signed(s, fedMint(), bothStewards, "ab".repeat(32))
    expect(elsewhere.every((approval) => approval.signature !== signed(s, fedMint(), [steward1])[0]?.signature)).toBe(true)
    const refused = s.runWith(fedMint(), elsewhere)
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[0].signature")
    expect(s.balance(cardW, "fed")).toBe(0)
  })

  it("one good approval and one of another federation: the bad one is named", () => {
    const s = new Session()
    const [good] = signed(s, fedMint(), [steward1])
    const [bad] = signed(s, fedMint(), [steward2], "ab".repeat(32))
    const refused = s.runWith(fedMint(), [good as Approval, bad as Approval])
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[1].signature")
  })

  it("of another command: signed for 100, sent for 101", () => {
    const s = new Session()
    const refused = s.runWith(fedMint({ amount: 101 }), signed(s, fedMint({ amount: 100 }), bothStewards))
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[0].signature")
    expect(s.balance(cardW, "fed")).toBe(0)
    expect(s.state.approved.size).toBe(0)
  })

  it("of another request id, or to another wallet", () => {
    for (const other of [fedMint({ request: "m2" }), fedMint({ to: `card:${cardOf("deadbeef")}` })]) {
      const s = new Session()
      const refused = s.runWith(fedMint(), signed(s, other, bothStewards))
      expect(refused.status).toBe("forbidden")
    }
  })

  it("a steward's key with the other steward's signature", () => {
    const s = new Session()
    const [byTwo] = signed(s, fedMint(), [steward2])
    const forged = { key: steward1.id, signature: (byTwo as Approval).signature }
    const refused = s.runWith(fedMint(), [forged, byTwo as Approval])
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[0].signature")
  })

  it("in a state that knows no genesis hash, even signed over the empty one", () => {
    const s = new Session()
    s.state.genesisHash = ""
    const refused = s.runWith(fedMint(), signed(s, fedMint(), bothStewards, ""))
    expect(refused.status).toBe("forbidden")
    expect(s.balance(cardW, "fed")).toBe(0)
  })

  it("is not recorded: the same command with good approvals then succeeds", () => {
    const s = new Session()
    expect(s.runWith(fedMint(), signed(s, fedMint(), [newcomerSigner])).status).toBe("forbidden")
    const done = s.runWith(fedMint(), signed(s, fedMint(), bothStewards))
    expect(done.status, why(done)).toBe("ok")
    expect(done.replayed).toBe(false)
  })
})

describe("an approval is used once", () => {
  it("a retry within the idempotency window answers the first outcome and mints nothing more", () => {
    const s = new Session()
    const approvals = signed(s, fedMint(), bothStewards)
    expect(s.runWith(fedMint(), approvals).status).toBe("ok")
    const again = s.runWith(fedMint(), approvals)
    expect(again.status).toBe("ok")
    expect(again.replayed).toBe(true)
    expect(s.balance(cardW, "fed")).toBe(100)
  })

  it("replayed after the node forgot its request records: conflict, nothing minted twice", () => {
    const s = new Session()
    const approvals = signed(s, fedMint(), bothStewards)
    const done = s.runWith(fedMint(), approvals)
    expect(done.status, why(done)).toBe("ok")
    const supply = s.state.backing
    s.now += 2 * day
    expect(forgetRequestsBefore(s.state, s.now)).toBe(1)
    expect(s.state.requests.size).toBe(0)
    const before = ledgerContents(s.state)
    const replayed = s.runWith(fedMint(), approvals)
    expect(replayed.status).toBe("conflict")
    expect(replayed.ok ? undefined : replayed.field).toBe("request")
    expect(replayed.replayed).toBe(false)
    expect(s.balance(cardW, "fed")).toBe(100)
    expect(s.state.backing).toEqual(supply)
    expect(ledgerContents(s.state)).toEqual(before)
    expect([...s.state.approved]).toEqual(["m1"])
  })

  it("a request id reused for a different approved command: conflict, while the record is kept and after", () => {
    const s = new Session()
    expect(s.runWith(fedMint(), signed(s, fedMint(), bothStewards)).status).toBe("ok")
    const other = fedMint({ amount: 200 })
    const otherApprovals = signed(s, other, bothStewards)
    const whileKept = s.runWith(other, otherApprovals)
    expect(whileKept.status).toBe("conflict")
    expect(s.balance(cardW, "fed")).toBe(100)

    s.now += 2 * day
    forgetRequestsBefore(s.state, s.now)
    const afterForgotten = s.runWith(other, otherApprovals)
    expect(afterForgotten.status).toBe("conflict")
    expect(afterForgotten.ok ? undefined : afterForgotten.field).toBe("request")
    expect(s.balance(cardW, "fed")).toBe(100)

    // Another kind of command under the same request id too.
    const gift = giftMint({ request: "m1" })
    const giftRefused = s.runWith(gift, signed(s, gift, [steward1]))
    expect(giftRefused.status).toBe("conflict")
    expect(s.balance(cardW, "raf-gift")).toBe(0)
  })

  it("a fresh request id for the same mint is a new, separately approved command", () => {
    const s = new Session()
    expect(s.runWith(fedMint(), signed(s, fedMint(), bothStewards)).status).toBe("ok")
    // The old approvals do not carry over to the new id.
    expect(s.runWith(fedMint({ request: "m2" }), signed(s, fedMint(), bothStewards)).status).toBe("forbidden")
    expect(s.runWith(fedMint({ request: "m2" }), signed(s, fedMint({ request: "m2" }), bothStewards)).status).toBe("ok")
    expect(s.balance(cardW, "fed")).toBe(200)
    expect([...s.state.approved].sort()).toEqual(["m1", "m2"])
  })
})

describe("a command that needs approvals carries a request id", () => {
  it("bad_request on request, with or without approvals", () => {
    const s = new Session()
    const raw = fedMint({ request: undefined })
    delete raw["request"]
    const withApprovals = signed(s, raw, bothStewards)
    for (const approvals of [undefined, withApprovals]) {
      const refused = s.runWith(raw, approvals)
      expect(refused.status).toBe("bad_request")
      expect(refused.ok ? undefined : refused.field).toBe("request")
      expect(s.balance(cardW, "fed")).toBe(0)
    }
  })
})

describe("commands that need no approval", () => {
  const fundedWithGift = (s: Session): void => {
    s.must(giftMint({ amount: 500, request: "fund" }))
  }
  interface Case {
    readonly title: string
    readonly raw: Raw
    readonly scene?: (s: Session) => void
    readonly effect: (s: Session) => void
  }
  const cases: readonly Case[] = [
    {
      title: "a reader's revocation",
      raw: { kind: "reader", id: "bar-1", revoke: true },
      effect: (s) => expect(s.state.readers.get("bar-1" as never)?.revoked).toBe(true),
    },
    {
      title: "an operator's block of a card",
      raw: { kind: "block", card: uid, reason: "lost" },
      effect: (s) => expect(s.state.cards.get(uid as never)?.status).toBe("blocked"),
    },
    {
      title: "a reader's sale",
      raw: { kind: "sale", reader: "bar-1", place: "raffinerie", card: uid, amount: 100, asset: "raf-gift", request: "s1" },
      scene: fundedWithGift,
      effect: (s) => expect(s.balance(cardW, "raf-gift")).toBe(400),
    },
  ]

  it.each(cases)("$title succeeds without approvals", ({ raw, scene, effect }) => {
    const s = new Session()
    scene?.(s)
    const approvedBefore = [...s.state.approved]
    expect(authorityOf(s.state, commandOf(raw)).by).toBe("none")
    const done = s.runWith(raw, undefined)
    expect(done.status, why(done)).toBe("ok")
    expect(done.ok && done.tx?.approvals).toBeUndefined()
    expect([...s.state.approved]).toEqual(approvedBefore)
    effect(s)
  })

  it.each(cases)("$title given approvals: bad_request on approvals, nothing changes", ({ raw, scene, effect }) => {
    const s = new Session()
    scene?.(s)
    const before = ledgerContents(s.state)
    const refused = s.runWith(raw, signed(s, raw, [steward1]))
    expect(refused.status).toBe("bad_request")
    expect(refused.ok ? undefined : refused.field).toBe("approvals")
    expect(ledgerContents(s.state)).toEqual(before)
    // Not recorded either: the same request without them succeeds.
    expect(s.runWith(raw, undefined).status).toBe("ok")
    effect(s)
  })

  it("the same sale made by an operator, without a reader, takes one steward", () => {
    const s = new Session()
    fundedWithGift(s)
    const raw = { kind: "sale", place: "raffinerie", card: uid, amount: 100, asset: "raf-gift", request: "s1" }
    expect(s.runWith(raw, undefined).status).toBe("approvals_missing")
    expect(s.balance(cardW, "raf-gift")).toBe(500)
    const done = s.runWith(raw, signed(s, raw, [steward2]))
    expect(done.status, why(done)).toBe("ok")
    expect(s.balance(cardW, "raf-gift")).toBe(400)
  })

  it("creating a reader takes one steward, revoking it none", () => {
    const s = new Session()
    const create = { kind: "reader", id: "bar-9", place: "raffinerie", role: "bar", tokenSha256: "f".repeat(64), request: "r1" }
    expect(s.runWith(create, undefined).status).toBe("approvals_missing")
    expect(s.state.readers.has("bar-9" as never)).toBe(false)
    expect(s.runWith(create, signed(s, create, [steward1])).status).toBe("ok")
    expect(s.state.readers.has("bar-9" as never)).toBe(true)
  })
})

describe("co-optation: validators approve a change of their set, and a newcomer its own joining", () => {
  const join = { kind: "validators", add: newcomerSigner.id, request: "v1" }

  it("with only the validator's approval: approvals_missing naming the newcomer", () => {
    const s = new Session()
    const refused = s.runWith(join, signed(s, join, [validatorSigner]))
    expect(refused.status).toBe("approvals_missing")
    expect(refused.ok ? undefined : refused.field).toBe("approvals")
    expect(refused.ok ? "" : refused.message).toContain(newcomerSigner.id)
    expect(refused.ok ? "" : refused.message).not.toContain("more of the validators")
    expect(s.state.validators.keys).not.toContain(newcomerSigner.id)
    expect(s.state.approved.size).toBe(0)
  })

  it("with only the newcomer's: approvals_missing, for the validators", () => {
    const s = new Session()
    const refused = s.runWith(join, signed(s, join, [newcomerSigner]))
    expect(refused.status).toBe("approvals_missing")
    expect(refused.ok ? "" : refused.message).toContain("1 more of the validators")
    expect(refused.ok ? "" : refused.message).not.toContain(`newcomer ${newcomerSigner.id}`)
    expect(s.state.validators.keys).not.toContain(newcomerSigner.id)
  })

  it("with the validator's and the newcomer's: ok, the newcomer is a validator", () => {
    const s = new Session()
    const done = s.runWith(join, signed(s, join, [newcomerSigner, validatorSigner]))
    expect(done.status, why(done)).toBe("ok")
    expect(s.state.validators.keys).toContain(newcomerSigner.id)
    expect(s.state.approved.has("v1")).toBe(true)
    expect(done.ok && done.tx?.approvals?.map((approval) => approval.key)).toEqual([newcomerSigner.id, validatorSigner.id].sort())
  })

  it("stewards are not validators: their approvals are refused", () => {
    const s = new Session()
    const refused = s.runWith(join, signed(s, join, [validatorSigner, newcomerSigner, steward1]))
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[2].key")
  })

  it("a validator no longer in the set approves nothing", () => {
    const s = new Session()
    expect(s.runWith(join, signed(s, join, [validatorSigner, newcomerSigner])).status).toBe("ok")
    const leave = { kind: "validators", remove: validatorSigner.id, threshold: 1, request: "v2" }
    expect(s.runWith(leave, signed(s, leave, [newcomerSigner])).status).toBe("ok")
    expect(s.state.validators.keys).toEqual([newcomerSigner.id])
    const rules = { kind: "rules", version: 1, from: 10, request: "v3" }
    const refused = s.runWith(rules, signed(s, rules, [validatorSigner]))
    expect(refused.status).toBe("forbidden")
    expect(refused.ok ? undefined : refused.field).toBe("approvals[0].key")
  })
})

describe("the genesis's cards come first, and need no approval (PROTOCOL.md section 9.4)", () => {
  const fromBlock0 = () => new Session(ledgerFromGenesis(genesis()))

  it("refuses anything else until they are registered, whatever approves it", () => {
    const s = fromBlock0()
    for (const raw of [giftMint(), { kind: "refill", wallet: cardW, amount: 100, ref: "pi_early" }, { kind: "sale", place: "raffinerie", reader: "bar-1", card: uid, amount: 1 }]) {
      const approved = s.approve(raw)
      const refused = s.runWith(approved.raw, approved.approvals)
      expect(refused.status).toBe("forbidden")
      expect(refused.ok ? undefined : refused.message).toMatch(/block 0 commits to 5 cards/)
    }
    expect(s.state.approved.size).toBe(0)
    s.must(genesisCardsCommand())
    expect(s.run(giftMint({ request: "after" })).status).toBe("ok")
  })

  it("takes them without approvals, and refuses approvals given to them", () => {
    const s = fromBlock0()
    const command = commandOf(genesisCardsCommand())
    expect(authorityOf(s.state, command)).toEqual({ by: "none" })
    const approvals = [signApproval(stewardSigners[0].key, stewardSigners[0].id, s.state.genesisHash, command)]
    expect(s.runWith({ ...genesisCardsCommand(), request: "c1" }, approvals).status).toBe("bad_request")
    expect(s.runWith(genesisCardsCommand(), undefined).status).toBe("ok")
    expect(authorityOf(s.state, command)).toMatchObject({ by: "stewards", count: 1 })
  })
})

describe("the table of section 9.3", () => {
  const s = new Session()
  s.must(giftMint({ amount: 500, request: "fund" }))
  const stewards = (count: number) => ({ by: "stewards", count, keys: stewardSigners.map((signer) => signer.id) })
  const rows: ReadonlyArray<readonly [Raw, unknown]> = [
    [fedMint(), stewards(2)],
    [giftMint(), stewards(1)],
    [{ kind: "mint", asset: "raf-eur", to: cardW, amount: 1 }, stewards(1)],
    [{ kind: "deposit", place: "raffinerie", amount: 1, ref: "po_1" }, stewards(2)],
    [{ kind: "observers", keys: ["M".repeat(43)] }, stewards(2)],
    [{ kind: "stewards", keys: [steward1.id], threshold: 1 }, stewards(2)],
    [{ kind: "transfer", from: cardW, to: `card:${cardOf("deadbeef")}`, asset: "raf-gift", amount: 1 }, stewards(1)],
    [{ kind: "fusion", card: uid, user: "user:00000000-0000-4000-8000-000000000001" }, stewards(1)],
    [{ kind: "void", card: uid, reason: "lost" }, stewards(1)],
    [{ kind: "void", card: cardOf("deadbeef"), reason: "lost" }, { by: "none" }],
    [{ kind: "reader", id: "bar-1", revoke: true }, { by: "none" }],
    [{ kind: "block", card: uid, reason: "lost" }, { by: "none" }],
    [{ kind: "sale", place: "raffinerie", card: uid, amount: 1 }, stewards(1)],
    [{ kind: "sale", reader: "bar-1", place: "raffinerie", card: uid, amount: 1 }, { by: "none" }],
    [{ kind: "refill", wallet: cardW, amount: 1, ref: "cs_1" }, { by: "none" }],
    [{ kind: "demurrage", wallet: cardW, asset: "fed" }, { by: "none" }],
    [{ kind: "rules", version: 1, from: 10 }, { by: "validators", count: 1, keys: [validatorSigner.id] }],
    [{ kind: "validators", add: newcomerSigner.id }, { by: "validators", count: 1, keys: [validatorSigner.id], newcomer: newcomerSigner.id }],
  ]
  it.each(rows.map(([raw, authority]) => [JSON.stringify(raw), raw, authority] as const))("%s", (_, raw, authority) => {
    expect(authorityOf(s.state, commandOf(raw))).toEqual(authority)
  })
})

describe("property: a fed mint succeeds exactly when both stewards, and only stewards, approve it", () => {
  const known = [...stewardSigners, validatorSigner, newcomerSigner, ...spareSigners]
  const stewardIds = new Set<string>(stewardSigners.map((signer) => signer.id))

  it("for random subsets of the known signers, in random order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(known), fc.boolean(), (chosen, emptyAsList) => {
        const s = new Session()
        const before = ledgerContents(s.state)
        const approvals = chosen.length === 0 && !emptyAsList ? undefined : signed(s, fedMint(), chosen)
        const outcome = s.runWith(fedMint(), approvals)
        const outsider = chosen.findIndex((signer) => !stewardIds.has(signer.id))
        const both = stewardSigners.every((steward) => chosen.includes(steward))
        const expected = outsider >= 0 ? "forbidden" : both ? "ok" : "approvals_missing"
        expect(outcome.status, why(outcome)).toBe(expected)
        if (outsider >= 0) expect(outcome.ok ? undefined : outcome.field).toBe(`approvals[${outsider}].key`)
        expect(outcome.ok).toBe(both && outsider < 0)
        if (outcome.ok) {
          expect(s.balance(cardW, "fed")).toBe(100)
          expect(s.state.approved.has("m1")).toBe(true)
        } else {
          expect(ledgerContents(s.state)).toEqual(before)
          expect(s.state.approved.size).toBe(0)
          expect(s.state.requests.size).toBe(0)
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe("replicas: decideAndApply with the transaction's approvals", () => {
  const at = (s: Session, txId: string) => ({ now: s.now as TimeMs, txId: txId as TxId })

  it("a rolled back approved transaction frees its request id and its money", () => {
    const s = new Session()
    const before = ledgerContents(s.state)
    const command = commandOf(fedMint())
    const approvals = signed(s, fedMint(), bothStewards)
    const undo = new Undo()
    const outcome = decideAndApply(s.state, command, { ...at(s, "r-1"), approvals }, undo)
    expect(outcome.ok).toBe(true)
    expect(outcome.ok && outcome.tx?.approvals).toEqual(sortedApprovals(approvals))
    expect(s.state.approved.has("m1")).toBe(true)
    expect(s.balance(cardW, "fed")).toBe(100)
    // A second transaction of the same request in the same block is refused.
    expect(decideAndApply(s.state, command, { ...at(s, "r-2"), approvals }, undo).ok).toBe(false)

    undo.rollback()
    expect(s.state.approved.has("m1")).toBe(false)
    expect(s.balance(cardW, "fed")).toBe(0)
    expect(ledgerContents(s.state)).toEqual(before)
    // The request id is free again: the block that replaces the rolled back one may carry it.
    expect(decideAndApply(s.state, command, { ...at(s, "r-3"), approvals }, new Undo()).ok).toBe(true)
  })

  it("refuses a transaction whose approvals are lacking, forged or already used", () => {
    const s = new Session()
    const command = commandOf(fedMint())
    const missing = decideAndApply(s.state, command, at(s, "r-1"))
    expect(missing.ok ? "ok" : missing.status).toBe("approvals_missing")
    const forged = decideAndApply(s.state, command, { ...at(s, "r-1"), approvals: signed(s, fedMint({ amount: 7 }), bothStewards) })
    expect(forged.ok ? "ok" : forged.status).toBe("forbidden")
    expect(s.balance(cardW, "fed")).toBe(0)
    const approvals = signed(s, fedMint(), bothStewards)
    expect(decideAndApply(s.state, command, { ...at(s, "r-1"), approvals }).ok).toBe(true)
    const used = decideAndApply(s.state, command, { ...at(s, "r-2"), approvals })
    expect(used.ok ? "ok" : used.status).toBe("conflict")
    expect(s.balance(cardW, "fed")).toBe(100)
  })

  it("a command that fails after its authorization keeps nothing: its request id stays unapproved", () => {
    const s = new Session()
    // Authorized (a place's asset: one steward), but a membership is not minted.
    const raw = giftMint({ asset: "raf-member" })
    const approvals = signed(s, raw, [steward1])
    const outcome = decideAndApply(s.state, commandOf(raw), { ...at(s, "r-1"), approvals }, new Undo())
    expect(outcome.ok ? "ok" : outcome.status).toBe("asset_not_mintable")
    expect(s.state.approved.size).toBe(0)
    // Through execute: the failure is recorded as the request's answer, but nothing is approved.
    const executed = s.runWith(raw, approvals)
    expect(executed.status).toBe("asset_not_mintable")
    expect(s.state.approved.size).toBe(0)
    expect(s.runWith(raw, approvals).replayed).toBe(true)
  })
})
