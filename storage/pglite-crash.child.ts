/**
 * The child process of the PGlite crash test: opens a ledger on the data dir given as its last
 * argument, commits a few batches, prints "committed" and waits to be killed with SIGKILL.
 * Run with vite-node (it needs TypeScript): `vite-node storage/pglite-crash.child.ts DIR`.
 */
import { Console, Effect } from "effect"
import { crashBatches, crashBatchTxs, genesisDocument, genesisTx, salesBatch } from "./fixtures.js"
import { Ledger } from "./ledger.js"
import { pgliteLedger } from "./pglite.js"

// vite-node leaves its own path in argv[1] and the script's arguments after it.
const dataDir = process.argv.at(-1) ?? ""

const commitAndWait = Effect.gen(function* () {
  const store = yield* Ledger
  yield* store.initialize(genesisDocument, genesisTx)
  for (let batch = 0; batch < crashBatches; batch++) {
    yield* store.commit(salesBatch(1 + batch * crashBatchTxs, crashBatchTxs, batch * crashBatchTxs))
  }
  yield* Console.log("committed")
  return yield* Effect.never
}).pipe(Effect.provide(pgliteLedger(dataDir)))

Effect.runFork(commitAndWait)
