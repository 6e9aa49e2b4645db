/**
 * What a reader sees when the node's real PostgreSQL fails, black-box: the database stopped under
 * load and started again while the node keeps running (`unavailable`, health 503, then recovery by
 * itself), and the node killed with SIGKILL under load. A throwaway server is started by the
 * harness; without PostgreSQL installed the suite is skipped, unless GESELL_REQUIRE_SERVERS=1.
 */
import postgres from "postgres"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { runCli, type NodeProcess } from "./node-process.js"
import { postgresInstalled, startPostgres, type PostgresServer } from "./postgres-server.js"
import { accountFor, killUnderLoad } from "./kill-under-load.js"
import { codeOf, festivalLanes, health, sleep, TapLoad, trackedNodes, waitFor, within, type Tap } from "./tap-load.js"

const required = process.env["GESELL_REQUIRE_SERVERS"] === "1"
const skipped = !postgresInstalled() && !required
if (skipped) console.warn("node-failures-postgres: SKIPPED, PostgreSQL is not installed (set GESELL_REQUIRE_SERVERS=1 to make this an error)")

const nodes = trackedNodes()
let database: PostgresServer | undefined

const server = (): PostgresServer => {
  if (database === undefined) throw new Error("PostgreSQL did not start")
  return database
}

/**
 * After an outage: health back to 200, 500 new taps acknowledged, every lane answered, every tap
 * resent and accounted for, and `gesell check` on the same database passing.
 */
const recoverAndAccount = async (node: NodeProcess, load: TapLoad, env: Record<string, string>): Promise<void> => {
  await waitFor("health 200 again", async () => (await health(node.http)).status === 200, 30_000)
  const upFrom = load.taps.length
  await waitFor("500 taps acknowledged after the recovery", () => load.taps.slice(upFrom).filter((tap) => tap.reply?.ok === true).length >= 500, 30_000)
  await within("the lanes' last replies", load.stop(), 30_000)
  expect(load.inflight, "taps never answered").toBe(0)
  const txCount = await accountFor(node, load.taps)
  load.close()
  const check = await runCli(["check"], env)
  expect(check.output).toContain(`${txCount + 1} transactions replayed`)
  expect(check.code, check.output).toBe(0)
}

describe.skipIf(skipped)("with real PostgreSQL", () => {
  beforeAll(async () => {
    database = await startPostgres()
  }, 60_000)
  afterEach(async () => {
    await nodes.cleanup()
    await database?.start()
  }, 60_000)
  afterAll(() => database?.destroy(), 60_000)

  it("answers unavailable while the database is down, recovers by itself, and keeps every acknowledged tap", async () => {
    const env = { DATABASE_URL: await server().database("outage"), GESELL_COMMIT_TIMEOUT_MS: "2000" }
    const node = await nodes.start({ dataDir: nodes.dataDir(), env })
    const load = new TapLoad()
    await load.start(node.ws, festivalLanes(1_000_000, "outage"))
    await waitFor("1,000 acknowledged taps", () => load.acknowledged().length >= 1_000, 30_000)

    await server().stop()
    const downFrom = load.taps.length
    const sentSince = (from: number): Tap[] => load.taps.slice(from)
    await waitFor("taps answered unavailable", () => sentSince(downFrom).some((tap) => codeOf(tap.reply) === "unavailable"), 15_000)
    await waitFor("health 503 with ok: false", async () => {
      const { status, body } = await health(node.http)
      return status === 503 && body.ok === false
    }, 15_000)
    // Down for longer than a commit timeout: the node keeps refusing, and keeps trying to reload.
    await sleep(3_000)
    const refusedFrom = load.taps.length
    await waitFor("a hundred more taps refused", () => sentSince(refusedFrom).filter((tap) => tap.reply !== undefined).length >= 100, 15_000)
    const down = await health(node.http)
    expect(down.status, "health while still down").toBe(503)
    // Readiness says why, in words fit for anyone to read.
    expect(down.body, "health says why").toMatchObject({ ok: false, error: { code: "unavailable", message: expect.stringMatching(/^storage/) } })
    const downTo = load.taps.length
    const whileDown = load.taps.slice(downFrom, downTo)
    expect(whileDown.filter((tap) => tap.reply?.ok === true), "taps acknowledged while the database was down").toEqual([])
    expect(new Set(whileDown.flatMap((tap) => (tap.reply === undefined ? [] : [codeOf(tap.reply)]))), "codes while down").toEqual(new Set(["unavailable"]))

    await server().start()
    // Every tap, refused ones included, is resent and accounted for; the node is still the same process.
    await recoverAndAccount(node, load, env)
  })

  it("answers unavailable when commits hang past GESELL_COMMIT_TIMEOUT_MS, recovers once they pass, and keeps every acknowledged tap", async () => {
    const url = await server().database("hang")
    const env = { DATABASE_URL: url, GESELL_COMMIT_TIMEOUT_MS: "1000" }
    const node = await nodes.start({ dataDir: nodes.dataDir(), env })
    const load = new TapLoad()
    await load.start(node.ws, festivalLanes(1_000_000, "hang"))
    await waitFor("1,000 acknowledged taps", () => load.acknowledged().length >= 1_000, 30_000)

    // Another session takes the wallet table: the node's commits (and its reloads) wait without an error.
    const blocker = postgres(url, { max: 1, onnotice: () => undefined })
    let lockedFrom = 0
    let lockedTo = 0
    try {
      await blocker.begin(async (sql) => {
        await sql`lock table wallet in access exclusive mode`
        lockedFrom = load.taps.length
        await waitFor("taps answered unavailable", () => load.taps.slice(lockedFrom).some((tap) => codeOf(tap.reply) === "unavailable"), 15_000)
        await waitFor("health 503 with ok: false", async () => {
          const { status, body } = await health(node.http)
          return status === 503 && body.ok === false
        }, 15_000)
        // Held past several commit timeouts, so that the node's reloads time out too.
        await sleep(3_000)
        lockedTo = load.taps.length
      })
    } finally {
      await blocker.end({ timeout: 5 })
    }
    // A commit that was waiting for the lock when it timed out may still have gone through: a tap of
    // it was answered unavailable, and its resend below finds it. None was acknowledged after the lock.
    const acknowledgedLate = load.taps.slice(lockedFrom, lockedTo).filter((tap) => tap.reply?.ok === true)
    expect(acknowledgedLate.length, "taps sent while the lock was held and acknowledged").toBe(0)

    // Every tap, refused ones included, is resent and accounted for; the node is still the same process.
    await recoverAndAccount(node, load, env)
  })

  it("kill -9 under load keeps every acknowledged tap exactly once, and gesell check passes", async () => {
    const env = { DATABASE_URL: await server().database("killed") }
    await killUnderLoad({ nodes, env, sentBeforeKill: 5_000, ackedBeforeKill: 2_500 })
  })
})
