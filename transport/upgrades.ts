/**
 * WebSocket upgrades on the node's HTTP server: each path's handler takes its own, an unknown path
 * gets 404, and no upgrade request, however malformed, can throw out of the server's event.
 */
import type { IncomingMessage, Server } from "node:http"
import type { Duplex } from "node:stream"
import type { DefectSink } from "./http-server.js"

/** Something that takes the WebSocket upgrades of its own path, and says whether it took this one. */
export interface UpgradeHandler {
  readonly upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean
}

/**
 * Answers an upgrade request with an HTTP status and no WebSocket, then lets the socket go once the
 * answer is written: the HTTP server no longer tracks an upgrade's socket, and one left half open by
 * its client would otherwise hold the server's close at shutdown.
 */
export const rejectUpgrade = (socket: Duplex, status: number, text: string): void => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy())
}

/** The path of a request target, or undefined when it is not one (`//[`, a bare `*`...). */
export const pathOf = (request: IncomingMessage): { readonly path: string; readonly query: URLSearchParams } | undefined => {
  if (!URL.canParse(request.url ?? "", "http://localhost")) return undefined
  const url = new URL(request.url ?? "/", "http://localhost")
  return { path: url.pathname, query: url.searchParams }
}

/**
 * Routes each upgrade to the first handler that takes its path; any other path gets 404. A handler
 * that throws costs that socket only: it is destroyed, and the defect logged once and counted.
 */
export const attachUpgrades = (server: Server, handlers: readonly UpgradeHandler[], sink: DefectSink): void => {
  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The HTTP server stops listening for errors on an upgrade's socket: a client that is already
    // gone makes our answer fail with EPIPE, and an 'error' event nobody listens to ends the process.
    socket.on("error", () => socket.destroy())
    try {
      if (!handlers.some((handler) => handler.upgrade(request, socket, head))) rejectUpgrade(socket, 404, "Not Found")
    } catch (error) {
      sink.defect("upgrade", error instanceof Error ? `${error.name}: ${error.message}` : String(error))
      socket.destroy()
    }
  })
}
