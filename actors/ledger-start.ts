/**
 * A new ledger from the genesis document an operator gives (PROTOCOL.md sections 6, 9.4, 9.8): its
 * cards listed by uid become pseudonyms under a new card key; block 0's document carries their
 * commitment instead of the list; the `cards` transactions that register them (seq 1 on, sealed in
 * block 1) are executed by the engine as every replica will re-execute them, and committed with the
 * genesis in one database transaction, with the numbers printed on the cards, which stay with the
 * node.
 */
import { canonicalJson } from "../engine/canonical.js"
import { execute } from "../engine/execute.js"
import { decodeGenesis, decodeGenesisInput, genesisTransaction, ledgerFromGenesis, ledgerGenesisDocument } from "../engine/genesis.js"
import * as limits from "../engine/limits.js"
import { isRecord, type CardId, type TimeMs, type TxId } from "../engine/names.js"
import { cardsCommitment } from "../engine/pseudonyms.js"
import type { JsonValue, LedgerState } from "../engine/state.js"
import { transactionJson } from "../engine/transaction.js"
import { decodeCommand } from "../engine/command.js"
import type { CommitBatch, LedgerStart, StoredTx } from "../storage/ledger.js"
import type { CardKey } from "./card-key.js"
import { emptyTouched, touchedBy, touchedRows } from "./snapshot.js"

export interface NewLedger {
  /** Block 0's document: the cards by their commitment. */
  readonly document: JsonValue
  readonly genesisTx: StoredTx
  readonly start: LedgerStart
  /** The engine's state once the genesis's cards are registered: what a writer starts from. */
  readonly state: LedgerState
}

/** The ledger a genesis document makes, or why the document is refused (the field at fault and why). */
export const newLedger = (input: JsonValue, key: CardKey, nowMs: number): NewLedger | { readonly field: string; readonly message: string } => {
  // Block 0 states the rules' version (PROTOCOL.md section 9.1): 1 when the document does not say.
  const given = isRecord(input) && input["rules"] === undefined ? { ...input, rules: 1 } : input
  const decodedInput = decodeGenesisInput(given)
  if (!decodedInput.ok) return decodedInput
  const numbers = new Map<CardId, string | undefined>()
  for (const card of decodedInput.value.cards) numbers.set(key.pseudonym(card.uid), card.number)
  const pseudonyms = [...numbers.keys()].sort()
  const document = ledgerGenesisDocument(given as Record<string, JsonValue>, cardsCommitment(pseudonyms))
  const genesis = decodeGenesis(document)
  if (!genesis.ok) return genesis
  const tx0 = genesisTransaction(document, nowMs as TimeMs)
  const body = canonicalJson(tx0)
  if (!body.ok) return { field: body.path, message: `the genesis document has no canonical form (${body.reason})` }
  const state = ledgerFromGenesis(genesis.value)
  const txs: StoredTx[] = []
  const touched = emptyTouched()
  for (let start = 0; start < pseudonyms.length; start += limits.cardsPerTxMax) {
    const chunk = pseudonyms.slice(start, start + limits.cardsPerTxMax)
    const seq = txs.length + 1
    const command = decodeCommand({ kind: "cards", cards: chunk.map((card) => ({ card })) })
    if (!command.ok) throw new Error(`the genesis cards make no command: ${command.message}`)
    const executed = execute(state, command.value, { now: nowMs as TimeMs, txId: String(seq) as TxId })
    if (!executed.ok || executed.tx === null) throw new Error(`the engine refused the genesis cards: ${executed.ok ? "no transaction" : executed.message}`)
    for (const card of chunk) {
      const number = numbers.get(card)
      const record = state.cards.get(card)
      if (record !== undefined && number !== undefined) record.number = number
    }
    txs.push({ seq, id: executed.tx.id, time: executed.tx.time, body: transactionJson(executed.tx) })
    touchedBy(state, executed.tx, touched, seq)
  }
  const first: CommitBatch = { txs, replies: [], ...touchedRows(state, touched) }
  return { document, genesisTx: { seq: 0, id: tx0.id, time: tx0.time, body: body.value }, start: { cardKey: key.exportHex(), first }, state }
}
