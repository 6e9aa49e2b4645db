/**
 * What the kernel says about the processes under test, from /proc: CPU time (user + system, in
 * clock ticks) of one process or of a whole PostgreSQL server (the postmaster, its live children,
 * and the children it has reaped, so that a backend that ends in the middle of a phase is still
 * counted), and a process's peak resident memory (VmHWM), which can be reset between phases.
 * Linux only; elsewhere the readings are undefined and the table says n/a.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"

/** Clock ticks per second of the CPU times in /proc/<pid>/stat (`getconf CLK_TCK`, almost always 100). */
export const clockTicksPerSecond = (): number => {
  const answer = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const ticks = Number(answer.stdout?.trim())
  return Number.isSafeInteger(ticks) && ticks > 0 ? ticks : 100
}

interface Stat {
  readonly parent: number
  /** utime + stime of the process itself. */
  readonly ownTicks: number
  /** cutime + cstime: its children that it has waited for. */
  readonly reapedTicks: number
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces), numbered from 3. */
const readStat = (pid: number): Stat | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const field = (number: number) => Number(fields[number - 3])
  return { parent: field(4), ownTicks: field(14) + field(15), reapedTicks: field(16) + field(17) }
}

const pids = (): number[] => {
  try {
    return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return []
  }
}

/** CPU ticks of one process and of the children it reaped. */
export const processTicks = (pid: number): number | undefined => {
  const stat = readStat(pid)
  return stat === undefined ? undefined : stat.ownTicks + stat.reapedTicks
}

const commandLine = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
  } catch {
    return []
  }
}

/** The postmaster listening on `port`: a `postgres` program started with `-p <port>`. */
export const postmasterOf = (port: number): number | undefined =>
  pids().find((pid) => {
    const argv = commandLine(pid)
    const portAt = argv.indexOf("-p")
    return (argv[0] ?? "").endsWith("/postgres") && portAt !== -1 && argv[portAt + 1] === String(port)
  })

/** CPU ticks of a PostgreSQL server: its postmaster, every backend and helper alive, and those it reaped. */
export const serverTicks = (postmaster: number): number | undefined => {
  const root = readStat(postmaster)
  if (root === undefined) return undefined
  let ticks = root.ownTicks + root.reapedTicks
  for (const pid of pids()) {
    const stat = pid === postmaster ? undefined : readStat(pid)
    if (stat?.parent === postmaster) ticks += stat.ownTicks
  }
  return ticks
}

const statusField = (pid: number, name: string): number | undefined => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((entry) => entry.startsWith(`${name}:`))
    const kilobytes = Number(line?.split(/\s+/)[1])
    return Number.isFinite(kilobytes) ? kilobytes * 1024 : undefined
  } catch {
    return undefined
  }
}

/** The most memory the process has held resident (VmHWM), in bytes. */
export const peakResidentBytes = (pid: number): number | undefined => statusField(pid, "VmHWM")

/**
 * Resets VmHWM to the current resident size (writing 5 to clear_refs, Linux 4.0+, needs the right
 * to write there), so that each phase reports its own peak. Returns whether it worked.
 */
export const resetPeakResident = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}
