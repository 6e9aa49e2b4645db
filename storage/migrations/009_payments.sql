-- Ledger format 2 (PROTOCOL.md section 9.5): each refill's payment, what of it was refunded online,
-- and the refund waiting for the processor's answer, so that a refund never exceeds what was paid.
create table payment (
  ref text primary key,
  wallet text not null,
  paid bigint not null check (paid > 0),
  refunded bigint not null check (refunded >= 0),
  pending_tx text,
  pending_amount bigint check (pending_amount > 0),
  check ((pending_tx is null) = (pending_amount is null)),
  check (refunded + coalesce(pending_amount, 0) <= paid)
);
