/**
 * The public block endpoints (PROTOCOL.md section 5), served alike by a node and by a peer from their
 * own storage: `GET /v1/blocks?from=H&limit=N` and `GET /v1/blocks/H`, final blocks only. Blocks are
 * assembled from stored texts, never parsed and re-serialized, so that a block is served byte for
 * byte as it was hashed.
 */
import { Effect, Either } from "effect"
import { blocksPageMax } from "../engine/limits.js"
import type { LedgerStore, StoredBlockWithTxs } from "../storage/ledger.js"

/** A page of blocks holds at most this many transactions (always at least one block). */
export const blocksPageTxMax = 50_000

export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** A stored block as the JSON text of the protocol. */
export const storedBlockJson = (block: StoredBlockWithTxs): string =>
  `{"header":${block.header},"txs":[${block.txs}]${block.signatures === undefined ? "" : `,"signatures":${block.signatures}`}}`

const problem = (status: number, code: string, message: string): HttpAnswer => ({
  status,
  body: JSON.stringify({ ok: false, error: { code, message } }),
})

const count = (text: string | null, fallback: number): number | undefined => {
  if (text === null) return fallback
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined
}

const read = (effect: Effect.Effect<readonly StoredBlockWithTxs[], unknown>, answer: (blocks: readonly StoredBlockWithTxs[]) => HttpAnswer) =>
  Effect.runPromise(Effect.either(effect)).then((result) =>
    Either.isRight(result) ? answer(result.right) : problem(503, "unavailable", "the blocks cannot be read right now"),
  )

export const blocksPage = (store: LedgerStore, query: URLSearchParams): Promise<HttpAnswer> => {
  const from = count(query.get("from"), 0)
  const limit = count(query.get("limit"), 100)
  if (from === undefined) return Promise.resolve(problem(400, "bad_request", "from must be a height (a non-negative integer)"))
  if (limit === undefined || limit < 1 || limit > blocksPageMax) {
    return Promise.resolve(problem(400, "bad_request", `limit must be an integer from 1 to ${blocksPageMax}`))
  }
  return read(store.blocks(from, limit, blocksPageTxMax, true), (blocks) => ({
    status: 200,
    body: `{"blocks":[${blocks.map(storedBlockJson).join(",")}]}`,
  }))
}

export const oneBlock = (store: LedgerStore, heightText: string): Promise<HttpAnswer> => {
  const height = count(heightText, 0)
  if (height === undefined) return Promise.resolve(problem(400, "bad_request", "a block height is a non-negative integer"))
  return read(store.blocks(height, 1, Number.MAX_SAFE_INTEGER, true), (blocks) => {
    const block = blocks[0]
    return block === undefined || block.height !== height
      ? problem(404, "not_found", `no final block at height ${height} yet`)
      : { status: 200, body: storedBlockJson(block) }
  })
}
