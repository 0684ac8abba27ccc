-- Expiry of exchanges left waiting on a party that never acts (an approval the holder never
-- answers, a request for more information never answered): `Store::expiry_candidates` looks
-- them up by `respond_by` among those in a state that `expire` applies to. Partial, so it
-- holds only those. The predicate must stay textually identical to the query's (db.rs
-- `expiry_candidates`) for SQLite to use it. Kept identical on both backends.
CREATE INDEX exchanges_expiry ON exchanges (respond_by)
    WHERE state IN ('more_info_requested', 'approved', 'partly_approved');
