-- A request id stays one request for the idempotency window by the wall clock AND by the node's own
-- running time (README, "Reader protocol notes"): a wall clock that jumps forward (a device without a
-- real-time clock, a restored virtual machine) must not end the window early, and one that jumps back
-- must not either. Each commit adds the node's running time since its previous commit (its monotonic
-- clock) to meta 'running', and stamps the requests it writes with the sum.
alter table tx add column running_ms bigint;
alter table reply add column running_ms bigint;

-- Rows arrive in running-time order as they do in time order: a block range index finds the window
-- for almost nothing per insert, and the load reads it with the time index (a bitmap OR).
create index tx_running on tx using brin (running_ms);
create index reply_running on reply using brin (running_ms);

-- Requests stored before running time was kept: those of the last window (by the newest stored time,
-- not by this server's clock) count as committed at running time 0, so that they are kept a whole
-- window of running time after the upgrade; older ones keep no running time (null) and are judged by
-- their time alone, as before. 86,460,000 ms is the window: 24 hours and a minute.
create temporary table newest on commit drop as
  select greatest((select max(time) from tx), (select max(time) from reply)) as time;
update tx set running_ms = 0 where request is not null and time >= (select time from newest) - 86460000;
update reply set running_ms = 0 where time >= (select time from newest) - 86460000;

-- Called by each commit with the keys (`reader/request`) of its requests that the database holds
-- already within the window, or that the batch lists twice (null: none). The check itself is part
-- of the commit statement (statements.ts), where it reads the statement's snapshot; this only fails
-- it, as a unique violation naming the keys, which the writer answers as retries of stored requests.
create function ledger_refuse_stored_requests(keys json) returns void language plpgsql strict as $$
begin
  raise exception 'requests already stored within the idempotency window: %', keys
    using errcode = 'unique_violation', constraint = 'request_window', detail = keys::text;
end
$$;
