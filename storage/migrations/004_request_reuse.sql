-- A reader may use a request id again once the 24 hours of idempotency have passed (PROTOCOL.md
-- section 3). The node keeps requests unique within that window itself (in memory, and by looking
-- up the ids it forgot); a unique index over all time would make such a reuse fail every commit it
-- joins, again at each retry. The index stays, for lookups, without uniqueness.
drop index tx_request;
create index tx_request on tx ((coalesce(reader, '-')), request) where request is not null;
