-- Accord store schema, PostgreSQL dialect. Kept column-for-column identical to the SQLite
-- migration so one set of queries serves both (see docs/storage.md).
-- Instants are BIGINT unix microseconds (UTC); lists and structured values are JSON text
-- (TEXT, not JSONB: the audit hash covers the exact stored bytes); ids are UUIDs; hashes
-- are 32-byte BYTEA.

CREATE TABLE exchanges (
    id                UUID    PRIMARY KEY,
    state             TEXT    NOT NULL,
    version           BIGINT  NOT NULL,
    idempotency_key   TEXT    NOT NULL,
    requesting_agency TEXT    NOT NULL,
    holding_agency    TEXT    NOT NULL,
    purpose           TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    respond_by        BIGINT  NOT NULL,
    overdue           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    first_decision_at BIGINT,
    -- AES-256-GCM ciphertext of the request (JSON); NULL once purged.
    request_ct        BYTEA,
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
    exchange_id  UUID    NOT NULL REFERENCES exchanges (id),
    role         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (subject_hash, exchange_id, role)
);
CREATE INDEX exchange_subjects_by_exchange ON exchange_subjects (exchange_id);

CREATE TABLE responses (
    exchange_id    UUID    PRIMARY KEY REFERENCES exchanges (id),
    submitted_at   BIGINT  NOT NULL,
    submitted_by   TEXT    NOT NULL,
    -- AES-256-GCM ciphertext of the canonical JSON items; NULL once purged.
    content_ct     BYTEA,
    content_sha256 TEXT    NOT NULL,
    content_size   BIGINT  NOT NULL,
    categories     TEXT    NOT NULL,
    retain_until   BIGINT  NOT NULL,
    purged         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX responses_retention ON responses (retain_until) WHERE purged = FALSE;

CREATE TABLE inbox_events (
    cursor      BIGINT  PRIMARY KEY,
    agency      TEXT    NOT NULL,
    exchange_id UUID    NOT NULL,
    kind        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    occurred_at BIGINT  NOT NULL,
    summary     TEXT    NOT NULL
);
CREATE INDEX inbox_by_agency ON inbox_events (agency, cursor);

CREATE TABLE audit_log (
    sequence          BIGINT  PRIMARY KEY,
    prev_hash         BYTEA   NOT NULL,
    entry_hash        BYTEA   NOT NULL,
    occurred_at       BIGINT  NOT NULL,
    event_kind        TEXT    NOT NULL,
    exchange_id       UUID,
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
    content_size      BIGINT,
    detail            TEXT    NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (occurred_at, sequence);
CREATE INDEX audit_by_requester ON audit_log (requesting_agency, occurred_at, sequence);
CREATE INDEX audit_by_holder ON audit_log (holding_agency, occurred_at, sequence);
CREATE INDEX audit_by_actor ON audit_log (actor_agency, occurred_at, sequence);
CREATE INDEX audit_by_exchange ON audit_log (exchange_id, sequence);

CREATE TABLE audit_checkpoints (
    sequence   BIGINT  PRIMARY KEY,
    head_hash  BYTEA   NOT NULL,
    signature  BYTEA   NOT NULL,
    key_id     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
