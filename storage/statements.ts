/**
 * The SQL of every ledger operation, as postgres.js calls that return promises. This is the one
 * place that speaks SQL; `postgres.ts` calls each of these exactly once inside Effect.tryPromise.
 * Rows come back undecoded (`unknown`): `rows.ts` decodes them.
 *
 * A multi-row write passes its rows as one JSON document that `json_to_recordset` expands, so a
 * batch costs one statement whatever its size. JSON text is cast from `text`: a parameter the server
 * describes as json would be stringified a second time by postgres.js. Rows with nested objects
 * (wallets, documents) go through jsonb, whose nested values need no second parse (measured 2-3x
 * faster server side than json for the wallet upsert); flat rows go through json, cheaper to read once.
 *
 * A commit and a load are each ONE statement, hence one implicit transaction and one snapshot, and
 * not `sql.begin`: when the server goes away in the middle of a `begin`, postgres.js 3.4.9 writes its
 * ROLLBACK to the closed socket from a setImmediate and the uncaught TypeError kills the process
 * (porsager/postgres#1154, #1208, unfixed upstream). A single statement just fails. `begin` is left
 * to what runs once at start: migrations and initialization.
 */
import type postgres from "postgres"
import type { JsonValue } from "../engine/state.js"
import { ledgerFormat, registryMetaKeys, type StoredTx } from "./ledger.js"
import type { BatchRows, GenesisRows } from "./rows.js"

export type Sql = postgres.Sql
/** A pool or a transaction: whatever can run a statement. */
type Session = postgres.ISql

/**
 * One batch, one statement: all of it is written, or none of it. Each part is a data-modifying CTE,
 * and PostgreSQL runs every one of them to completion even though the main query reads none. An
 * absent part is a null document, which the strict json_to_recordset turns into no rows: one fixed
 * statement, one prepared plan. The seq check runs on the statement's snapshot (the function is
 * stable), so it never sees the rows the statement inserts.
 */
export const writeBatch = (sql: Session, batch: BatchRows) => sql`
  with clock as (
    -- The ledger's running time after this batch: what the node ran since its previous commit added.
    select coalesce((select value::text::bigint from meta where key = 'running'), 0) + coalesce(${batch.runningMs ?? null}::bigint, 0)
      as running_ms
  ), running as (
    insert into meta (key, value)
    select 'running', to_jsonb(running_ms) from clock where ${batch.runningMs ?? null}::bigint is not null
    on conflict (key) do update set value = excluded.value
  ), incoming as (
    select reader, request, time
    from json_to_recordset(${batch.requests ?? null}::text::json) as r (reader text, request text, time bigint)
  ), stored as (
    -- The backstop under the writer's memory: a request stored within the window by either measure
    -- (its time, or its running time) is one request, never a second; so is one listed twice.
    select incoming.reader || '/' || incoming.request as key from incoming, clock
    where exists (select 1 from tx where coalesce(tx.reader, '-') = incoming.reader and tx.request = incoming.request
        and (incoming.time - tx.time <= ${batch.windowMs}::bigint or clock.running_ms - tx.running_ms <= ${batch.windowMs}::bigint))
      or exists (select 1 from reply where reply.reader = incoming.reader and reply.request = incoming.request
        and (incoming.time - reply.time <= ${batch.windowMs}::bigint or clock.running_ms - reply.running_ms <= ${batch.windowMs}::bigint))
    union
    select reader || '/' || request from incoming group by reader, request having count(*) > 1
  ), wallets as (
    insert into wallet (id, balances, memberships, melted, last_activity_ms)
    select id, balances, memberships, melted, "lastActivityMs"
    from jsonb_to_recordset(${batch.wallets ?? null}::text::jsonb) as r (id text, balances jsonb, memberships jsonb,
      melted jsonb, "lastActivityMs" bigint)
    on conflict (id) do update set balances = excluded.balances, memberships = excluded.memberships,
      melted = excluded.melted, last_activity_ms = excluded.last_activity_ms
  ), cards as (
    -- A card's number is printed on it and never changes; a row without one keeps the stored one. Its
    -- staff rights are the row's: a row without them takes them away.
    insert into card (id, number, status, wallet, staff)
    select id, number, status, wallet, staff
    from json_to_recordset(${batch.cards ?? null}::text::json) as r (id text, number text, status text, wallet text, staff jsonb)
    on conflict (id) do update set number = coalesce(excluded.number, card.number), status = excluded.status,
      wallet = excluded.wallet, staff = excluded.staff
  ), places as (
    -- The registry (PROTOCOL.md section 9.2): documents replaced whole, readers by their row. A reader
    -- may name a place of this batch: foreign keys are checked once the whole statement has run.
    insert into place (id, doc)
    select doc ->> 'id', doc from jsonb_array_elements(${batch.places ?? null}::text::jsonb) as doc
    on conflict (id) do update set doc = excluded.doc
  ), assets as (
    insert into asset (id, doc)
    select doc ->> 'id', doc from jsonb_array_elements(${batch.assets ?? null}::text::jsonb) as doc
    on conflict (id) do update set doc = excluded.doc
  ), readers as (
    insert into reader (id, place, role, token_sha256, revoked)
    select id, place, role, "tokenSha256", revoked
    from json_to_recordset(${batch.readers ?? null}::text::json) as r (id text, place text, role text, "tokenSha256" text,
      revoked boolean)
    on conflict (id) do update set place = excluded.place, role = excluded.role, token_sha256 = excluded.token_sha256,
      revoked = excluded.revoked
  ), registry as (
    -- Steward set, observers, rules version: keys no other part of the statement writes (rows.ts checks).
    insert into meta (key, value)
    select key, value from jsonb_to_recordset(${batch.meta ?? null}::text::jsonb) as r (key text, value jsonb)
    on conflict (key) do update set value = excluded.value
  ), approved as (
    insert into approved (request, seq)
    select request, seq from json_to_recordset(${batch.approved ?? null}::text::json) as r (request text, seq bigint)
  ), replies as (
    insert into reply (reader, request, fingerprint, reply, time, running_ms)
    select reader, request, fingerprint, reply, time, clock.running_ms
    from json_to_recordset(${batch.replies ?? null}::text::json) as r (reader text, request text, fingerprint text,
      reply text, time bigint), clock
    -- An id used again after the idempotency window replaces its old reply (one within the window
    -- fails the commit, above).
    on conflict (reader, request) do update set fingerprint = excluded.fingerprint, reply = excluded.reply, time = excluded.time,
      running_ms = excluded.running_ms
      where reply.time < excluded.time
  ), backing as (
    insert into meta (key, value)
    select 'backing', value from (select ${batch.backing ?? null}::text::jsonb as value) as b where value is not null
    on conflict (key) do update set value = excluded.value
  ), payments as (
    insert into payment (ref, wallet, paid, refunded, pending_tx, pending_amount)
    select ref, wallet, paid, refunded, "pendingTx", "pendingAmount"
    from json_to_recordset(${batch.payments ?? null}::text::json) as r (ref text, wallet text, paid bigint, refunded bigint,
      "pendingTx" text, "pendingAmount" bigint)
    on conflict (ref) do update set refunded = excluded.refunded, pending_tx = excluded.pending_tx,
      pending_amount = excluded.pending_amount
  ), validators as (
    insert into meta (key, value)
    select 'validators', value from (select ${batch.validators ?? null}::text::jsonb as value) as v where value is not null
    on conflict (key) do update set value = excluded.value
  ), blocks as (
    -- A block is sealed once; a later row for its height (same hash) only brings its signatures,
    -- and a final block stays final.
    insert into block (height, hash, header, first_seq, tx_count, validators_next, signatures, final)
    select height, hash, header, "firstSeq", "txCount", "validatorsNext", signatures, signatures is not null
    from json_to_recordset(${batch.blocks ?? null}::text::json) as r (height bigint, hash text, header text,
      "firstSeq" bigint, "txCount" integer, "validatorsNext" text, signatures text)
    on conflict (height) do update set signatures = coalesce(excluded.signatures, block.signatures),
      final = block.final or excluded.final
      where block.hash = excluded.hash
  ), txs as (
    insert into tx (seq, id, time, body, reader, request, fingerprint, reply, ref, running_ms)
    select seq, id, time, body, reader, request, fingerprint, reply, ref, clock.running_ms
    from json_to_recordset(${batch.txs ?? null}::text::json) as r (seq bigint, id text, time bigint, body text,
      reader text, request text, fingerprint text, reply text, ref text), clock
  )
  select ledger_expect_next_seq(${batch.seqs[0] ?? null}::bigint), ledger_expect_blocks(${batch.blocks ?? null}::text::json),
    ledger_refuse_stored_requests((select json_agg(key order by key) from stored))`

/**
 * Every part of a snapshot in one statement, so from one snapshot of the database without a
 * transaction: a row per item, `part` saying which part of `Snapshot` it belongs to (`snapshotParts`
 * in rows.ts), `doc` the item as JSON with the port's field names.
 */
export const readSnapshot = (pool: Sql, sinceMs: number, requestsMax: number | null, windowMs: number) => pool`
  with recent as (
    -- A request is in the window while its time or its running time says so (ledger.ts, requestWindowMs).
    -- The bound is a scalar subquery, computed once, so that both block range indexes can serve the or.
    select coalesce(reader, '-') as reader, request, fingerprint, reply, time from tx
      where request is not null and (time >= ${sinceMs}
        or running_ms > (select coalesce((select value::text::bigint from meta where key = 'running'), 0) - ${windowMs}::bigint))
    union all select reader, request, fingerprint, reply, time from reply
      where time >= ${sinceMs}
        or running_ms > (select coalesce((select value::text::bigint from meta where key = 'running'), 0) - ${windowMs}::bigint)
  ), ranked as (
    select reader, request, fingerprint, reply, time, row_number() over (order by time desc) as rank from recent
  )
  select 0 as part, value::json as doc from meta where key = 'genesis'
  union all select 1, doc::json from asset
  union all select 2, doc::json from place
  union all select 3, json_build_object('id', id, 'place', place, 'role', role, 'tokenSha256', token_sha256,
    'revoked', revoked) from reader
  union all select 4, json_build_object('id', id, 'number', number, 'status', status, 'wallet', wallet, 'staff', staff) from card
  union all select 5, json_build_object('id', id, 'balances', balances, 'memberships', memberships, 'melted', melted,
    'lastActivityMs', last_activity_ms) from wallet
  union all select 6, doc from (select json_build_object('reader', reader, 'request', request,
    'fingerprint', fingerprint, 'reply', reply, 'time', time) as doc from ranked
    where rank <= coalesce(${requestsMax}::bigint, rank) order by time) as newest
  union all select 10, json_build_object('key', reader || '/' || request, 'time', time) from ranked
    where rank > coalesce(${requestsMax}::bigint, rank)
  union all select 7, to_json(ref) from tx where ref is not null
  union all select 8, value::json from meta where key = 'backing'
  union all select 9, to_json(max(seq)) from tx
  union all select 11, value::json from meta where key = 'validators'
  union all select 12, json_build_object('key', key, 'value', value) from meta
    where key in (select json_array_elements_text(${JSON.stringify(registryMetaKeys)}::text::json))
  union all select 13, to_json(request) from approved
  union all select 14, to_json(hash) from block where height = 0
  union all select 15, value::json from meta where key = 'cardKey'
  union all select 16, json_build_object('ref', ref, 'wallet', wallet, 'paid', paid, 'refunded', refunded,
    'pendingTx', pending_tx, 'pendingAmount', pending_amount) from payment`

export const readTransactions = (pool: Sql, fromSeq: number, limit: number) => pool`
  select seq, id, time, body, reader, request, fingerprint, reply, ref from tx
  where seq >= ${fromSeq} order by seq limit ${limit}`

const blockColumns = "height, hash, header, first_seq, tx_count, validators_next, signatures"

/**
 * Blocks with their transactions' texts joined by commas: the feed serves them without parsing.
 * The running sum stops a page before it holds more than `txMax` transactions (the first block is
 * always in it, whatever its size).
 */
export const readBlocks = (pool: Sql, fromHeight: number, limit: number, txMax: number, finalOnly: boolean) => pool`
  with page as (
    select ${pool.unsafe(blockColumns)}, sum(tx_count) over (order by height) - tx_count as before,
      row_number() over (order by height) as position
    from block where height >= ${fromHeight} and (final or not ${finalOnly}) order by height limit ${limit}
  )
  select height, hash, header, first_seq, tx_count, validators_next, signatures,
    (select coalesce(string_agg(body, ',' order by seq), '') from tx
      where seq >= page.first_seq and seq < page.first_seq + page.tx_count) as txs
  from page where position = 1 or before + tx_count <= ${txMax} order by height`

export const readBlockTip = (pool: Sql) => pool`
  select ${pool.unsafe(blockColumns)}, (select coalesce(max(height), -1) from block where final) as final_height
  from block order by height desc limit 1`

/**
 * The ids among `ids` that the ledger holds. The ids go as one JSON text, as commits' rows do:
 * postgres.js escapes each element of a text array in JavaScript, which cost a follower about 3 µs
 * per transaction it checked.
 */
export const readKnownTxIds = (pool: Sql, ids: readonly string[]) => pool`
  select id from tx where id in (select json_array_elements_text(${JSON.stringify(ids)}::text::json))`

/**
 * The newest reply of a request id (an id may have been used again after the idempotency window),
 * with its time and its age in the ledger's running time.
 */
export const readReply = (pool: Sql, reader: string, request: string) => pool`
  select fingerprint, reply, time,
    coalesce((select value::text::bigint from meta where key = 'running'), 0) - running_ms as running_age_ms
  from (
    select fingerprint, reply, time, running_ms from tx where coalesce(reader, '-') = ${reader} and request = ${request}
    union all
    select fingerprint, reply, time, running_ms from reply where reader = ${reader} and request = ${request}
  ) as found order by time desc limit 1`

export const readInitialized = (pool: Sql) => pool`select exists (select 1 from meta where key = 'genesis') as value`

/**
 * Whether the database holds a ledger, and its format (`decodeFormat` in rows.ts). Read before the
 * migrations, so that a ledger this code does not open is left as it was found: the tables may not
 * be there yet, and a statement naming a missing table fails whole.
 */
export const readFormat = async (pool: Sql): Promise<readonly object[]> => {
  const [tables] = await pool`select to_regclass('meta') is not null as present`
  if (tables?.["present"] !== true) return []
  return pool`select exists (select 1 from meta where key = 'genesis') as ledger,
    (select value from meta where key = 'format') as format`
}

export const ping = (pool: Sql) => pool`select 1`

/** The settings a commit's durability depends on, as this session sees them (`durabilityProblem` in postgres.ts). */
export const readDurabilitySettings = (pool: Sql) => pool`
  select name, setting from pg_settings where name in ('fsync', 'full_page_writes', 'synchronous_commit')`

const insertDocuments = (sql: Session, table: "asset" | "place", rows: GenesisRows["assets"]) =>
  rows.length === 0
    ? []
    : [sql`insert into ${sql(table)} (id, doc) select id, doc
           from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r (id text, doc jsonb)`]

const insertGenesis = (sql: Session, genesis: JsonValue, rows: GenesisRows, tx: StoredTx, cardKey: string | undefined) => [
  sql`insert into meta (key, value) values ('genesis', ${JSON.stringify(genesis)}::text::jsonb),
      ('cardKey', ${JSON.stringify(cardKey ?? null)}::text::jsonb),
      ('format', ${JSON.stringify(ledgerFormat)}::text::jsonb),
      ('backing', ${JSON.stringify({ received: 0, refunded: 0, paidOut: 0 })}::text::jsonb)`,
  ...insertDocuments(sql, "asset", rows.assets),
  // Places before readers: a reader refers to its place.
  ...insertDocuments(sql, "place", rows.places),
  ...(rows.readers.length === 0
    ? []
    : [sql`insert into reader (id, place, role, token_sha256, revoked)
           select id, place, role, "tokenSha256", revoked from json_to_recordset(${JSON.stringify(rows.readers)}::text::json)
           as r (id text, place text, role text, "tokenSha256" text, revoked boolean)`]),
  sql`insert into tx (seq, id, time, body) values (${tx.seq}, ${tx.id}, ${tx.time}, ${tx.body})`,
]

/**
 * Creates the ledger unless one is there, with its first batch (the genesis's cards) in the same
 * database transaction. The advisory lock makes two nodes that initialize the same database at once
 * agree: the second one waits, then finds the first one's genesis.
 */
export const writeGenesis = (
  pool: Sql,
  genesis: JsonValue,
  rows: GenesisRows,
  tx: StoredTx,
  cardKey: string | undefined,
  first: BatchRows | undefined,
): Promise<boolean> =>
  pool.begin(async (sql) => {
    await sql`select pg_advisory_xact_lock(hashtext('gesell.initialize'))`
    const existing = await sql`select 1 from meta where key = 'genesis'`
    if (existing.length > 0) return false
    await Promise.all(insertGenesis(sql, genesis, rows, tx, cardKey))
    if (first !== undefined) await writeBatch(sql, first)
    return true
  })

