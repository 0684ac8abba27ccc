-- The pending queue of each holding agency, oldest deadline first: `Store::pending_for` pages
-- through the exchanges awaiting its decision by (respond_by, id), so a page reads only its
-- own rows however long the queue is. Partial, so it holds only exchanges awaiting a
-- decision. The predicate must stay textually identical to the query's (db/reads.rs
-- `pending`) for SQLite to use it. Kept identical on both backends.
CREATE INDEX exchanges_pending ON exchanges (holding_agency, respond_by, id)
    WHERE state IN ('awaiting_approval', 'escalated');
