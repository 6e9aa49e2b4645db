-- Blocks (PROTOCOL.md section 5). A block's transactions are the `tx` rows first_seq ..
-- first_seq + tx_count - 1, so a block row holds only its header: sealing writes one small row
-- however many transactions the block seals.
create table block (
  height bigint primary key check (height >= 0),
  hash text not null unique,
  -- The header's JSON text, read back byte for byte.
  header text not null,
  first_seq bigint not null check (first_seq >= 0),
  tx_count integer not null check (tx_count >= 0),
  -- The validator set in force from the next height, as JSON {keys, threshold}.
  validators_next text not null,
  -- The signatures that made the block final, as a JSON list; null while it is not.
  signatures text,
  final boolean not null default false,
  check (final = (signatures is not null))
);
