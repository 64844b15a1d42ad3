-- +goose Up
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB,
    metadata    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);

CREATE TABLE revocations (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL,
    ref        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX changes_created_at ON changes (created_at);

CREATE TABLE oauth2_codes (
    signature  TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    active     BOOLEAN NOT NULL,
    request    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oauth2_codes_client_id ON oauth2_codes (client_id);
CREATE INDEX oauth2_codes_expires_at ON oauth2_codes (expires_at);

CREATE TABLE oauth2_refresh_tokens (
    signature         TEXT PRIMARY KEY,
    request_id        TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    active            BOOLEAN NOT NULL,
    offline           BOOLEAN NOT NULL,
    access_jti        TEXT NOT NULL,
    access_expires_at INTEGER NOT NULL,
    request           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
);
CREATE INDEX oauth2_refresh_tokens_request_id ON oauth2_refresh_tokens (request_id);
CREATE INDEX oauth2_refresh_tokens_client_id ON oauth2_refresh_tokens (client_id);
CREATE INDEX oauth2_refresh_tokens_subject ON oauth2_refresh_tokens (subject);
CREATE INDEX oauth2_refresh_tokens_session_id ON oauth2_refresh_tokens (session_id);
CREATE INDEX oauth2_refresh_tokens_expires_at ON oauth2_refresh_tokens (expires_at);

CREATE TABLE oauth2_pkce (
    signature  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    request    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oauth2_pkce_expires_at ON oauth2_pkce (expires_at);

CREATE TABLE oidc_sessions (
    signature  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    request    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_sessions_expires_at ON oidc_sessions (expires_at);

CREATE TABLE client_assertion_jtis (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);

-- +goose Down
DROP TABLE client_assertion_jtis;
DROP TABLE oidc_sessions;
DROP TABLE oauth2_pkce;
DROP TABLE oauth2_refresh_tokens;
DROP TABLE oauth2_codes;
DROP TABLE changes;
DROP TABLE revocations;
DROP TABLE signing_keys;
DROP TABLE clients;
