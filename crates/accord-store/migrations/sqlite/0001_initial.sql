-- Accord store schema, SQLite dialect. Kept column-for-column identical to the PostgreSQL
-- migration so one set of queries serves both (see docs/storage.md).
-- Instants are INTEGER unix microseconds (UTC); lists and structured values are JSON text;
-- ids are 16-byte UUID blobs; hashes are 32-byte blobs.

CREATE TABLE exchanges (
    id                BLOB    PRIMARY KEY,
    state             TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    idempotency_key   TEXT    NOT NULL,
    requesting_agency TEXT    NOT NULL,
    holding_agency    TEXT    NOT NULL,
    purpose           TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    respond_by        INTEGER NOT NULL,
    overdue           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    first_decision_at INTEGER,
    -- AES-256-GCM ciphertext of the request (JSON); NULL once purged.
    request_ct        BLOB,
    subject_hashes    TEXT    NOT NULL,
    assessment        TEXT    NOT NULL,
    decisions         TEXT    NOT NULL,
    approved_scope    TEXT    NOT NULL,
    conditions        TEXT    NOT NULL,
    UNIQUE (requesting_agency, idempotency_key)
);
CREATE INDEX exchanges_by_requester ON exchanges (requesting_agency, created_at, id);
CREATE INDEX exchanges_by_holder ON exchanges (holding_agency, created_at, id);
CREATE INDEX exchanges_by_created ON exchanges (created_at);
CREATE INDEX exchanges_deadline ON exchanges (respond_by)
    WHERE overdue = FALSE AND state IN ('awaiting_approval', 'escalated');

-- Keyed hashes (HMAC-SHA256) of subject identifiers: the only form in which a child's
-- identifiers are searchable.
CREATE TABLE exchange_subjects (
    subject_hash TEXT    NOT NULL,
    exchange_id  BLOB    NOT NULL REFERENCES exchanges (id),
    role         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (subject_hash, exchange_id, role)
);
CREATE INDEX exchange_subjects_by_exchange ON exchange_subjects (exchange_id);

CREATE TABLE responses (
    exchange_id    BLOB    PRIMARY KEY REFERENCES exchanges (id),
    submitted_at   INTEGER NOT NULL,
    submitted_by   TEXT    NOT NULL,
    -- AES-256-GCM ciphertext of the canonical JSON items; NULL once purged.
    content_ct     BLOB,
    content_sha256 TEXT    NOT NULL,
    content_size   INTEGER NOT NULL,
    categories     TEXT    NOT NULL,
    retain_until   INTEGER NOT NULL,
    purged         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX responses_retention ON responses (retain_until) WHERE purged = FALSE;

CREATE TABLE inbox_events (
    cursor      INTEGER PRIMARY KEY,
    agency      TEXT    NOT NULL,
    exchange_id BLOB    NOT NULL,
    kind        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    summary     TEXT    NOT NULL
);
CREATE INDEX inbox_by_agency ON inbox_events (agency, cursor);

CREATE TABLE audit_log (
    sequence          INTEGER PRIMARY KEY,
    prev_hash         BLOB    NOT NULL,
    entry_hash        BLOB    NOT NULL,
    occurred_at       INTEGER NOT NULL,
    event_kind        TEXT    NOT NULL,
    exchange_id       BLOB,
    actor_agency      TEXT,
    actor_subject     TEXT    NOT NULL,
    actor_roles       TEXT    NOT NULL,
    requesting_agency TEXT,
    holding_agency    TEXT,
    purpose           TEXT,
    state_from        TEXT,
    state_to          TEXT,
    subject_hashes    TEXT    NOT NULL,
    categories        TEXT    NOT NULL,
    content_sha256    TEXT,
    content_size      INTEGER,
    detail            TEXT    NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (occurred_at, sequence);
CREATE INDEX audit_by_requester ON audit_log (requesting_agency, occurred_at, sequence);
CREATE INDEX audit_by_holder ON audit_log (holding_agency, occurred_at, sequence);
CREATE INDEX audit_by_actor ON audit_log (actor_agency, occurred_at, sequence);
CREATE INDEX audit_by_exchange ON audit_log (exchange_id, sequence);

CREATE TABLE audit_checkpoints (
    sequence   INTEGER PRIMARY KEY,
    head_hash  BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    key_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
