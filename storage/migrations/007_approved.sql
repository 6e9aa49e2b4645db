-- Ledger format 2 (PROTOCOL.md section 9.3): the request id of every approved command, kept for all
-- time, so that an approval is never used twice. The primary key refuses a commit that would use one
-- again, whatever the engine let through.
create table approved (
  request text primary key,
  seq bigint not null check (seq > 0)
);
