-- Ledger format 2 (PROTOCOL.md section 9.2): a card may carry staff rights, `{places, roles, until}`,
-- given and taken away by `cards` transactions. A document, like the registry's places and assets,
-- so that the rights can grow without another migration; null when the card has none.
alter table card add column staff jsonb check (staff is null or jsonb_typeof(staff) = 'object');
