-- Cards by pseudonym (PROTOCOL.md section 9.4): a card is named in the ledger by its pseudonym, the
-- HMAC of its uid under the federation's card key, and the node keeps no uid at all (a reader's uid is
-- turned into the pseudonym as it comes in). The key itself is kept in meta `cardKey` from the
-- ledger's creation, with the ledger, so that a backup of the database is a backup of both.
alter table card rename column uid to id;
