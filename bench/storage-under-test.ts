/**
 * The storage a run uses. On a throwaway real PostgreSQL: databases on the one server (a new one
 * for each node, the storage ceiling's and the naive design's), so that all of them share its disk,
 * its WAL and its cores, and the server's postmaster, whose CPU is read. On PGlite: each node's
 * embedded one, and a PGlite of their own for the ceiling and the naive design. A run asked for PostgreSQL
 * falls back to PGlite, and says so, when PostgreSQL is not installed, unless
 * GESELL_REQUIRE_SERVERS=1 (then it fails, as the test suites do).
 */
import { startPostgres } from "../test/postgres-server.js"
import { postmasterOf } from "./proc.js"
import type { Teardown } from "./teardown.js"

export type StorageUnderTest =
  | {
      readonly kind: "postgres"
      /** A new empty database for a new node, so that each scenario starts from the same state. */
      readonly nodeDatabase: () => Promise<string>
      readonly ceilingUrl: string
      readonly naiveUrl: string
      readonly postmaster: number | undefined
      readonly note: string
    }
  | { readonly kind: "pglite"; readonly note: string }

export const openStorage = async (requested: "postgres" | "pglite", teardown: Teardown): Promise<StorageUnderTest> => {
  if (requested === "pglite") return { kind: "pglite", note: "PGlite (embedded in the node; no fsync)" }
  // Throws when PostgreSQL is missing and GESELL_REQUIRE_SERVERS=1; undefined when it is just missing.
  const server = await startPostgres()
  if (server === undefined) {
    return { kind: "pglite", note: "PGlite: PostgreSQL is not installed (apt-get install -y postgresql), so this run fell back to PGlite" }
  }
  teardown.add("postgres", () => server.destroy())
  const [ceilingUrl, naiveUrl] = [await server.database("ceiling"), await server.database("naive")]
  const postmaster = postmasterOf(Number(new URL(server.url).port))
  let nodes = 0
  return {
    kind: "postgres",
    nodeDatabase: () => server.database(`node${++nodes}`),
    ceilingUrl,
    naiveUrl,
    postmaster,
    note: "PostgreSQL 15, throwaway, fsync and synchronous_commit on (defaults)",
  }
}
