-- +goose Up
-- Dynamic client registration (RFC 7591/7592). Initial access tokens
-- (storage.InitialAccessToken) let whoever holds one register clients;
-- only their keyed MAC is stored. uses counts registrations, bounded by
-- max_uses (0: no bound) with a conditional UPDATE.
CREATE TABLE initial_access_tokens (
    id          TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    hash        BLOB NOT NULL,
    -- mac_key is the id of the master key the MAC was made under.
    mac_key     TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    max_uses    INTEGER NOT NULL DEFAULT 0,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);

-- One row per dynamically registered client (storage.ClientRegistration):
-- the MAC of its registration access token (RFC 7592) and the RFC 7591
-- metadata authd keeps but does not act on (client_uri, logo_uri,
-- contacts, ...), as JSON. Deleting the client deletes the row.
CREATE TABLE client_registrations (
    client_id        TEXT PRIMARY KEY,
    token_hash       BLOB NOT NULL,
    mac_key          TEXT NOT NULL,
    initial_token_id TEXT NOT NULL DEFAULT '',
    metadata         TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- +goose Down
DROP TABLE client_registrations;
DROP TABLE initial_access_tokens;
