-- Called by each commit that writes blocks: a block row may bring signatures to a block already
-- stored, never replace it. A row at a stored height with another hash fails the whole commit, so
-- that the writer learns its chain is not the stored one (and reloads) instead of going on with a
-- block storage does not hold. Stable: it reads the commit statement's snapshot.
create function ledger_expect_blocks(rows json) returns void language plpgsql stable strict as $$
declare
  clash record;
begin
  select b.height, b.hash as held, r.hash as given into clash
    from json_to_recordset(rows) as r (height bigint, hash text)
    join block b on b.height = r.height and b.hash <> r.hash
    limit 1;
  if found then
    raise exception 'block % is stored as %, not %', clash.height, clash.held, clash.given;
  end if;
end
$$;
