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
}

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
    }
    return config
  })
