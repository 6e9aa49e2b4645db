/**
 * The decoders at the engine's edge: `decodeCommand`, the name and number decoders of names.ts, and
 * `decodeGenesis`. Each rejection must carry the wire status (`bad_request` or `amount_out_of_range`)
 * and name the field at fault, so that a client can fix its request.
 */
import { describe, expect, it } from "vitest"
import { commandKinds, commandSpecs, decodeCommand, type CommandKind } from "./command.js"
import { fingerprint } from "./execute.js"
import type { JsonValue } from "./state.js"
import { commandJson } from "./transaction.js"
import { decodeGenesis, decodeGenesisInput } from "./genesis.js"
import { cardsCommitment } from "./pseudonyms.js"
import * as limits from "./limits.js"
import {
  decodeAmount,
  decodeAssetId,
  decodeCardUid,
  decodeCount,
  decodeDisplayName,
  decodeExternalRef,
  decodeFederationId,
  decodeFundName,
  decodeLiteral,
  decodePlaceId,
  decodeReaderId,
  decodeRequestId,
  decodeTime,
  decodeTxId,
  decodeValidatorId,
  decodeWalletId,
  isRecord,
  walletKind,
  walletRest,
  type Decoded,
  type RejectStatus,
} from "./names.js"
import { cards, day, genesisDocument, ledgerDocument, Session, users, cardOf } from "../test/federation.js"

type Raw = Record<string, unknown>

/** A rejection as the wire sees it, or "accepted". */
const verdict = (decoded: Decoded<unknown>): { status: RejectStatus; field: string } | "accepted" =>
  decoded.ok ? "accepted" : { status: decoded.status, field: decoded.field }
const badRequest = (field: string) => ({ status: "bad_request", field })
const valueOf = <T>(decoded: Decoded<T>): T | undefined => (decoded.ok ? decoded.value : undefined)

const [user] = users
const stewardKey = "E".repeat(43)
/** The smallest valid command of each kind: its required fields only. */
const minimal: { readonly [K in CommandKind]: Raw } = {
  sale: { kind: "sale", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 100 },
  check: { kind: "check", card: cardOf("04a1b2c3") },
  badge: { kind: "badge", place: "raffinerie", card: cardOf("04a1b2c3") },
  topup: { kind: "topup", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 500, asset: "raf-eur" },
  refund: { kind: "refund", place: "raffinerie", card: cardOf("04a1b2c3") },
  transfer: { kind: "transfer", from: `card:${cardOf("04a1b2c3")}`, to: user, asset: "fed", amount: 1 },
  fusion: { kind: "fusion", card: cardOf("04a1b2c3"), user },
  subscribe: { kind: "subscribe", place: "raffinerie", wallet: `card:${cardOf("04a1b2c3")}`, asset: "raf-member", periodMs: day },
  refill: { kind: "refill", wallet: `card:${cardOf("04a1b2c3")}`, amount: 1000, ref: "pi_1" },
  deposit: { kind: "deposit", place: "raffinerie", amount: 100, ref: "bank-1" },
  withdraw: { kind: "withdraw", payment: "pi_1", amount: 100 },
  payback: { kind: "payback", payment: "pi_1", ref: "re_1" },
  restore: { kind: "restore", payment: "pi_1" },
  exchange: { kind: "exchange", wallet: `card:${cardOf("04a1b2c3")}`, asset: "mana-time", direction: "to_fed", amount: 3 },
  demurrage: { kind: "demurrage", wallet: `card:${cardOf("04a1b2c3")}`, asset: "fed" },
  void: { kind: "void", card: cardOf("04a1b2c3"), reason: "lost" },
  mint: { kind: "mint", asset: "raf-gift", to: `card:${cardOf("04a1b2c3")}`, amount: 100 },
  validators: { kind: "validators" },
  place: { kind: "place", id: "epicerie", name: "L'Épicerie", accepts: [] },
  asset: { kind: "asset", id: "raf-bon", assetKind: "gift", name: "Bon d'achat" },
  reader: { kind: "reader", id: "bar-3" },
  cards: { kind: "cards", cards: [{ card: cardOf("0a0b0c0d") }] },
  block: { kind: "block", card: cardOf("04a1b2c3"), reason: "lost" },
  stewards: { kind: "stewards", keys: [stewardKey], threshold: 1 },
  observers: { kind: "observers", keys: [] },
  rules: { kind: "rules", version: 1, from: 0 },
}
/** Values for the optional fields, so that every field of every kind is exercised. */
const optionalValues: Raw = {
  request: "01JF2K7Q9Z8X",
  reader: "desk-1",
  place: "raffinerie",
  asset: "raf-eur",
  amount: 500,
  ref: "pi_9",
  // The registry's (the decoder alone accepts a revocation with a place, which the command refuses).
  membershipRequired: "raf-member",
  staffRequired: true,
  payout: { iban: "FR7630006000011234567890189", name: "SCIC L'Épicerie" },
  issuer: "raffinerie",
  demurrage: genesisDocument.assets[0]?.demurrage,
  exchange: { fed: 1, local: 1 },
  role: "cashdesk",
  tokenSha256: "f".repeat(64),
  revoke: true,
}
const full = (kind: CommandKind): Raw => {
  const spec: Record<string, { optional: boolean }> = commandSpecs[kind]
  const optional = Object.keys(spec).filter((name) => spec[name]?.optional === true)
  return { ...minimal[kind], ...Object.fromEntries(optional.map((name) => [name, optionalValues[name]])) }
}
const fieldsOf = (kind: CommandKind, optional: boolean): string[] => {
  const spec: Record<string, { optional: boolean }> = commandSpecs[kind]
  return Object.keys(spec).filter((name) => spec[name]?.optional === optional)
}
const amountKinds = commandKinds.filter((kind) => "amount" in commandSpecs[kind])

describe("decodeCommand: shape", () => {
  it.each(commandKinds)("accepts the minimal and the full %s", (kind) => {
    expect(verdict(decodeCommand(minimal[kind]))).toBe("accepted")
    expect(verdict(decodeCommand(full(kind)))).toBe("accepted")
  })

  it.each([
    ["null", null],
    ["an array", [minimal.sale]],
    ["a string", JSON.stringify(minimal.sale)],
    ["a number", 1],
    ["undefined", undefined],
  ])("rejects %s as a command", (_, input) => {
    expect(verdict(decodeCommand(input))).toEqual(badRequest("command"))
  })

  it.each([
    ["an unknown kind", { ...minimal.sale, kind: "pay" }],
    ["a kind in capitals", { ...minimal.sale, kind: "SALE" }],
    ["a missing kind", { place: "raffinerie", card: cardOf("04a1b2c3"), amount: 1 }],
    ["a kind that is not a string", { ...minimal.sale, kind: 1 }],
    ["a transaction kind that is no command", { kind: "sealing" }],
  ])("rejects %s, naming kind", (_, input) => {
    expect(verdict(decodeCommand(input))).toEqual(badRequest("kind"))
  })

  describe.each(commandKinds)("%s", (kind) => {
    it.each(fieldsOf(kind, false))("names the missing required field %s", (field) => {
      const { [field]: _, ...rest } = minimal[kind]
      expect(verdict(decodeCommand(rest))).toEqual(badRequest(field))
    })
    it.each(fieldsOf(kind, true))("accepts without the optional field %s, and rejects it null", (field) => {
      const { [field]: _, ...rest } = full(kind)
      expect(verdict(decodeCommand(rest))).toBe("accepted")
      expect(verdict(decodeCommand({ ...full(kind), [field]: null }))).toEqual(badRequest(field))
    })
    it("names an unknown extra field", () => {
      expect(verdict(decodeCommand({ ...full(kind), colour: "red" }))).toEqual(badRequest("colour"))
    })
  })

  it("builds the fields in spec order whatever the input order, so that the fingerprint is stable", () => {
    const shuffled = { amount: 500, asset: "raf-eur", card: cardOf("04a1b2c3"), place: "raffinerie", kind: "topup", request: "r1", reader: "desk-1" }
    const decoded = valueOf(decodeCommand(shuffled))
    expect(decoded === undefined ? [] : Object.keys(decoded)).toEqual(["kind", "request", "reader", "place", "card", "amount", "asset"])
    const ordered = valueOf(decodeCommand({ kind: "topup", request: "r1", reader: "desk-1", place: "raffinerie", card: cardOf("04a1b2c3"), amount: 500, asset: "raf-eur" }))
    expect(decoded && fingerprint(decoded)).toBe(ordered && fingerprint(ordered))
  })

  it("reports the first failing field in spec order", () => {
    expect(verdict(decodeCommand({ kind: "sale", place: "Bad", card: "bad", amount: 0 }))).toEqual(badRequest("place"))
    expect(verdict(decodeCommand({ kind: "sale", place: "raffinerie", card: "bad", amount: 0 }))).toEqual(badRequest("card"))
  })

  // `name in spec` also finds what every object inherits, so these fields slip through unnoticed.
  it.each(["toString", "constructor", "hasOwnProperty", "__proto__", "valueOf"])(
    "names an unknown extra field called %s ",
    (name) => {
      const input: unknown = JSON.parse(`{"kind":"check","card":"${cardOf("04a1b2c3")}",${JSON.stringify(name)}:"x"}`)
      expect(verdict(decodeCommand(input))).toEqual(badRequest(name))
    },
  )
})

describe("the registry's commands", () => {
  /** Distinct ids of a kind, as many as asked: `p0`, `p1`, … padded to a validator id's length when `width` is given. */
  const ids = (count: number, width = 0): string[] => Array.from({ length: count }, (_, n) => `p${n}`.padStart(width, "A"))
  const staff = { places: ["raffinerie"], roles: ["bar"], until: 1_732_400_000_000 }
  const card = (n: number): string => n.toString(16).padStart(32, "0")

  it.each([
    ["place.accepts", "accepts", limits.acceptsPerPlaceMax, (n: number) => ({ ...minimal.place, accepts: ids(n) })],
    ["cards.cards", "cards", limits.cardsPerTxMax, (n: number) => ({ ...minimal.cards, cards: Array.from({ length: n }, (_, i) => ({ card: card(i + 1) })) })],
    ["stewards.keys", "keys", limits.validatorsMax, (n: number) => ({ ...minimal.stewards, keys: ids(n, 43) })],
    ["observers.keys", "keys", limits.observersMax, (n: number) => ({ ...minimal.observers, keys: ids(n, 43) })],
    ["a staff entry's places", "cards[0].staff.places", limits.staffPlacesMax, (n: number) => ({ ...minimal.cards, cards: [{ card: card(1), staff: { ...staff, places: ids(n) } }] })],
  ] as const)("%s holds at most its bound of entries", (_, field, max, command) => {
    expect(verdict(decodeCommand(command(max)))).toBe("accepted")
    expect(verdict(decodeCommand(command(max + 1)))).toEqual(badRequest(field))
  })

  it.each([
    ["a payout field that is none", { ...minimal.place, payout: { iban: "FR7630006000011234567890189", name: "x", bic: "AGRIFRPP" } }, "payout.bic"],
    ["an IBAN in lowercase", { ...minimal.place, payout: { iban: "fr7630006000011234567890189", name: "x" } }, "payout.iban"],
    ["a payout without its holder's name", { ...minimal.place, payout: { iban: "FR7630006000011234567890189" } }, "payout.name"],
    ["staffRequired that is no boolean", { ...minimal.place, staffRequired: "yes" }, "staffRequired"],
    ["an asset kind that is none", { ...minimal.asset, assetKind: "euro" }, "assetKind"],
    ["a reader role that is none", { ...minimal.reader, role: "manager" }, "role"],
    ["a tokenSha256 of 63 digits", { ...minimal.reader, tokenSha256: "f".repeat(63) }, "tokenSha256"],
    ["a card entry's field that is none", { ...minimal.cards, cards: [{ card: card(1), number: "A1" }] }, "cards[0].number"],
    ["a card entry that is a bare uid", { ...minimal.cards, cards: [card(1)] }, "cards[0]"],
    ["a staff field that is none", { ...minimal.cards, cards: [{ card: card(1), staff: { ...staff, admin: true } }] }, "cards[0].staff.admin"],
    ["a staff role twice", { ...minimal.cards, cards: [{ card: card(1), staff: { ...staff, roles: ["bar", "bar"] } }] }, "cards[0].staff.roles[1]"],
    ["a staff end that is no time", { ...minimal.cards, cards: [{ card: card(1), staff: { ...staff, until: -1 } }] }, "cards[0].staff.until"],
    ["a block reason that is none", { ...minimal.block, reason: "stolen" }, "reason"],
    ["a rules version other than 1", { ...minimal.rules, version: 2 }, "version"],
    ["a rules height that is no count", { ...minimal.rules, from: 1.5 }, "from"],
  ])("rejects %s, naming it", (_, input, field) => {
    expect(verdict(decodeCommand(input))).toEqual(badRequest(field))
  })

  it("accepts staff: null (rights revoked) and any role each once", () => {
    expect(verdict(decodeCommand({ ...minimal.cards, cards: [{ card: card(1), staff: null }] }))).toBe("accepted")
    expect(verdict(decodeCommand({ ...minimal.cards, cards: [{ card: card(1), staff: { ...staff, roles: ["manager", "cashdesk", "bar"] } }] }))).toBe("accepted")
    expect(verdict(decodeCommand({ ...minimal.rules, from: Number.MAX_SAFE_INTEGER }))).toBe("accepted")
  })

  // Replicas decode the command a transaction carries, in its canonical text, and must find the
  // command the node decoded: anything the decoder normalized would make other bytes.
  it.each(commandKinds)("a decoded %s, written as its transaction carries it and decoded again, is the same command", (kind) => {
    for (const input of [minimal[kind], full(kind)]) {
      const decoded = valueOf(decodeCommand(input))
      expect(decoded, JSON.stringify(input)).toBeDefined()
      if (decoded === undefined) continue
      const text = commandJson(decoded as unknown as JsonValue)
      const again = valueOf(decodeCommand(JSON.parse(text)))
      expect(again).toEqual(decoded)
      expect(again && commandJson(again as unknown as JsonValue)).toBe(text)
    }
  })
})

describe("amounts", () => {
  const rejections: ReadonlyArray<readonly [string, unknown, RejectStatus]> = [
    ["0", 0, "amount_out_of_range"],
    ["-0", -0, "amount_out_of_range"],
    ["-1", -1, "amount_out_of_range"],
    ["10^12 + 1", limits.amountMax + 1, "amount_out_of_range"],
    ["1e13", 1e13, "amount_out_of_range"],
    ["2^60", 2 ** 60, "amount_out_of_range"],
    ["MAX_SAFE_INTEGER + 2", Number.MAX_SAFE_INTEGER + 2, "amount_out_of_range"],
    ["-2^60", -(2 ** 60), "amount_out_of_range"],
    ["1.5", 1.5, "bad_request"],
    ["0.5", 0.5, "bad_request"],
    ["10^12 + 0.5", limits.amountMax + 0.5, "bad_request"],
    ['"10"', "10", "bad_request"],
    ["null", null, "bad_request"],
    ["NaN", Number.NaN, "bad_request"],
    ["Infinity", Number.POSITIVE_INFINITY, "bad_request"],
    ["-Infinity", Number.NEGATIVE_INFINITY, "bad_request"],
    ["true", true, "bad_request"],
    ["[10]", [10], "bad_request"],
    ['{"value":10}', { value: 10 }, "bad_request"],
    ["10n", 10n, "bad_request"],
  ]

  it.each(rejections)("decodeAmount rejects %s", (_, value, status) => {
    expect(verdict(decodeAmount(value, "amount"))).toEqual({ status, field: "amount" })
  })
  it.each([1, 2, limits.amountMax - 1, limits.amountMax])("decodeAmount accepts %d", (value) => {
    expect(valueOf(decodeAmount(value, "amount"))).toBe(value)
  })

  describe.each(amountKinds)("%s.amount", (kind) => {
    it.each(rejections)("rejects %s", (_, value, status) => {
      expect(verdict(decodeCommand({ ...full(kind), amount: value }))).toEqual({ status, field: "amount" })
    })
    it.each([1, limits.amountMax])("accepts %d", (value) => {
      expect(valueOf(decodeCommand({ ...full(kind), amount: value }))).toMatchObject({ amount: value })
    })
  })

  it("subscribe.periodMs is a count, not an amount: out of its range it is malformed", () => {
    expect(verdict(decodeCommand({ ...minimal.subscribe, periodMs: 0 }))).toEqual(badRequest("periodMs"))
    expect(verdict(decodeCommand({ ...minimal.subscribe, periodMs: limits.membershipPeriodMsMax + 1 }))).toEqual(badRequest("periodMs"))
    expect(verdict(decodeCommand({ ...minimal.subscribe, periodMs: limits.membershipPeriodMsMax }))).toBe("accepted")
  })
})

describe("names", () => {
  const idDecoders: ReadonlyArray<readonly [string, (value: unknown, field: string) => Decoded<string>]> = [
    ["place", decodePlaceId],
    ["asset", decodeAssetId],
    ["reader", decodeReaderId],
    ["federation", decodeFederationId],
    ["fund", decodeFundName],
  ]
  const goodIds = ["a", "9", "raffinerie", "raf-eur", "0-a-", "x".repeat(limits.nameLengthMax)]
  const badIds: ReadonlyArray<readonly [string, unknown]> = [
    ["upper case", "Raffinerie"],
    ["64 characters", "x".repeat(limits.nameLengthMax + 1)],
    ["empty", ""],
    ["a space", "raf finerie"],
    ["a leading space", " raffinerie"],
    ["a leading dash", "-raf"],
    ["an underscore", "raf_eur"],
    ["an accent", "café"],
    ["a colon", "place:raf"],
    ["a trailing newline", "raffinerie\n"],
    ["a number", 42],
    ["null", null],
  ]

  describe.each(idDecoders)("%s ids", (_, decode) => {
    it.each(goodIds)("accept %j", (id) => expect(valueOf(decode(id, "id"))).toBe(id))
    it.each(badIds)("reject %s", (__, id) => expect(verdict(decode(id, "id"))).toEqual(badRequest("id")))
  })

  it.each([
    ["sale.place", { ...minimal.sale, place: "Raffinerie" }, "place"],
    ["sale.asset", { ...minimal.sale, asset: "x".repeat(64) }, "asset"],
    ["sale.reader", { ...minimal.sale, reader: "" }, "reader"],
    ["badge.place", { ...minimal.badge, place: "la raffinerie" }, "place"],
    ["void.place", { ...minimal.void, place: "Nowhere" }, "place"],
  ])("a command names its malformed id: %s", (_, input, field) => {
    expect(verdict(decodeCommand(input))).toEqual(badRequest(field))
  })

  describe("request ids", () => {
    it.each(["a", "01JF2K7Q9Z8X", "A-z_9", "r".repeat(limits.requestIdLengthMax)])("accept %j", (id) => {
      expect(valueOf(decodeRequestId(id, "request"))).toBe(id)
      expect(valueOf(decodeTxId(id, "id"))).toBe(id)
      expect(verdict(decodeCommand({ ...minimal.sale, request: id }))).toBe("accepted")
    })
    it.each([["65 characters", "r".repeat(limits.requestIdLengthMax + 1)], ["empty", ""], ["a space", "r 1"], ["a dot", "r.1"], ["a number", 1]] as const)(
      "reject %s",
      (_, id) => {
        expect(verdict(decodeRequestId(id, "request"))).toEqual(badRequest("request"))
        expect(verdict(decodeCommand({ ...minimal.sale, request: id }))).toEqual(badRequest("request"))
      },
    )
  })

  describe("card uids", () => {
    it.each(["04a1b2c3", "04a1b2c3d4e5f6", "0102030405060708090a"])("accept %s (4, 7 and 10 bytes)", (uid) => {
      expect(valueOf(decodeCardUid(uid, "card"))).toBe(uid)
    })
    it.each([
      ["5 bytes", "0102030405"],
      ["6 bytes", "010203040506"],
      ["3 bytes", "010203"],
      ["11 bytes", "0102030405060708090a0b"],
      ["an odd length", "04a1b2c3d"],
      ["non-hex", "zzzzzzzz"],
      ["a hex prefix", "0x04a1b2c3"],
      ["colons", "04:a1:b2:c3"],
      ["empty", ""],
      ["a number", 4],
    ] as const)("reject %s", (_, uid) => {
      expect(verdict(decodeCardUid(uid, "card"))).toEqual(badRequest("card"))
      expect(verdict(decodeCommand({ ...minimal.check, card: uid }))).toEqual(badRequest("card"))
    })
    it("accepts any case and keeps the uid lowercase, so that the card's pseudonym is found", () => {
      expect(valueOf(decodeCardUid("04A1b2C3D4E5F6", "card"))).toBe("04a1b2c3d4e5f6")
      expect(cardOf("DEADBEEF")).toBe(cardOf("deadbeef"))
      expect(new Session().run({ kind: "check", card: cardOf("DEADBEEF") }).status).toBe("ok")
    })
    it("are refused by the engine, which names a card by its pseudonym only (PROTOCOL.md section 9.4)", () => {
      for (const uid of ["04a1b2c3", "04a1b2c3d4e5f6", "0102030405060708090a"]) {
        expect(verdict(decodeCommand({ ...minimal.check, card: uid }))).toEqual(badRequest("card"))
        expect(verdict(decodeWalletId(`card:${uid}`, "wallet"))).toEqual(badRequest("wallet"))
      }
      expect(verdict(decodeCommand({ ...minimal.check, card: cardOf("04a1b2c3").toUpperCase() }))).toEqual(badRequest("card"))
      expect(verdict(decodeCommand({ ...minimal.check, card: cardOf("04a1b2c3").slice(1) }))).toEqual(badRequest("card"))
    })
  })

  describe("wallet ids", () => {
    it.each([
      [`card:${cardOf("04a1b2c3")}`, `card:${cardOf("04a1b2c3")}`],
      [user, user],
      ["user:ABCDEF01-2345-4678-89AB-CDEF01234567", "user:abcdef01-2345-4678-89ab-cdef01234567"],
      ["place:raffinerie", "place:raffinerie"],
      ["fund:common", "fund:common"],
      ["fund:maintenance", "fund:maintenance"],
      ["issuance:fed", "issuance:fed"],
    ])("accept %s", (input, stored) => {
      const decoded = valueOf(decodeWalletId(input, "wallet"))
      expect(decoded).toBe(stored)
      if (decoded !== undefined) expect(`${walletKind(decoded)}:${walletRest(decoded)}`).toBe(stored)
    })
    it.each([
      ["a card of 5 bytes", "card:0102030405"],
      ["a card by its uid", "card:04a1b2c3d4e5f6"],
      ["a pseudonym in capitals", `card:${cardOf("04a1b2c3").toUpperCase()}`],
      ["an empty card", "card:"],
      ["a user that is no uuid", "user:not-a-uuid"],
      ["a user uuid one digit short", "user:00000000-0000-4000-8000-00000000000"],
      ["a user uuid without dashes", "user:00000000000040008000000000000001"],
      ["a place in capitals", "place:Raffinerie"],
      ["an empty fund", "fund:"],
      ["an issuance of a malformed asset", "issuance:FED"],
      ["an unknown prefix", "bank:fr76"],
      ["a prefix in capitals", "Card:04a1b2c3"],
      ["no prefix", "04a1b2c3"],
      ["an empty prefix", ":04a1b2c3"],
      ["two colons", "place:raf:x"],
      ["empty", ""],
      ["a number", 7],
      ["null", null],
    ] as const)("reject %s", (_, input) => {
      expect(verdict(decodeWalletId(input, "wallet"))).toEqual(badRequest("wallet"))
    })

    const holders: ReadonlyArray<readonly [CommandKind, string]> = [
      ["transfer", "from"],
      ["transfer", "to"],
      ["subscribe", "wallet"],
      ["refill", "wallet"],
      ["exchange", "wallet"],
      ["demurrage", "wallet"],
      ["mint", "to"],
      ["fusion", "user"],
    ]
    it.each(holders)("%s.%s refuses issuance:", (kind, field) => {
      expect(verdict(decodeCommand({ ...minimal[kind], [field]: "issuance:fed" }))).toEqual(badRequest(field))
    })
    it.each([
      ["transfer", "to", [`card:${cardOf("deadbeef")}`, user, "place:manapany", "fund:common"], []],
      ["subscribe", "wallet", [`card:${cardOf("deadbeef")}`, user], ["place:manapany", "fund:common"]],
      ["refill", "wallet", [`card:${cardOf("deadbeef")}`, user, "place:manapany"], ["fund:common"]],
      ["exchange", "wallet", [`card:${cardOf("deadbeef")}`, user], ["place:manapany", "fund:common"]],
      ["demurrage", "wallet", [`card:${cardOf("deadbeef")}`, user, "place:manapany"], ["fund:common"]],
      ["mint", "to", [`card:${cardOf("deadbeef")}`, user, "place:manapany", "fund:common"], []],
      ["fusion", "user", [user], [`card:${cardOf("deadbeef")}`, "place:manapany", "fund:common"]],
    ] as const)("%s.%s takes only the wallet kinds it allows", (kind, field, allowed, refused) => {
      for (const wallet of allowed) expect(verdict(decodeCommand({ ...minimal[kind], [field]: wallet })), wallet).toBe("accepted")
      for (const wallet of refused) expect(verdict(decodeCommand({ ...minimal[kind], [field]: wallet })), wallet).toEqual(badRequest(field))
    })
  })

  it("literals: void.reason and exchange.direction", () => {
    expect(verdict(decodeCommand({ ...minimal.void, reason: "stolen" }))).toEqual(badRequest("reason"))
    expect(verdict(decodeCommand({ ...minimal.void, reason: "LOST" }))).toEqual(badRequest("reason"))
    expect(verdict(decodeCommand({ ...minimal.exchange, direction: "both" }))).toEqual(badRequest("direction"))
    expect(verdict(decodeLiteral("b", "x", ["a", "b"]))).toBe("accepted")
    expect(verdict(decodeLiteral("toString", "x", ["a", "b"]))).toEqual(badRequest("x"))
  })

  it("external refs: 1 to 255 printable ASCII characters", () => {
    for (const ref of ["pi_3N", "x", "!~", "r".repeat(limits.externalRefLengthMax)]) expect(verdict(decodeExternalRef(ref, "ref")), ref).toBe("accepted")
    for (const ref of ["", " ", "pi 1", "r".repeat(limits.externalRefLengthMax + 1), "pi_é", "pi\t1", 1]) {
      expect(verdict(decodeExternalRef(ref, "ref")), String(ref)).toEqual(badRequest("ref"))
      expect(verdict(decodeCommand({ ...minimal.refill, ref })), String(ref)).toEqual(badRequest("ref"))
    }
  })

  it("validator ids: the base64url of 32 bytes, 43 characters", () => {
    const key = genesisDocument.validators.keys[0] ?? ""
    expect(verdict(decodeValidatorId(key, "key"))).toBe("accepted")
    for (const bad of [`${key}=`, key.slice(1), `+${key.slice(1)}`, `/${key.slice(1)}`, "", 1]) {
      expect(verdict(decodeValidatorId(bad, "key")), String(bad)).toEqual(badRequest("key"))
    }
  })

  it("counts, times and display names", () => {
    expect(verdict(decodeCount(0, "n", 0, 3))).toBe("accepted")
    expect(verdict(decodeCount(3, "n", 0, 3))).toBe("accepted")
    for (const bad of [-1, 4, 1.5, Number.NaN, "1", null]) expect(verdict(decodeCount(bad, "n", 0, 3)), String(bad)).toEqual(badRequest("n"))
    expect(verdict(decodeCount(Number.MAX_SAFE_INTEGER + 2, "n", 0, Number.MAX_SAFE_INTEGER + 2))).toEqual(badRequest("n"))
    for (const time of [0, 1_732_400_000_000, 8.64e15]) expect(verdict(decodeTime(time, "t")), String(time)).toBe("accepted")
    for (const bad of [-1, 8.64e15 + 1, 1.5, "0", null]) expect(verdict(decodeTime(bad, "t")), String(bad)).toEqual(badRequest("t"))
    expect(verdict(decodeDisplayName("é", "name"))).toBe("accepted")
    expect(verdict(decodeDisplayName("n".repeat(limits.displayNameLengthMax), "name"))).toBe("accepted")
    for (const bad of ["", "n".repeat(limits.displayNameLengthMax + 1), 1]) expect(verdict(decodeDisplayName(bad, "name"))).toEqual(badRequest("name"))
  })

  it("isRecord: plain objects only", () => {
    expect([{}, { a: 1 }, Object.create(null)].map(isRecord)).toEqual([true, true, true])
    expect([null, [], "x", 1, undefined].map(isRecord)).toEqual([false, false, false, false, false])
  })
})

describe("decodeGenesis", () => {
  type Doc = typeof genesisDocument
  /** The fixture's document with one change. */
  const variant = (change: (doc: Doc) => void): unknown => {
    const doc = structuredClone(genesisDocument)
    change(doc)
    return doc
  }
  const asset = (doc: Doc, id: string): Record<string, unknown> => {
    const found = doc.assets.find((a) => a.id === id)
    if (found === undefined) throw new Error(`no asset ${id} in the fixture`)
    return found as Record<string, unknown>
  }

  it("accepts the fixture's document as gesell start takes it, its cards by uid", () => {
    const decoded = valueOf(decodeGenesisInput(genesisDocument))
    expect(decoded?.genesis.federation.id).toBe("reunion")
    expect(decoded?.genesis.assets.map((a) => a.id)).toEqual(genesisDocument.assets.map((a) => a.id))
    expect(decoded?.genesis.places.find((p) => p.id === "raffinerie")?.accepts).toEqual(["raf-gift", "raf-eur", "fed"])
    expect(decoded?.genesis.readers).toHaveLength(genesisDocument.readers.length)
    expect(decoded?.cards[0]).toEqual({ uid: "04a1b2c3", number: "A1B2C3D4" })
    expect(decoded?.genesis.validators.threshold).toBe(1)
  })

  it("lowercases card uids", () => {
    const decoded = valueOf(decodeGenesisInput(variant((doc) => doc.cards.push({ uid: "0A0B0C0D" }))))
    expect(decoded?.cards.at(-1)).toEqual({ uid: "0a0b0c0d" })
  })

  it("takes block 0's document with its cards by their commitment, and never a list of uids", () => {
    expect(valueOf(decodeGenesis(ledgerDocument))?.cards).toEqual(cardsCommitment(cards))
    expect(valueOf(decodeGenesis({ ...ledgerDocument, cards: undefined }))?.cards).toEqual(cardsCommitment([]))
    const refused = (doc: unknown) => {
      const decoded = decodeGenesis(doc)
      return decoded.ok ? undefined : decoded.field
    }
    expect(refused(genesisDocument)).toBe("cards")
    expect(refused({ ...ledgerDocument, cards: [] })).toBe("cards")
    expect(refused({ ...ledgerDocument, cards: { count: 5, sha256: "AB".repeat(32) } })).toBe("cards.sha256")
    expect(refused({ ...ledgerDocument, cards: { count: 0, sha256: "ab".repeat(32) } })).toBe("cards.sha256")
    expect(refused({ ...ledgerDocument, cards: { count: -1, sha256: "ab".repeat(32) } })).toBe("cards.count")
    expect(refused({ ...ledgerDocument, cards: { count: 5, sha256: "ab".repeat(32), uids: [] } })).toBe("cards.uids")
  })

  it.each([
    ["not an object", () => [], "genesis"],
    ["two fed assets", variant((doc) => doc.assets.push({ ...structuredClone(doc.assets[0]!), id: "fed-2" })), "assets"],
    [
      "no fed asset",
      variant((doc) => {
        doc.assets = doc.assets.filter((a) => a.kind !== "fed")
        for (const place of doc.places) place.accepts = place.accepts.filter((a) => a !== "fed")
      }),
      "assets",
    ],
    ["a fed asset with an issuer", variant((doc) => (asset(doc, "fed")["issuer"] = "raffinerie")), "assets[0].issuer"],
    ["a gift asset without issuer", variant((doc) => delete asset(doc, "raf-gift")["issuer"]), "assets[2].issuer"],
    ["an asset issued by an unknown place", variant((doc) => (asset(doc, "raf-gift")["issuer"] = "nowhere")), "assets[2].issuer"],
    ["an unknown asset kind", variant((doc) => (asset(doc, "raf-gift")["kind"] = "voucher")), "assets[2].kind"],
    ["duplicate asset ids", variant((doc) => (asset(doc, "mana-pts")["id"] = "mana-time")), "assets[5].id"],
    ["an unknown accepted asset", variant((doc) => doc.places[2]!.accepts.push("nope")), "places[2].accepts[1]"],
    ["an asset accepted twice", variant((doc) => doc.places[0]!.accepts.push("fed")), "places[0].accepts"],
    ["duplicate place ids", variant((doc) => (doc.places[2]!.id = "manapany")), "places[2].id"],
    ["a malformed place id", variant((doc) => (doc.places[1]!.id = "Manapany")), "places[1].id"],
    ["a reader of an unknown place", variant((doc) => (doc.readers[3]!.place = "nowhere")), "readers[3].place"],
    ["a tokenSha256 in capitals", variant((doc) => (doc.readers[0]!.tokenSha256 = "A".repeat(64))), "readers[0].tokenSha256"],
    ["a tokenSha256 of 63 digits", variant((doc) => (doc.readers[1]!.tokenSha256 = "a".repeat(63))), "readers[1].tokenSha256"],
    ["a reader role that is not one", variant((doc) => (doc.readers[1]!.role = "admin")), "readers[1].role"],
    ["duplicate reader ids", variant((doc) => (doc.readers[1]!.id = "bar-1")), "readers[1].id"],
    ["threshold 0", variant((doc) => (doc.validators.threshold = 0)), "validators.threshold"],
    ["threshold above the number of keys", variant((doc) => (doc.validators.threshold = 2)), "validators.threshold"],
    ["no validator key", variant((doc) => (doc.validators.keys = [])), "validators.keys"],
    ["a validator key twice", variant((doc) => doc.validators.keys.push(doc.validators.keys[0]!)), "validators.keys"],
    ["a malformed validator key", variant((doc) => (doc.validators.keys[0] = "not-a-key")), "validators.keys[0]"],
    [
      "a demurrage policy with all shares 0",
      variant((doc) => (asset(doc, "fed")["demurrage"] = { ...genesisDocument.assets[0]!.demurrage, shares: { place: 0, fund: 0, maintenance: 0 } })),
      "assets[0].demurrage.shares",
    ],
    [
      "a percent rule of 0 basis points",
      variant((doc) => (asset(doc, "fed")["demurrage"] = { ...genesisDocument.assets[0]!.demurrage, rule: { kind: "percent", basisPoints: 0 } })),
      "assets[0].demurrage.rule.basisPoints",
    ],
    [
      "a demurrage period of 0",
      variant((doc) => (asset(doc, "fed")["demurrage"] = { ...genesisDocument.assets[0]!.demurrage, periodMs: 0 })),
      "assets[0].demurrage.periodMs",
    ],
    ["an exchange term above its bound", variant((doc) => (asset(doc, "raf-eur")["exchange"] = { fed: 1, local: limits.exchangeRateTermMax + 1 })), "assets[1].exchange.local"],
    ["an exchange term of 0", variant((doc) => (asset(doc, "raf-eur")["exchange"] = { fed: 0, local: 1 })), "assets[1].exchange.fed"],
    ["a malformed card uid", variant((doc) => (doc.cards[1]!.uid = "0102030405")), "cards[1].uid"],
    ["a malformed card number", variant((doc) => (doc.cards[1]!.number = "B 2")), "cards[1].number"],
    ["a federation id in capitals", variant((doc) => (doc.federation.id = "Reunion")), "federation.id"],
    ["an empty federation name", variant((doc) => (doc.federation.name = "")), "federation.name"],
  ])("rejects %s, naming the path", (_, input, field) => {
    const raw = typeof input === "function" ? input() : input
    expect(verdict(decodeGenesisInput(raw))).toEqual(badRequest(field))
  })

  // `unique` names `${field}[i].id`, but a card's key is `uid`.
  it("names a duplicate card uid by its path, cards[i].uid", () => {
    const duplicate = variant((doc) => doc.cards.push({ uid: "DEADBEEF" }))
    expect(verdict(decodeGenesisInput(duplicate))).toEqual(badRequest(`cards[${genesisDocument.cards.length}].uid`))
  })
  it("rejects a duplicate card uid, whatever its case", () => {
    const duplicate = variant((doc) => doc.cards.push({ uid: "DEADBEEF" }))
    expect(verdict(decodeGenesisInput(duplicate))).toMatchObject({ status: "bad_request" })
  })
})
