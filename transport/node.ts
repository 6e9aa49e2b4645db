/**
 * `gesell start`: composes a node. Storage (real Postgres with DATABASE_URL, else PGlite under the
 * data dir), the ledger created from a genesis document or the demo federation on first start, the
 * writer rebuilt from storage, the HTTP API and the reader gateway on one port. It prints where to
 * look and runs until interrupted.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs"
import { join, resolve } from "node:path"
import { randomBytes } from "node:crypto"
import { Clock, Console, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { nodeConfig, type NodeConfig } from "../actors/config.js"
import { stateFromSnapshot } from "../actors/snapshot.js"
import { LedgerWriter } from "../actors/writer.js"
import { decodeGenesis } from "../engine/genesis.js"
import { CardKey, CardNames } from "../actors/card-key.js"
import { newLedger } from "../actors/ledger-start.js"
import { adminTokenCharsMin, requestRetentionMs } from "../engine/limits.js"
import type { JsonValue } from "../engine/state.js"
import type { ValidatorId } from "../engine/names.js"
import { Ledger, type LedgerStore, StorageError, type StoredTx } from "../storage/ledger.js"
import { FinalSupply } from "./final-supply.js"
import { postgresLedger } from "../storage/postgres.js"
import { pgliteDurabilityNotice, pgliteLedger } from "../storage/pglite.js"
import { demoGenesis, demoReaders } from "./demo.js"
import { ReaderDirectoryStore } from "./directory.js"
import { commandSubmitter, serveNodeApi } from "./http.js"
import { RefundDesk } from "./refunds.js"
import { stripeClient } from "./stripe.js"
import { defectSink, listen, makeHttpServer } from "./http-server.js"
import { attachUpgrades } from "./upgrades.js"
import { makeMetrics } from "./metrics.js"
import { ReaderGateway } from "./readers.js"
import { FederationFeed } from "./feed.js"
import { BlockProducer } from "../actors/producer.js"
import { loadOrCreateKey, readKey } from "./keys.js"
import type { NodeSigner } from "../actors/producer.js"

export interface StartFlags {
  readonly genesis?: string | undefined
  readonly port?: number | undefined
  readonly dataDir?: string | undefined
  readonly key?: string | undefined
  /** A steward's key the node approves operator commands with (PROTOCOL.md section 9.3). */
  readonly stewardKey?: string | undefined
}

/** How often the node asks Stripe again about online refunds left pending. */
export const refundsResumeMs = 30_000

/** A node refuses to share its data dir with another live node (PGlite is single-process). */
export const lockDataDir = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const pidFile = join(dataDir, "node.pid")
        if (existsSync(pidFile)) {
          const pid = Number(readFileSync(pidFile, "utf8"))
          if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) throw new Error(`another node (pid ${pid}) uses ${dataDir}`)
        }
        writeFileSync(pidFile, String(process.pid))
        return pidFile
      },
      catch: (error) => new Error(`cannot use the data dir ${dataDir}: ${String(error)}`),
    }),
    (pidFile) => Effect.sync(() => rmSync(pidFile, { force: true })),
  )

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export const storageLayer = (config: NodeConfig): Layer.Layer<Ledger, StorageError> =>
  Option.match(config.databaseUrl, {
    onNone: () => pgliteLedger(join(config.dataDir, "pglite")),
    onSome: (url) => postgresLedger(Redacted.value(url)),
  })

interface DemoFile {
  readonly readers: ReadonlyArray<{ id: string; place: string; role: string; token: string }>
  readonly cards: number
}

/** The genesis document to create the ledger with, and, for the demo, the reader tokens to print. */
const genesisDocument = (flags: StartFlags, config: NodeConfig, validator: string, steward: string | undefined) =>
  Effect.try({
    try: (): { document: JsonValue; demo?: DemoFile } => {
      if (flags.genesis !== undefined) return { document: JSON.parse(readFileSync(flags.genesis, "utf8")) as JsonValue }
      // Tokens of the demo readers come from the cryptographic generator and are kept in the data
      // dir (mode 0600) so that `gesell simulate` can use them; a real federation never does this.
      const readers = demoReaders(() => randomBytes(24).toString("base64url"))
      const demo: DemoFile = { readers, cards: 2_000 }
      writeFileSync(join(config.dataDir, "demo-readers.json"), JSON.stringify(demo, null, 2), { mode: 0o600 })
      return { document: demoGenesis(validator, readers, demo.cards, steward) as unknown as JsonValue, demo }
    },
    catch: (error) => new Error(`cannot read the genesis document: ${String(error)}`),
  })

const createLedger = (store: LedgerStore, flags: StartFlags, config: NodeConfig, validator: string, steward: string | undefined) =>
  Effect.gen(function* () {
    if (yield* store.initialized) {
      if (flags.genesis !== undefined) yield* Console.log(`A ledger already exists in this storage: --genesis ${flags.genesis} is ignored.`)
      return undefined
    }
    const given = yield* genesisDocument(flags, config, validator, steward)
    const now = yield* Clock.currentTimeMillis
    // The federation's card key is made here, once, and kept with the ledger (PROTOCOL.md section 9.4).
    const made = newLedger(given.document, CardKey.generate(), now)
    if (!("start" in made)) return yield* Effect.fail(new Error(`the genesis document is invalid at ${made.field}: ${made.message}`))
    yield* store.initialize(made.document, made.genesisTx, made.start)
    return given.demo
  })

/**
 * The admin token: GESELL_ADMIN_TOKEN, else one made on first start and kept in the data dir. Either
 * way at least 32 characters: a file left empty or cut short (a full disk, a crash on first start)
 * must never make the empty token the admin's.
 */
const adminToken = (config: NodeConfig) =>
  Effect.gen(function* () {
    if (Option.isSome(config.adminToken)) {
      const token = config.adminToken.value
      if (Redacted.value(token).length < adminTokenCharsMin) {
        return yield* Effect.fail(new Error(`GESELL_ADMIN_TOKEN must be at least ${adminTokenCharsMin} characters long (a random one: openssl rand -base64 32)`))
      }
      return token
    }
    const file = join(config.dataDir, "admin-token")
    return yield* Effect.try({
      try: () => {
        if (!existsSync(file)) writeSecretFile(file, randomBytes(32).toString("base64url") + "\n")
        const token = readFileSync(file, "utf8").trim()
        if (token.length < adminTokenCharsMin) throw new Error(`${file} holds no admin token of ${adminTokenCharsMin} characters or more: remove it to have a new one made`)
        return Redacted.make(token)
      },
      catch: (error) => (error instanceof Error ? error : new Error(String(error))),
    })
  })

/** Writes a secret whole or not at all: to a file of its own, synced, then renamed into place. */
const writeSecretFile = (file: string, text: string): void => {
  const partial = `${file}.partial`
  const descriptor = openSync(partial, "w", 0o600)
  try {
    writeSync(descriptor, text)
    fsyncSync(descriptor)
  } finally {
    closeSync(descriptor)
  }
  renameSync(partial, file)
}

/**
 * The steward key the node approves with: `--steward-key FILE` (which must exist), else the data
 * dir's `steward-key.json` when there is one. A new demo federation makes that file, and names its
 * key the demo's one steward, so that `npm start` works alone; a real federation's stewards keep
 * their keys to themselves and sign with `gesell steward sign`.
 */
const stewardKeyOf = (flags: StartFlags, config: NodeConfig, newDemo: boolean) =>
  Effect.gen(function* () {
    if (flags.stewardKey !== undefined) {
      const file = flags.stewardKey
      return yield* Effect.try({ try: () => readKey(file), catch: (error) => new Error(`cannot use the steward key ${file}: ${String(error)}`) })
    }
    const file = join(config.dataDir, "steward-key.json")
    if (!newDemo && !existsSync(file)) return undefined
    return yield* loadOrCreateKey(file)
  })

export const startNode = (flags: StartFlags) =>
  Effect.gen(function* () {
    const config = yield* nodeConfig(flags)
    mkdirSync(config.dataDir, { recursive: true })
    yield* lockDataDir(config.dataDir)
    const key = yield* loadOrCreateKey(flags.key ?? join(config.dataDir, "node-key.json"))
    const store = yield* Ledger
    const steward = yield* stewardKeyOf(flags, config, !(yield* store.initialized) && flags.genesis === undefined)
    const demo = yield* createLedger(store, flags, config, key.validator, steward?.validator)
    const now = yield* Clock.currentTimeMillis
    const snapshot = yield* store.load(now - requestRetentionMs, config.limits.requestCacheMax)
    const metrics = makeMetrics()
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const genesis = decodeGenesis(snapshot.genesis)
    if (!genesis.ok) return yield* Effect.dieMessage(`the stored genesis does not decode: ${genesis.message}`)
    const producer = new BlockProducer(store, config.limits, genesis.value, key as NodeSigner, nowMs, {
      final: (_height, lagMs) => metrics.finalityLag.observe(lagMs / 1000),
      failed: (error) => console.error(`block producer: storage failed, retrying from storage: ${String(error)}`),
    })
    yield* producer.start
    yield* Effect.forkScoped(producer.loop)
    const state = stateFromSnapshot(snapshot)
    const cardKey = snapshot.cardKey === undefined ? undefined : CardKey.fromHex(snapshot.cardKey)
    if (cardKey === undefined) {
      return yield* Effect.fail(new Error("this ledger has no card key: it was made before cards by pseudonym (PROTOCOL.md section 9.4); start on a new data dir or database"))
    }
    const cards = new CardNames(cardKey, state.cards.values())
    // Block 0 was sealed by the producer's start when this ledger is new: approvals sign its hash.
    state.genesisHash = producer.genesisHash
    // The supply as of the last final transaction (PROTOCOL.md section 9.5): what came after it, it
    // counts once final.
    const tail: StoredTx[] = []
    for (let seq = producer.finalSeq + 1; ; ) {
      const page = yield* store.transactions(seq, 10_000)
      if (page.length === 0) break
      for (const stored of page) tail.push(stored)
      seq = (page.at(-1) as StoredTx).seq + 1
    }
    const finalSupply = new FinalSupply(state, tail, () => producer.finalSeq)
    tail.length = 0
    const writer = new LedgerWriter(state, snapshot.lastSeq + 1, store, config.limits, config.commitTimeoutMs, {
      committed: (requests, _txs, durationMs) => {
        metrics.commitBatch.observe(requests)
        metrics.commitDuration.observe(durationMs / 1000)
      },
      committedTxs: (txs, atMs) => {
        producer.committed(txs, atMs)
        finalSupply.committed(txs)
      },
      commitFailed: () => metrics.commitFailures.inc(),
      refused: (why) => metrics.refused.inc({ reason: why }),
    })
    writer.rememberOlderRequests(snapshot.olderRequests)
    yield* Effect.forkScoped(writer.commitLoop)
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        writer.forgetOldRequests(yield* Clock.currentTimeMillis)
      }).pipe(Effect.repeat(Schedule.spaced(Duration.seconds(10)))),
    )
    const directory = new ReaderDirectoryStore(snapshot.readers)
    const gateway = new ReaderGateway({
      writer: () => writer,
      directory,
      cards,
      metrics,
      nowMs,
      connectionsMax: config.limits.readerConnectionsMax,
      connectionsPerReaderMax: config.limits.readerConnectionsPerReaderMax,
      bufferedBytesMax: config.limits.readerBufferedBytesMax,
    })
    const money = Option.match(config.stripe, {
      onNone: () => undefined,
      onSome: (stripe) => ({
        stripe: stripeClient(Redacted.value(stripe.secretKey), stripe.apiUrl),
        webhookSecret: Redacted.value(stripe.webhookSecret),
        publicUrl: stripe.publicUrl ?? `http://${config.host}:${config.port}`,
        refillMin: stripe.refillMin,
        refillMax: stripe.refillMax,
        trustedProxies: stripe.trustedProxies,
      }),
    })
    const refunds =
      money === undefined
        ? undefined
        : new RefundDesk({ stripe: money.stripe, state: () => writer.state, submit: commandSubmitter(() => writer, nowMs), log: (line) => console.error(line) })
    if (refunds !== undefined) {
      // Withdrawals the ledger holds as pending (a stop between a withdrawal and Stripe's answer, a
      // refund pending at Stripe): asked about again at start, then every refundsResumeMs.
      yield* Effect.forkScoped(
        Effect.promise(() => refunds.resume()).pipe(Effect.repeat(Schedule.spaced(Duration.millis(refundsResumeMs)))),
      )
    }
    const server = makeHttpServer()
    const sink = defectSink(metrics)
    yield* serveNodeApi(
      server,
      {
        writer: () => writer,
        store,
        metrics,
        directory,
        gateway: () => gateway,
        producer,
        adminToken: yield* adminToken(config),
        cardsPerImportMax: config.limits.cardsPerImportMax,
        nowMs,
        // The steward key first: a command both could approve is approved as the steward's.
        approvers: { keys: steward === undefined ? [key] : [steward, key] },
        cards,
        money,
        refunds,
        finalSupply,
        federationName: genesis.value.federation.name,
      },
      sink,
    )
    const feed = new FederationFeed({ producer, store, metrics, log: (line) => console.error(line), memberConnectionsMax: config.limits.feedPublicConnectionsMax, validatorConnectionsMax: config.limits.feedValidatorConnectionsMax, isObserver: (id) => writer.state.observers.includes(id as ValidatorId) })
    attachUpgrades(server, [gateway, feed], sink)
    yield* listen(server, config.port, config.host, sink)
    // Finalizers run last-registered first: reader sockets are closed before the HTTP server, whose
    // close waits for every connection, so that a hub that never hangs up cannot hold the node.
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([gateway.close(), feed.close()])))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : config.port
    yield* announce({ ...config, port }, key.validator, demo, writer.height, producer.genesisHash)
    return yield* Effect.never
  }).pipe(Effect.scoped)

const announce = (config: NodeConfig, validator: string, demo: DemoFile | undefined, height: number, genesisHash: string) =>
  Effect.gen(function* () {
    const base = `http://${config.host}:${config.port}`
    yield* Console.log(`Gesell node listening on ${base} (readers: ws://${config.host}:${config.port}/v1/readers)`)
    yield* Console.log(
      Option.isSome(config.databaseUrl)
        ? "Storage: PostgreSQL (DATABASE_URL)."
        : `${pgliteDurabilityNotice} Data: ${resolve(config.dataDir, "pglite")}`,
    )
    yield* Console.log(`Ledger: ${height} transactions. Validator id of this node: ${validator}`)
    // Every member compares it, and gives it to `gesell validator` and `gesell peer` (--genesis-hash).
    yield* Console.log(`Genesis hash (block 0): ${genesisHash}`)
    yield* Console.log(`Health ${base}/v1/health · supply ${base}/v1/supply · metrics ${base}/metrics · API ${base}/v1/openapi.json`)
    yield* Console.log(`Blocks ${base}/v1/blocks · federation feed ws://${config.host}:${config.port}/v1/federation`)
    if (Option.isNone(config.adminToken)) yield* Console.log(`Admin token: in ${resolve(config.dataDir, "admin-token")}`)
    yield* Console.log(
      Option.isSome(config.stripe)
        ? `Refills online: ${base}/refill (Stripe webhook: POST ${config.stripe.value.publicUrl ?? base}/v1/stripe/webhook)`
        : "Refills online: off (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET turn them on)",
    )
    if (demo !== undefined) {
      yield* Console.log("Demo federation created. Reader tokens (shown once; kept for the simulator in demo-readers.json):")
      for (const reader of demo.readers) yield* Console.log(`  ${reader.id.padEnd(18)} ${reader.role.padEnd(8)} ${reader.token}`)
    }
    if (existsSync(join(config.dataDir, "demo-readers.json"))) {
      yield* Console.log(`Watch taps flow: in another terminal, run  node dist/transport/cli.js simulate --data-dir ${config.dataDir} --port ${config.port}`)
    }
  })

export const runNode = (flags: StartFlags) =>
  Effect.gen(function* () {
    const config = yield* nodeConfig(flags)
    return yield* startNode(flags).pipe(Effect.provide(storageLayer(config)))
  })
