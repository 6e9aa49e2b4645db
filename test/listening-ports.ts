/**
 * The TCP ports a process listens on, read from Linux's /proc: its file descriptors name socket
 * inodes, and /proc/<pid>/net/tcp and tcp6 list the sockets of its network namespace with their
 * state (0A: listening), local address and inode.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs"

const socketInode = (link: string): string | undefined => /^socket:\[(\d+)\]$/.exec(link)?.[1]

/** A descriptor may close between the listing and the read: it is then not one of the process's sockets. */
const linkOf = (path: string): string => {
  try {
    return readlinkSync(path)
  } catch {
    return ""
  }
}

export const listeningTcpPorts = (pid: number | "self"): number[] => {
  const fds = `/proc/${pid}/fd`
  const inodes = new Set(readdirSync(fds).flatMap((fd) => socketInode(linkOf(`${fds}/${fd}`)) ?? []))
  const ports: number[] = []
  for (const table of ["tcp", "tcp6"].map((name) => `/proc/${pid}/net/${name}`).filter((path) => existsSync(path))) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const [, local = "", , state, , , , , , inode = ""] = line.trim().split(/\s+/)
      if (state === "0A" && inodes.has(inode)) ports.push(Number.parseInt(local.split(":").at(-1) ?? "", 16))
    }
  }
  return ports.sort((a, b) => a - b)
}
