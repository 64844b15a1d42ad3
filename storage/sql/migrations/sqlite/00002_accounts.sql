-- +goose Up
CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    email_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    name                TEXT NOT NULL DEFAULT '',
    picture             TEXT NOT NULL DEFAULT '',
    locale              TEXT NOT NULL DEFAULT '',
    phone_sealed        BLOB,
    phone_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    organization        TEXT NOT NULL DEFAULT '',
    department          TEXT NOT NULL DEFAULT '',
    employee_id         TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL DEFAULT '',
    password_changed_at INTEGER NOT NULL DEFAULT 0,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
-- email holds the normalised address (storage.NormalizeEmail).
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX account_tokens_user_id ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);

CREATE TABLE login_attempts (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX login_attempts_expires_at ON login_attempts (expires_at);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    type       TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details    TEXT NOT NULL,
    hash       BLOB NOT NULL
);
CREATE INDEX audit_events_subject_id ON audit_events (subject_id, id);

-- The chain's head: the last event's id and hash. Appending updates it in
-- the appending transaction, which serialises appenders.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);

-- The log is append-only.
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE login_attempts;
DROP TABLE account_tokens;
DROP TABLE users;
