-- The decision record of each exchange: why information was asked for and shared (or not),
-- kept after the shared content is purged, until the protocol's record retention
-- (docs/storage.md "The decision record"). Kept identical to the PostgreSQL migration.
--
-- decisions_ct: AES-256-GCM ciphertext (content key, blob kind "decisions") of the decisions
--   with their reasons, as JSON. Replaces the plain JSON the `decisions` column held: the
--   store writes '' there from now on and reads the old plain form until the row is rewritten.
--   NULL once the record was purged.
-- reasons_ct: AES-256-GCM ciphertext (blob kind "reasons") of the request's reasons as the
--   record keeps them (accord_domain::RequestReasons), written at submission. NULL once the
--   record was purged, or when the request had been purged before this migration.
-- record_retain_until: when the record may be purged (submission plus the protocol's
--   record_retention), unix microseconds.
--
-- Existing rows are upgraded by the store when it opens (it needs the content key): their
-- decisions are encrypted, their reasons taken from the request if it is still held, and
-- their record kept for the default six years from submission. Until then
-- record_retain_until is NULL and the row is found through exchanges_record_upgrade.
ALTER TABLE exchanges ADD COLUMN decisions_ct BLOB;
ALTER TABLE exchanges ADD COLUMN reasons_ct BLOB;
ALTER TABLE exchanges ADD COLUMN record_retain_until INTEGER;

-- Rows still to be upgraded: empty once the store has opened on this database.
CREATE INDEX exchanges_record_upgrade ON exchanges (id)
    WHERE record_retain_until IS NULL;

-- `Store::purge_decision_records` looks records up by the end of their retention among those
-- still kept. The predicate must stay textually identical to the query's (db/batch.rs
-- `expired_records`) for SQLite to use it.
CREATE INDEX exchanges_record_retention ON exchanges (record_retain_until)
    WHERE decisions_ct IS NOT NULL;
