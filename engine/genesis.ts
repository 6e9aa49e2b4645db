/**
 * The genesis document (PROTOCOL.md section 6): its decoder, the empty ledger it creates, and the
 * `validators` transaction that carries it in block 0. The decoder checks every name, that ids are
 * unique, that references point at declared things, and that there is exactly one `fed` asset.
 */
import * as limits from "./limits.js"
import { paymentCheckersOf, withCheckers } from "./validators.js"
import { decodeBoolean, decodeKeys, decodeObserverKeys, decodePayout, decodeRulesVersion, rulesVersion } from "./registry.js"
import {
  accept,
  decodeAmount,
  decodeAssetId,
  decodeCardUid,
  decodeCount,
  decodeDisplayName,
  decodeFederationId,
  decodeLiteral,
  decodePlaceId,
  decodeReaderId,
  decodeValidatorId,
  isRecord,
  reject,
  type AssetId,
  type CardId,
  type CardUid,
  type Decoded,
  type FederationId,
  type TimeMs,
  type TxId,
  type ValidatorId,
} from "./names.js"
import { noCards, type CardsCommitment } from "./pseudonyms.js"
import {
  assetKinds,
  Wallets,
  type Asset,
  type CardRecord,
  type DemurragePolicy,
  type ExchangeRate,
  type JsonValue,
  type LedgerState,
  type MeltRule,
  type Place,
  type Reader,
  type Transaction,
  type KeySet,
  type Validators,
} from "./state.js"

export interface Genesis {
  readonly federation: { readonly id: FederationId; readonly name: string }
  /** The version of the rules the federation starts with (PROTOCOL.md section 9.1). */
  readonly rules: number
  readonly validators: Validators
  /** Who approves the federation's operator commands (PROTOCOL.md section 9.3); none when absent. */
  readonly stewards: KeySet | undefined
  /** Members who read transactions without validating (section 9.7). */
  readonly observers: readonly ValidatorId[]
  readonly assets: readonly Asset[]
  readonly places: readonly Place[]
  readonly readers: readonly Reader[]
  /** Block 0 commits to the genesis's cards; their pseudonyms come in the transactions after it (section 9.4). */
  readonly cards: CardsCommitment
}

/** A card as `gesell start --genesis` takes it: by uid, with the number printed on it. */
export interface GenesisCard {
  readonly uid: CardUid
  readonly number?: string
}

/** Thrown only inside this module to stop at the first rejection; never escapes it. */
class Stop {
  constructor(readonly rejection: Extract<Decoded<never>, { ok: false }>) {}
}
const take = <T>(decoded: Decoded<T>): T => {
  if (!decoded.ok) throw new Stop(decoded)
  return decoded.value
}
const record = (value: unknown, field: string): Record<string, unknown> =>
  isRecord(value) ? value : take(reject(field, `${field} must be an object`))
/** A list, holes read as undefined (and so rejected by the element's decoder). */
const list = (value: unknown, field: string, max: number): unknown[] =>
  Array.isArray(value) && value.length <= max
    ? Array.from(value as unknown[])
    : take(reject(field, `${field} must be a list of at most ${max}`))
const optionalField = <T>(value: unknown, decode: () => T): T | undefined => (value === undefined ? undefined : decode())
const unique = (ids: readonly string[], field: string, key = "id"): void => {
  const seen = new Set<string>()
  ids.forEach((id, index) => {
    if (seen.has(id)) take(reject(`${field}[${index}].${key}`, `${field} ${key}s must be unique: ${id} appears twice`))
    seen.add(id)
  })
}

const decodeRule = (raw: unknown, field: string): MeltRule => {
  const rule = record(raw, field)
  const kind = take(decodeLiteral(rule["kind"], `${field}.kind`, ["percent", "fixed", "all"] as const))
  if (kind === "percent") {
    return { kind, basisPoints: take(decodeCount(rule["basisPoints"], `${field}.basisPoints`, 1, limits.basisPointsMax)) }
  }
  if (kind === "fixed") return { kind, amount: take(decodeAmount(rule["amount"], `${field}.amount`)) }
  return { kind }
}

const decodeDemurrage = (raw: unknown, field: string): DemurragePolicy => {
  const policy = record(raw, field)
  const shares = record(policy["shares"], `${field}.shares`)
  const share = (name: string) => take(decodeCount(shares[name], `${field}.shares.${name}`, 0, limits.demurrageShareMax))
  const decoded = {
    idleMs: take(decodeCount(policy["idleMs"], `${field}.idleMs`, 0, Number.MAX_SAFE_INTEGER)),
    periodMs: take(decodeCount(policy["periodMs"], `${field}.periodMs`, 1, Number.MAX_SAFE_INTEGER)),
    rule: decodeRule(policy["rule"], `${field}.rule`),
    shares: { place: share("place"), fund: share("fund"), maintenance: share("maintenance") },
  }
  if (decoded.shares.place + decoded.shares.fund + decoded.shares.maintenance === 0) {
    take(reject(`${field}.shares`, "at least one share must be positive"))
  }
  return decoded
}

const decodeExchange = (raw: unknown, field: string): ExchangeRate => {
  const rate = record(raw, field)
  return {
    fed: take(decodeCount(rate["fed"], `${field}.fed`, 1, limits.exchangeRateTermMax)),
    local: take(decodeCount(rate["local"], `${field}.local`, 1, limits.exchangeRateTermMax)),
  }
}

const decodeAsset = (raw: unknown, field: string, places: ReadonlySet<string>): Asset => {
  const asset = record(raw, field)
  const kind = take(decodeLiteral(asset["kind"], `${field}.kind`, assetKinds))
  const issuer = optionalField(asset["issuer"], () => take(decodePlaceId(asset["issuer"], `${field}.issuer`)))
  if (kind === "fed" && issuer !== undefined) take(reject(`${field}.issuer`, "the fed asset has no issuing place"))
  if (kind !== "fed" && (issuer === undefined || !places.has(issuer))) {
    take(reject(`${field}.issuer`, `a ${kind} asset needs an issuer among the places`))
  }
  const demurrage = optionalField(asset["demurrage"], () => decodeDemurrage(asset["demurrage"], `${field}.demurrage`))
  const exchange = optionalField(asset["exchange"], () => decodeExchange(asset["exchange"], `${field}.exchange`))
  return {
    id: take(decodeAssetId(asset["id"], `${field}.id`)),
    kind,
    name: take(decodeDisplayName(asset["name"], `${field}.name`)),
    ...(issuer === undefined ? {} : { issuer }),
    ...(demurrage === undefined ? {} : { demurrage }),
    ...(exchange === undefined ? {} : { exchange }),
  }
}

const decodePlace = (raw: unknown, field: string): Omit<Place, "accepts"> & { accepts: AssetId[] } => {
  const place = record(raw, field)
  const membershipRequired = optionalField(place["membershipRequired"], () => take(decodeAssetId(place["membershipRequired"], `${field}.membershipRequired`)))
  const staffRequired = optionalField(place["staffRequired"], () => take(decodeBoolean(place["staffRequired"], `${field}.staffRequired`)))
  const payout = optionalField(place["payout"], () => take(decodePayout(place["payout"], `${field}.payout`)))
  const accepts = list(place["accepts"], `${field}.accepts`, limits.acceptsPerPlaceMax).map((asset, index) =>
    take(decodeAssetId(asset, `${field}.accepts[${index}]`)),
  )
  if (new Set(accepts).size !== accepts.length) take(reject(`${field}.accepts`, "an asset is accepted once"))
  return {
    id: take(decodePlaceId(place["id"], `${field}.id`)),
    name: take(decodeDisplayName(place["name"], `${field}.name`)),
    accepts,
    ...(membershipRequired === undefined ? {} : { membershipRequired }),
    ...(staffRequired === undefined ? {} : { staffRequired }),
    ...(payout === undefined ? {} : { payout }),
  }
}

const decodeReader = (raw: unknown, field: string, places: ReadonlySet<string>): Reader => {
  const reader = record(raw, field)
  const place = take(decodePlaceId(reader["place"], `${field}.place`))
  if (!places.has(place)) take(reject(`${field}.place`, `no place ${place}`))
  const token = reader["tokenSha256"]
  if (typeof token !== "string" || !/^[0-9a-f]{64}$/.test(token)) {
    take(reject(`${field}.tokenSha256`, "tokenSha256 must be 64 lowercase hex digits"))
  }
  return {
    id: take(decodeReaderId(reader["id"], `${field}.id`)),
    place,
    role: take(decodeLiteral(reader["role"], `${field}.role`, ["bar", "cashdesk"] as const)),
    tokenSha256: token as string,
  }
}

const decodeCard = (raw: unknown, field: string): GenesisCard => {
  const card = record(raw, field)
  const number = card["number"]
  if (number !== undefined && (typeof number !== "string" || !/^[A-Za-z0-9-]{1,32}$/.test(number))) {
    take(reject(`${field}.number`, "a card number is 1 to 32 letters, digits or dashes"))
  }
  const uid = take(decodeCardUid(card["uid"], `${field}.uid`))
  return number === undefined ? { uid } : { uid, number: number as string }
}

const decodeValidators = (raw: unknown): Validators => {
  const validators = record(raw, "validators")
  const keys = list(validators["keys"], "validators.keys", limits.validatorsMax).map((key, index) =>
    take(decodeValidatorId(key, `validators.keys[${index}]`)),
  )
  if (keys.length === 0 || new Set(keys).size !== keys.length) {
    take(reject("validators.keys", "at least one validator, each once"))
  }
  const threshold = take(decodeCount(validators["threshold"], "validators.threshold", 1, keys.length))
  if (validators["paymentCheckers"] === undefined) return { keys, threshold }
  const checkers = paymentCheckersOf(validators["paymentCheckers"], keys)
  if (checkers === undefined) take(reject("validators.paymentCheckers", "payment checkers are distinct keys of the validators"))
  return withCheckers({ keys, threshold }, checkers ?? [])
}

const decodeStewards = (raw: unknown): KeySet | undefined => {
  if (raw === undefined) return undefined
  const stewards = record(raw, "stewards")
  const keys = take(decodeKeys(stewards["keys"], "stewards.keys"))
  return { keys, threshold: take(decodeCount(stewards["threshold"], "stewards.threshold", 1, keys.length)) }
}

const decodeCommitment = (raw: unknown): CardsCommitment => {
  if (raw === undefined) return noCards
  if (Array.isArray(raw)) {
    take(reject("cards", "block 0 commits to its cards as {count, sha256}: their uids are given to gesell start only, and never enter the ledger"))
  }
  const commitment = record(raw, "cards")
  for (const name of Object.keys(commitment)) if (name !== "count" && name !== "sha256") take(reject(`cards.${name}`, `${name} is not a field of cards`))
  const count = take(decodeCount(commitment["count"], "cards.count", 0, genesisCardsMax))
  const sha256 = commitment["sha256"]
  if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) take(reject("cards.sha256", "cards.sha256 must be 64 lowercase hex digits"))
  if (count === 0 && sha256 !== noCards.sha256) take(reject("cards.sha256", "no cards commit to the SHA-256 of the empty text"))
  return { count, sha256: sha256 as string }
}

/** Cards a genesis document may list. */
export const genesisCardsMax = 1_000_000

const decodeDocument = (raw: unknown, cardsGiven: (cards: unknown) => CardsCommitment): Genesis => {
  const doc = record(raw, "genesis")
  const federation = record(doc["federation"], "federation")
  const placesRaw = list(doc["places"], "places", 100_000).map((place, index) => decodePlace(place, `places[${index}]`))
  const placeIds = new Set<string>(placesRaw.map((place) => place.id))
  const assets = list(doc["assets"], "assets", 100_000).map((asset, index) => decodeAsset(asset, `assets[${index}]`, placeIds))
  const assetIds = new Set<string>(assets.map((asset) => asset.id))
  placesRaw.forEach((place, index) =>
    place.accepts.forEach((asset, position) => {
      if (!assetIds.has(asset)) take(reject(`places[${index}].accepts[${position}]`, `no asset ${asset}`))
    }),
  )
  if (assets.filter((asset) => asset.kind === "fed").length !== 1) take(reject("assets", "exactly one fed asset"))
  const readers = list(doc["readers"] ?? [], "readers", 100_000).map((reader, index) =>
    decodeReader(reader, `readers[${index}]`, placeIds),
  )
  const cards = cardsGiven(doc["cards"])
  unique(placesRaw.map((place) => place.id), "places")
  unique(assets.map((asset) => asset.id), "assets")
  unique(readers.map((reader) => reader.id), "readers")
  return {
    federation: {
      id: take(decodeFederationId(federation["id"], "federation.id")),
      name: take(decodeDisplayName(federation["name"], "federation.name")),
    },
    rules: doc["rules"] === undefined ? rulesVersion : take(decodeRulesVersion(doc["rules"], "rules")),
    validators: decodeValidators(doc["validators"]),
    stewards: decodeStewards(doc["stewards"]),
    observers: doc["observers"] === undefined ? [] : take(decodeObserverKeys(doc["observers"], "observers")),
    assets,
    places: placesRaw,
    readers,
    cards,
  }
}

/** Runs a decoder of this module that stops at the first rejection, as a Decoded. */
const decoding = <T>(run: () => T): Decoded<T> => {
  try {
    return accept(run())
  } catch (stop) {
    if (stop instanceof Stop) return stop.rejection
    throw stop
  }
}

/** The genesis document as block 0 carries it: its cards by their commitment (PROTOCOL.md section 9.4). */
export const decodeGenesis = (raw: unknown): Decoded<Genesis> => decoding(() => decodeDocument(raw, decodeCommitment))

/**
 * The genesis document as `gesell start --genesis` takes it: its cards listed by uid, each with the
 * number printed on it. The node turns it into block 0's document (`ledgerGenesisDocument`).
 */
export const decodeGenesisInput = (raw: unknown): Decoded<{ readonly genesis: Genesis; readonly cards: readonly GenesisCard[] }> =>
  decoding(() => {
    let cards: GenesisCard[] = []
    const genesis = decodeDocument(raw, (given) => {
      cards = list(given ?? [], "cards", genesisCardsMax).map((card, index) => decodeCard(card, `cards[${index}]`))
      unique(cards.map((card) => card.uid), "cards", "uid")
      return noCards
    })
    return { genesis, cards }
  })

/** Block 0's document: the given one with its list of cards replaced by their commitment. */
export const ledgerGenesisDocument = (input: Record<string, JsonValue>, commitment: CardsCommitment): JsonValue => ({
  ...input,
  cards: { count: commitment.count, sha256: commitment.sha256 },
})

export const decodeDemurragePolicy = (raw: unknown, field: string): Decoded<DemurragePolicy> => decoding(() => decodeDemurrage(raw, field))
export const decodeExchangeRate = (raw: unknown, field: string): Decoded<ExchangeRate> => decoding(() => decodeExchange(raw, field))



/** A new ledger holding what the genesis document declares, with every balance at zero. */
export const ledgerFromGenesis = (genesis: Genesis): LedgerState => {
  // The genesis's cards come with the transactions after block 0 (section 9.4).
  const cards = new Map<CardId, CardRecord>()
  return {
    federation: genesis.federation.id,
    assets: new Map(genesis.assets.map((asset) => [asset.id, asset])),
    places: new Map(genesis.places.map((place) => [place.id, place])),
    readers: new Map(genesis.readers.map((reader) => [reader.id, reader])),
    cards,
    wallets: new Wallets(cards),
    fed: (genesis.assets.find((asset) => asset.kind === "fed") as Asset).id,
    refs: new Set(),
    payments: new Map(),
    requests: new Map(),
    validators: genesis.validators,
    stewards: genesis.stewards,
    observers: [...genesis.observers],
    rules: { version: genesis.rules, from: 0 },
    genesisHash: "",
    approved: new Set(),
    genesisCards: genesis.cards,
    backing: { received: 0, refunded: 0, paidOut: 0 },
  }
}

export const genesisTxId = "genesis" as TxId

/** Block 0's single transaction: kind `validators`, the genesis document itself in `memo`. */
export const genesisTransaction = (document: JsonValue, time: TimeMs): Transaction => ({
  id: genesisTxId,
  kind: "validators",
  time,
  legs: [],
  memo: document,
})
