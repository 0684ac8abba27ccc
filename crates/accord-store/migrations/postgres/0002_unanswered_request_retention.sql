-- Retention of requests that ended without a response (refused, declined, withdrawn,
-- expired, or closed before any response): `Store::purge_unanswered_requests` looks them up
-- by `updated_at` among those still holding their encrypted request. Partial, so it holds
-- only the rows still to be purged. Kept identical to the SQLite migration.
CREATE INDEX exchanges_unanswered_retention ON exchanges (updated_at)
    WHERE request_ct IS NOT NULL
      AND state IN ('refused', 'declined', 'withdrawn', 'expired', 'closed');
