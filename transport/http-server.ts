/**
 * The HTTP edge shared by the node and the peer: an HttpApi served on a Node HTTP server that the
 * caller created (so that the `ws` upgrades of /v1/readers and /v1/federation stay on the same
 * port), with what every request gets whatever its route:
 * - a body larger than `httpBodyBytesMax` is answered 413 before it is read in full;
 * - a body or parameter that does not match its Schema, a body that is not JSON, an unknown route
 *   are answered in the protocol's error form (`{"ok":false,"error":{...}}`);
 * - a defect in any handler is answered 500, logged once and counted: no request ends the process.
 * The same holds for upgrades: a handler that throws closes that socket, and only that socket.
 */
import { createServer, type Server } from "node:http"
import type { Socket } from "node:net"
import { Headers, HttpApiBuilder, HttpIncomingMessage, HttpServerError, HttpServerRequest, HttpServerResponse, type HttpApi, type HttpApp } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Effect, Layer, Option, type Scope } from "effect"
import { oneLine } from "./log-line.js"
import type { Metrics } from "./metrics.js"

/** The largest request body the node reads (a card import of 100,000 lines fits). */
export const httpBodyBytesMax = 8 * 1024 * 1024
/**
 * A request must arrive whole within these (Node's defaults are 60 s for the headers and 300 s for
 * the whole request): a client that trickles bytes cannot hold a connection for minutes.
 */
export const httpHeadersTimeoutMs = 20_000
export const httpRequestTimeoutMs = 60_000

/** The node's and the peer's HTTP server, with the time limits above. */
export const makeHttpServer = (): Server => createServer({ headersTimeout: httpHeadersTimeoutMs, requestTimeout: httpRequestTimeoutMs })

/** A defect's text is logged at most this long. */
const defectLogCharsMax = 2_000

/** Where defects are reported: each one logged once and counted (`/metrics`). */
export interface DefectSink {
  readonly defect: (where: "request" | "upgrade", description: string) => void
}

/** Defects counted in `gesell_defects_total` and logged on standard error, one bounded line each. */
export const defectSink = (metrics: Pick<Metrics, "defects">, log: (line: string) => void = (line) => console.error(line)): DefectSink => ({
  defect: (where, description) => {
    metrics.defects.inc({ where })
    log(`defect in an HTTP ${where} handler (answered, the node goes on): ${oneLine(description, defectLogCharsMax)}`)
  },
})

const jsonProblem = (status: number, code: string, message: string, field?: string) =>
  HttpServerResponse.unsafeJson({ ok: false, error: field === undefined ? { code, message } : { code, message, field } }, { status })

const squashedText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/**
 * What the API's own machinery could not answer in the protocol's form: an unknown route, a body
 * that is not JSON or too large (the builder reads bodies with `orDie`, so these arrive as
 * defects), and real defects.
 */
const answerCause = (sink: DefectSink) => (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && HttpServerError.isServerError(failure.value) && failure.value._tag === "RouteNotFound") {
    return Effect.succeed(jsonProblem(404, "not_found", "no such route"))
  }
  const error = Option.getOrElse(failure, () => Cause.squash(cause))
  if (HttpServerError.isServerError(error) && error._tag === "RequestError") {
    const tooLarge = error.cause instanceof Error && error.cause.message.includes("maxBytes")
    return Effect.succeed(
      tooLarge
        ? jsonProblem(413, "too_large", `bodies are at most ${httpBodyBytesMax} bytes`)
        : jsonProblem(400, "bad_request", "the body could not be read as the content type says (not JSON?)"),
    )
  }
  sink.defect("request", squashedText(cause))
  return Effect.succeed(jsonProblem(500, "internal", "the node could not answer this request; it was logged"))
}

interface DecodeErrorBody {
  readonly _tag?: unknown
  readonly issues?: ReadonlyArray<{ readonly path?: ReadonlyArray<unknown>; readonly message?: unknown }>
  readonly message?: unknown
}

/**
 * The builder answers a Schema mismatch with its own body (`HttpApiDecodeError`); the protocol's
 * error form names the first field at fault instead.
 */
const protocolDecodeError = (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse => {
  if (response.status !== 400 || response.body._tag !== "Uint8Array") return response
  let body: DecodeErrorBody
  try {
    body = JSON.parse(new TextDecoder().decode(response.body.body)) as DecodeErrorBody
  } catch {
    return response
  }
  if (body._tag !== "HttpApiDecodeError") return response
  const issue = body.issues?.[0]
  const field = issue?.path?.map(String).join(".") ?? ""
  const message = typeof issue?.message === "string" ? issue.message : String(body.message)
  return jsonProblem(400, "bad_request", oneLine(message, 500), field === "" ? undefined : field)
}

const contentLengthTooLarge = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  return length !== undefined && (!/^\d{1,16}$/.test(length) || Number(length) > httpBodyBytesMax)
}

/**
 * Bodies are JSON unless they say `text/csv` (a card import): a body sent without a content type,
 * as a form (what `curl -d` sends) or as plain text (what `fetch` sends for a string) is read as
 * JSON rather than refused for its header.
 */
const jsonByDefault = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest => {
  const type = request.headers["content-type"]?.toLowerCase() ?? ""
  if (type.startsWith("application/json") || /^application\/[^;]*\+json/.test(type) || type.startsWith("text/csv")) return request
  return request.modify({ headers: Headers.set(request.headers, "content-type", "application/json") })
}

const guarded = <E, R>(app: HttpApp.Default<E, R>, sink: DefectSink): HttpApp.Default<never, R> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    // Answered at once; Node then reads the announced body away (within the request's time limit)
    // rather than cut the connection, so that the client, still sending, gets the 413 and not a reset.
    if (contentLengthTooLarge(request)) return jsonProblem(413, "too_large", `bodies are at most ${httpBodyBytesMax} bytes`)
    return protocolDecodeError(yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, jsonByDefault(request)))
  }).pipe(
    Effect.catchAllCause(answerCause(sink)),
    HttpIncomingMessage.withMaxBodySize(Option.some(httpBodyBytesMax)),
  ) as HttpApp.Default<never, R>

/**
 * Serves the API that `apiLayer` implements (`HttpApiBuilder.api(Api)` with its groups provided) on
 * `server`'s requests until the scope closes. The server is the caller's: it listens, and takes its
 * upgrades, elsewhere.
 */
export const serveApi = (
  server: Server,
  apiLayer: Layer.Layer<HttpApi.Api, never, HttpApiBuilder.Router>,
  sink: DefectSink,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      apiLayer.pipe(
        Layer.provideMerge(HttpApiBuilder.Router.Live),
        Layer.provideMerge(HttpApiBuilder.Middleware.layer),
        Layer.provideMerge(NodeHttpServer.layerContext),
      ),
    )
    const handler = yield* HttpApiBuilder.httpApp.pipe(
      Effect.flatMap((app) => NodeHttpServer.makeHandler(guarded(app, sink))),
      Effect.provide(context),
    )
    server.on("request", handler)
    yield* Effect.addFinalizer(() => Effect.sync(() => server.off("request", handler)))
  })

/**
 * Listens until the scope closes, and keeps listening for the server's own errors afterwards (a
 * failed accept when file descriptors run out): each is logged and counted, never fatal. At close
 * every connection goes, upgraded ones too: the HTTP server stops tracking a socket once it is
 * upgraded, and `server.close` would wait for any of them that a client keeps open.
 */
export const listen = (server: Server, port: number, host: string, sink: DefectSink) => {
  const sockets = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  return Effect.acquireRelease(
    Effect.async<void, Error>((resume) => {
      const failed = (error: Error) => resume(Effect.fail(error))
      server.once("error", failed)
      server.listen(port, host, () => {
        server.off("error", failed)
        server.on("error", (error) => sink.defect("request", `the HTTP server: ${error.message}`))
        resume(Effect.void)
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      }),
  )
}
