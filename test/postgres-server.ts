/**
 * A throwaway PostgreSQL server for tests: initdb into a temp dir, pg_ctl on 127.0.0.1 on a free
 * port, one database created; stop and start again on the same port and data (to test what a node
 * does while its database is away), destroy at the end. initdb refuses to run as root, so as root
 * the binaries run as the `postgres` user through runuser, on a dir that user owns.
 */
import { execFile, spawnSync } from "node:child_process"
import { existsSync, readdirSync, rmSync } from "node:fs"
import { chown, mkdir, mkdtemp, rm } from "node:fs/promises"
import { freePort } from "./node-process.js"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export interface PostgresServer {
  /** postgres:// URL of the test database. */
  readonly url: string
  /** Creates another empty database on the server and returns its URL. */
  readonly database: (name: string) => Promise<string>
  /** Fast shutdown: sessions are ended, the data stays. Does nothing when stopped. */
  readonly stop: () => Promise<void>
  /** Starts again on the same port and data. Does nothing when running. */
  readonly start: () => Promise<void>
  /** Stops the server if it runs and removes its directory. */
  readonly destroy: () => Promise<void>
}

const installHint = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install them with `apt-get install -y postgresql`"

/** The newest installed PostgreSQL's bin directory. */
const findBinaries = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  return readdirSync(root)
    .filter((version) => /^\d+$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(root, version, "bin"))
    .find((bin) => existsSync(join(bin, "initdb")) && existsSync(join(bin, "pg_ctl")))
}

const postgresUser = async (): Promise<{ uid: number; gid: number }> => {
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

export interface PostgresServerOptions {
  /** Server settings given on its command line (`-c name=value`), e.g. `{ fsync: "off" }`. */
  readonly settings?: Readonly<Record<string, string>>
}

/** Whether the PostgreSQL server binaries are installed (known without starting anything). */
export const postgresInstalled = (): boolean => findBinaries() !== undefined

/**
 * Starts a server, or returns undefined when PostgreSQL is not installed (so that a suite can say
 * it skips). With GESELL_REQUIRE_SERVERS=1 a missing PostgreSQL is an error instead.
 */
export const startPostgres = async (serverOptions: PostgresServerOptions = {}): Promise<PostgresServer | undefined> => {
  const bin = findBinaries()
  if (bin === undefined) {
    if (process.env["GESELL_REQUIRE_SERVERS"] === "1") throw new Error(installHint)
    return undefined
  }
  const asRoot = process.getuid?.() === 0
  const dir = await mkdtemp(join(tmpdir(), "gesell-postgres-"))
  const data = join(dir, "data")
  const sockets = join(dir, "sockets")
  await mkdir(sockets)
  if (asRoot) {
    const { uid, gid } = await postgresUser()
    await Promise.all([chown(dir, uid, gid), chown(sockets, uid, gid)])
  }
  // As root, runuser switches to the postgres user for the one command and returns its status.
  const pg = (program: string, args: readonly string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, program), ...args]) : run(join(bin, program), [...args])
  await pg("initdb", ["-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
  const port = await freePort()
  const settings = Object.entries(serverOptions.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`)
  const options = `-p ${port} -h 127.0.0.1 -k ${sockets}${settings.join("")}`
  // `pg_ctl status` exits with 0 only while the server runs; start and stop do nothing twice.
  const running = () => pg("pg_ctl", ["-D", data, "status"]).then(() => true, () => false)
  const start = async () => {
    if (await running()) return
    await pg("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", options, "-w", "-t", "30", "start"])
  }
  const stop = async () => {
    if (!(await running())) return
    await pg("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"])
  }
  const database = async (name: string) => {
    await pg("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
    return `postgres://postgres@127.0.0.1:${port}/${name}`
  }
  // A test process that dies without calling destroy (a crash, a closed pipe) must not leave a
  // server behind; "exit" handlers may only do synchronous work.
  const stopAtExit = () => {
    const command = asRoot ? ["runuser", "-u", "postgres", "--", join(bin, "pg_ctl")] : [join(bin, "pg_ctl")]
    const [program = "", ...first] = command
    // Its status is ignored: a server already stopped is what is wanted.
    spawnSync(program, [...first, "-D", data, "-m", "immediate", "-w", "stop"], { stdio: "ignore" })
    rmSync(dir, { recursive: true, force: true })
  }
  process.once("exit", stopAtExit)
  await start()
  const url = await database("gesell")
  const destroy = async () => {
    process.removeListener("exit", stopAtExit)
    await pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
  return { url, database, stop, start, destroy }
}
