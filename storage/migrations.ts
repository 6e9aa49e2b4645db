/**
 * The schema's history: the plain SQL files of `storage/migrations/`, applied in the order of their
 * names, each in its own transaction and recorded in the `migration` table, so that applying them at
 * every start does only what is missing.
 */
import { existsSync } from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { Sql } from "./statements.js"

export interface Migration {
  readonly name: string
  readonly sql: string
}

/**
 * The SQL files sit beside this module in the source tree. tsc does not copy them into dist/, so the
 * compiled module (dist/storage/) finds them in the source tree, two levels up.
 */
export const migrationsDir = (): string => {
  const candidates = [new URL("./migrations/", import.meta.url), new URL("../../storage/migrations/", import.meta.url)]
  const found = candidates.map((url) => fileURLToPath(url)).find((dir) => existsSync(dir))
  if (found === undefined) throw new Error(`no migrations directory beside ${fileURLToPath(import.meta.url)}`)
  return found
}

const migrationName = /^\d{3}_[a-z0-9_]+\.sql$/

export const readMigrations = async (dir: string): Promise<Migration[]> => {
  const names = (await readdir(dir)).filter((name) => migrationName.test(name)).sort()
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(`${dir}/${name}`, "utf8") })))
}

/**
 * Applies one migration unless it is recorded. The advisory lock, held until the transaction ends,
 * makes nodes that start together on one database take turns; the table of applied migrations is
 * created under that lock, so that it too is created once.
 */
const applyOne = (pool: Sql, migration: Migration): Promise<boolean> =>
  pool.begin(async (sql) => {
    await sql`select pg_advisory_xact_lock(hashtext('gesell.migration'))`
    await sql`create table if not exists migration (name text primary key, applied_at timestamptz not null default now())`
    const applied = await sql`select 1 from migration where name = ${migration.name}`
    if (applied.length > 0) return false
    await sql.unsafe(migration.sql)
    await sql`insert into migration (name) values (${migration.name})`
    return true
  })

/** The names of the migrations applied now (empty when the schema was up to date). */
export const applyMigrations = async (pool: Sql, migrations: readonly Migration[]): Promise<string[]> => {
  const applied: string[] = []
  for (const migration of migrations) {
    if (await applyOne(pool, migration)) applied.push(migration.name)
  }
  return applied
}
