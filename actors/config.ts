/**
 * The node's configuration: flags, environment variables and limits, read once at start through
 * Effect's Config, with the defaults and test preset of engine/limits.ts. Every variable is listed
 * in the README.
 */
import { Config, Effect, Option, Redacted } from "effect"
import { defaults, testPreset, type NodeLimits } from "../engine/limits.js"

export interface NodeConfig {
  readonly port: number
  readonly host: string
  readonly dataDir: string
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  readonly adminToken: Option.Option<Redacted.Redacted>
  /** How long a commit may take before it counts as failed. */
  readonly commitTimeoutMs: number
  readonly limits: NodeLimits
  /** Refills online (PROTOCOL.md section 9.5): on when both Stripe secrets are given. */
  readonly stripe: Option.Option<StripeSettings>
}

export interface StripeSettings {
  readonly secretKey: Redacted.Redacted
  readonly webhookSecret: Redacted.Redacted
  /** Another address for Stripe's API (a local fake): scheme, host and port. */
  readonly apiUrl: string | undefined
  /** Where Checkout sends holders back: the node's public address. */
  readonly publicUrl: string | undefined
  readonly refillMin: number
  readonly refillMax: number
  readonly trustedProxies: ReadonlySet<string>
}

/** A refill's bounds by default, in cents: 5 € to 150 €. */
export const refillMinDefault = 500
export const refillMaxDefault = 15_000

const stripeConfig = Effect.gen(function* () {
  const secretKey = yield* Config.option(Config.redacted("STRIPE_SECRET_KEY"))
  const webhookSecret = yield* Config.option(Config.redacted("STRIPE_WEBHOOK_SECRET"))
  if (Option.isNone(secretKey) && Option.isNone(webhookSecret)) return Option.none<StripeSettings>()
  if (Option.isNone(secretKey) || Option.isNone(webhookSecret)) {
    return yield* Effect.fail(new Error("refills online need both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"))
  }
  const apiUrl = yield* Config.option(Config.string("STRIPE_API_URL"))
  if (Option.isSome(apiUrl) && !/^https?:\/\/[^/]+\/?$/.test(apiUrl.value)) {
    return yield* Effect.fail(new Error(`STRIPE_API_URL is a scheme, a host and a port (http://127.0.0.1:12111), not ${apiUrl.value}`))
  }
  const publicUrl = yield* Config.option(Config.string("GESELL_PUBLIC_URL"))
  const refillMin = yield* Config.integer("GESELL_REFILL_MIN").pipe(Config.withDefault(refillMinDefault))
  const refillMax = yield* Config.integer("GESELL_REFILL_MAX").pipe(Config.withDefault(refillMaxDefault))
  if (!(refillMin > 0 && refillMin <= refillMax)) return yield* Effect.fail(new Error(`refill bounds must be 0 < GESELL_REFILL_MIN <= GESELL_REFILL_MAX, got ${refillMin} and ${refillMax}`))
  const proxies = yield* Config.string("GESELL_TRUSTED_PROXIES").pipe(Config.withDefault(""))
  return Option.some<StripeSettings>({
    secretKey: secretKey.value,
    webhookSecret: webhookSecret.value,
    apiUrl: Option.getOrUndefined(apiUrl),
    publicUrl: Option.getOrUndefined(publicUrl)?.replace(/\/+$/, ""),
    refillMin,
    refillMax,
    trustedProxies: new Set(proxies.split(",").map((proxy) => proxy.trim()).filter((proxy) => proxy !== "")),
  })
})

const limitNames = Object.keys(defaults) as Array<keyof NodeLimits>

/** Each limit from GESELL_<NAME IN CAPITALS>, e.g. GESELL_COMMIT_TX_MAX, on top of the preset. */
const limitsConfig = (preset: NodeLimits): Config.Config<NodeLimits> =>
  Config.all(
    Object.fromEntries(
      limitNames.map((name) => [
        name,
        Config.integer(`GESELL_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`).pipe(
          Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }),
          Config.withDefault(preset[name]),
        ),
      ]),
    ) as { [K in keyof NodeLimits]: Config.Config<number> },
  )

export const nodeConfig = (flags: { port?: number | undefined; dataDir?: string | undefined }) =>
  Effect.gen(function* () {
    const preset = (yield* Config.literal("default", "test")("GESELL_LIMITS").pipe(Config.withDefault("default"))) === "test" ? testPreset : defaults
    const config: NodeConfig = {
      port: flags.port ?? (yield* Config.port("PORT").pipe(Config.withDefault(7400))),
      host: yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
      dataDir: flags.dataDir ?? (yield* Config.string("GESELL_DATA_DIR").pipe(Config.withDefault(".data"))),
      databaseUrl: yield* Config.option(Config.redacted("DATABASE_URL")),
      adminToken: yield* Config.option(Config.redacted("GESELL_ADMIN_TOKEN")),
      commitTimeoutMs: yield* Config.integer("GESELL_COMMIT_TIMEOUT_MS").pipe(Config.withDefault(5_000)),
      limits: yield* limitsConfig(preset),
      stripe: yield* stripeConfig,
    }
    return config
  })
