/**
 * Payment checkers (PROTOCOL.md section 9.5): the members of the validator set that ask the payment
 * processor about refills and online refunds. A block holding a refill or a refund's evidence is final
 * only with one of their signatures.
 */
import { describe, expect, it } from "vitest"
import { checkSignatures, signBlock } from "./block.js"
import { keyFromSeed, validatorId, type SigningKey } from "./ed25519.js"
import { decodeGenesis } from "./genesis.js"
import type { ValidatorId } from "./names.js"
import { needsPaymentChecker, validatorSetOf } from "./validators.js"
import { genesisDocument, ledgerDocument, Session } from "../test/federation.js"

const signer = (fill: number): { id: ValidatorId; key: SigningKey } => {
  const key = keyFromSeed(new Uint8Array(32).fill(fill)) as SigningKey
  return { id: validatorId(key.publicKeyRaw) as ValidatorId, key }
}
const [a, b, c] = [signer(0x21), signer(0x22), signer(0x23)]
const hash = "ab".repeat(32)
const signed = (...who: Array<typeof a>) => who.map((one) => signBlock(one.key, one.id, hash))
const set = { keys: [a.id, b.id, c.id], threshold: 2, paymentCheckers: [c.id] }

describe("a block holding a refill", () => {
  it("is final only with a payment checker among its threshold of signatures", () => {
    expect(needsPaymentChecker(set, ["sale", "refill"])).toBe(true)
    expect(checkSignatures(hash, signed(a, b), set, true)).toEqual({ code: "threshold", message: expect.stringMatching(/payment checker/) })
    expect(checkSignatures(hash, signed(a, c), set, true)).toBeUndefined()
    // A block without refills, or a set without checkers, needs none.
    expect(needsPaymentChecker(set, ["sale", "topup"])).toBe(false)
    expect(checkSignatures(hash, signed(a, b), set, false)).toBeUndefined()
    expect(needsPaymentChecker({ keys: set.keys, threshold: 2 }, ["refill"])).toBe(false)
  })
})

describe("a block holding an online refund", () => {
  it("needs a payment checker when it holds the refund's evidence (payback), not the withdrawal or its restoring", () => {
    expect(needsPaymentChecker(set, ["withdraw", "payback"])).toBe(true)
    expect(needsPaymentChecker(set, ["withdraw", "restore"])).toBe(false)
    expect(needsPaymentChecker({ keys: set.keys, threshold: 2 }, ["payback"])).toBe(false)
  })
})

describe("the set's payment checkers", () => {
  it("are distinct members of the set, in the genesis and in a set's memo", () => {
    const genesis = (paymentCheckers: unknown) => decodeGenesis({ ...ledgerDocument, validators: { keys: [a.id, b.id], threshold: 1, paymentCheckers } })
    expect(genesis([b.id])).toMatchObject({ ok: true, value: { validators: { keys: [a.id, b.id], threshold: 1, paymentCheckers: [b.id] } } })
    expect(genesis([c.id])).toMatchObject({ ok: false, field: "validators.paymentCheckers" })
    expect(genesis([b.id, b.id])).toMatchObject({ ok: false, field: "validators.paymentCheckers" })
    // None: the set is written as a set without the field, so that its JSON is unchanged.
    expect(genesis([])).toMatchObject({ ok: true, value: { validators: { keys: [a.id, b.id], threshold: 1 } } })
    expect(validatorSetOf({ keys: [a.id, b.id], threshold: 1, paymentCheckers: [b.id] })).toEqual({ keys: [a.id, b.id], threshold: 1, paymentCheckers: [b.id] })
    expect(validatorSetOf({ keys: [a.id, b.id], threshold: 1, paymentCheckers: [c.id] })).toBeUndefined()
  })

  it("lose a checker the members remove from the set", () => {
    const [v] = genesisDocument.validators.keys
    const session = new Session()
    session.state.validators = { keys: [v as ValidatorId, a.id], threshold: 1, paymentCheckers: [a.id] }
    session.signers = [...session.signers, { id: a.id, key: a.key }]
    const removed = session.run({ kind: "validators", remove: a.id })
    expect(removed).toMatchObject({ ok: true, tx: { memo: { keys: [v], threshold: 1 } } })
    expect(session.state.validators).toEqual({ keys: [v], threshold: 1 })
  })
})
