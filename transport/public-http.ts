/**
 * The public endpoints, served alike by a node and by a peer (PROTOCOL.md sections 5 and 7):
 * liveness, readiness, supply, final blocks and the OpenAPI document. Blocks are assembled from
 * stored texts, never parsed and re-serialized, so that a block is served byte for byte as it was
 * hashed. Blocks hold transactions, which are for the federation's members (PROTOCOL.md section
 * 9.7): a request for them carries `Authorization: Member <id>.<unix ms>.<signature>` of a validator
 * in force or an observer (401 otherwise); block headers with their signatures are public. Reads of
 * blocks are bounded in concurrency (beyond, 503 `overloaded` at once, nothing queued) and in bytes
 * per page, so that a flood of them cannot starve the node.
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { memberOfHttpAuthorization } from "../engine/feed-login.js"
import { Effect } from "effect"
import type { LedgerStore, StoredBlockWithTxs } from "../storage/ledger.js"
import { NodeApi, NotFound, NotReady, problem, Unauthorized, Unavailable } from "./api.js"
import { storedBlockJson } from "./blocks-http.js"

/** A page of blocks holds at most this many transactions (always at least one block)… */
export const blocksPageTxMax = 50_000
/** …and at most this many bytes of blocks (always at least one block). */
export const blocksPageBytesMax = 4 * 1024 * 1024
/** Public block reads served at once; one more is answered 503 `overloaded` at once. */
export const publicReadsMax = 4

export interface Readiness {
  readonly ready: boolean
  readonly height: number
  readonly transactions: number
  /** Why the node is not ready, in a few words fit for anyone to read. */
  readonly reason?: string | undefined
}

export interface PublicSource {
  readonly readiness: () => Readiness
  /** Whether a key may read transactions: a validator in force or an observer. */
  readonly isMember: (id: string) => boolean
  /** The hash of block 0, which members' credentials sign; undefined while there is none. */
  readonly genesisHash: () => string | undefined
  readonly nowMs: () => number
  /** The supply document, or undefined while there is none (a peer without block 0). */
  readonly supply: () => object | undefined
  readonly store: LedgerStore
  readonly openApi: object
}

/** A JSON text already made (a stored block, a stored reply), answered as it is. */
export const jsonText = (body: string) => HttpServerResponse.text(body, { contentType: "application/json" })

/** Blocks until the page is full in transactions or bytes; the first block always goes in. */
export const pageOf = (blocks: readonly StoredBlockWithTxs[], bytesMax: number): string[] => {
  const texts: string[] = []
  let bytes = 0
  for (const block of blocks) {
    const text = storedBlockJson(block)
    bytes += Buffer.byteLength(text)
    if (texts.length > 0 && bytes > bytesMax) break
    texts.push(text)
  }
  return texts
}

const unavailable = problem(Unavailable, "unavailable", "the blocks cannot be read right now")
const notMember = problem(
  Unauthorized,
  "unauthorized",
  "transactions are for the federation's members: Authorization: Member <id>.<unix ms>.<signature over gesell/member-http/v1:<genesis hash>:<unix ms>>",
)

/** The header of a stored block with its signatures, as `/v1/headers` serves it. */
const headerJson = (block: StoredBlockWithTxs): string =>
  `{"height":${block.height},"hash":${JSON.stringify(block.hash)},"header":${block.header}${block.signatures === undefined ? "" : `,"signatures":${block.signatures}`}}`
const overloaded = problem(Unavailable, "overloaded", `more than ${publicReadsMax} block reads at once; retry later`)

/** The handlers of the `public` group; a peer serves the same group of its own API. */
export const publicGroup = (source: PublicSource) =>
  HttpApiBuilder.group(NodeApi, "public", (handlers) =>
    Effect.gen(function* () {
      const reads = yield* Effect.makeSemaphore(publicReadsMax)
      const member = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const genesisHash = source.genesisHash()
        const id = genesisHash === undefined ? undefined : memberOfHttpAuthorization(request.headers["authorization"], genesisHash, source.nowMs())
        return id !== undefined && source.isMember(id) ? Effect.void : Effect.fail(notMember)
      })
      const readBlocks = (from: number, limit: number, txMax: number) =>
        source.store.blocks(from, limit, txMax, true).pipe(
          Effect.mapError(() => unavailable),
          reads.withPermitsIfAvailable(1),
          Effect.flatMap((read) => (read._tag === "Some" ? Effect.succeed(read.value) : Effect.fail(overloaded))),
        )
      return handlers
        .handle("live", () => Effect.succeed({ ok: true as const }))
        .handle("health", () => {
          const { ready, height, transactions, reason } = source.readiness()
          return ready
            ? Effect.succeed({ ok: true as const, height, transactions })
            : Effect.fail(
                new NotReady({ ok: false, height, transactions, error: { code: "unavailable", message: reason ?? "the ledger cannot commit right now" } }),
              )
        })
        .handle("supply", () => {
          const supply = source.supply()
          return supply === undefined
            ? Effect.fail(problem(Unavailable, "unavailable", "no block yet"))
            : Effect.succeed(jsonText(JSON.stringify(supply)))
        })
        .handle("headers", ({ urlParams }) =>
          readBlocks(urlParams.from ?? 0, urlParams.limit ?? 100, blocksPageTxMax).pipe(
            Effect.map((blocks) => jsonText(`{"headers":[${blocks.map(headerJson).join(",")}]}`)),
          ),
          { uninterruptible: true },
        )
        .handle("blocks", ({ urlParams }) =>
          Effect.zipRight(member, readBlocks(urlParams.from ?? 0, urlParams.limit ?? 100, blocksPageTxMax)).pipe(
            Effect.map((blocks) => jsonText(`{"blocks":[${pageOf(blocks, blocksPageBytesMax).join(",")}]}`)),
          ),
          // A client that hangs up does not end the read: its permit is held until storage answers,
          // so that reads abandoned over and over cannot pile up behind the bound.
          { uninterruptible: true },
        )
        .handle("block", ({ path }) =>
          Effect.zipRight(member, readBlocks(path.height, 1, Number.MAX_SAFE_INTEGER)).pipe(
            Effect.flatMap(([block]) =>
              block === undefined || block.height !== path.height
                ? Effect.fail(problem(NotFound, "not_found", `no final block at height ${path.height} yet`))
                : Effect.succeed(jsonText(storedBlockJson(block))),
            ),
          ),
          { uninterruptible: true },
        )
        .handle("openapi", () => Effect.succeed(source.openApi))
    }),
  )
