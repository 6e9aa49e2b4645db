-- The ledger's tables. Written for the group commit: one `tx` row per tap and one `wallet` row per
-- wallet touched by a batch, so the hot tables carry only the indexes that guard correctness.

-- The genesis document ('genesis') and the backing counters ('backing').
create table meta (
  key text primary key,
  value jsonb not null
);

-- Assets and places as JSON documents of the genesis form, so that new fields need no migration.
create table asset (
  id text primary key,
  doc jsonb not null
);

create table place (
  id text primary key,
  doc jsonb not null
);

create table reader (
  id text primary key,
  place text not null references place (id),
  role text not null check (role in ('bar', 'cashdesk')),
  token_sha256 text not null unique,
  revoked boolean not null default false
);

create table card (
  uid text primary key,
  number text,
  status text not null check (status in ('active', 'blocked', 'voided')),
  wallet text not null
);

-- Rewritten once per batch with the wallet's last value; the free space left in each page lets
-- Postgres update a row in place (a HOT update) without touching the primary key index.
create table wallet (
  id text primary key,
  balances jsonb not null,
  memberships jsonb not null,
  melted jsonb not null,
  last_activity_ms bigint not null
) with (fillfactor = 70);

-- One row per committed transaction. `body` is text, not jsonb, so that it is read back byte for
-- byte and never re-parsed by the database. A request made without a reader is stored with a null
-- `reader` and known to the idempotency index (and to the port) as reader '-'.
create table tx (
  seq bigint primary key check (seq >= 0),
  id text not null unique,
  time bigint not null,
  body text not null,
  reader text,
  request text,
  fingerprint text,
  reply text,
  ref text,
  check (request is null or (fingerprint is not null and reply is not null))
);

create unique index tx_request on tx ((coalesce(reader, '-')), request) where request is not null;
create unique index tx_ref on tx (ref) where ref is not null;
-- Rows arrive in time order, so a block range index finds the retention window for almost nothing
-- per insert.
create index tx_time on tx using brin (time);

-- Replies of requests that committed no transaction (failures and reads), for retries.
create table reply (
  reader text not null,
  request text not null,
  fingerprint text not null,
  reply text not null,
  time bigint not null,
  primary key (reader, request)
);

create index reply_time on reply using brin (time);

-- Called by each commit: a batch must continue the ledger with no gap and no overlap. Stable, so
-- that it reads the snapshot of the commit statement and never the rows that statement inserts;
-- strict, so that a batch without transactions (null) is not checked.
create function ledger_expect_next_seq(first bigint) returns void language plpgsql stable strict as $$
declare
  last bigint;
begin
  select max(seq) into last from tx;
  if first <> coalesce(last, -1) + 1 then
    raise exception 'seq % does not follow the last committed seq %', first, coalesce(last::text, 'none');
  end if;
end
$$;
