-- The level of need of each exchange, so listings can show it without decrypting the request.
-- Written at submission from then on. Earlier exchanges are backfilled from their `submitted`
-- audit entry, whose detail records the level of need in the clear (`submitted_detail`); the
-- column stays nullable for any exchange without one, and a NULL lists as unspecified.
-- Kept identical to the SQLite migration.
ALTER TABLE exchanges ADD COLUMN level_of_need TEXT;

UPDATE exchanges SET level_of_need = (
    SELECT a.detail::jsonb ->> 'level_of_need'
    FROM audit_log a
    WHERE a.exchange_id = exchanges.id AND a.event_kind = 'submitted'
    ORDER BY a.sequence
    LIMIT 1
);
