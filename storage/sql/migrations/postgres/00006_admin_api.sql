-- +goose Up
-- Admin API keys (storage.APIKey): the key itself is never stored, only
-- its keyed MAC. scopes is a space-separated list.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         BYTEA NOT NULL,
    -- mac_key is the id of the master key the MAC was made under.
    mac_key      TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    tier         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    last_used_ip TEXT NOT NULL DEFAULT '',
    revoked_at   BIGINT NOT NULL DEFAULT 0
);

-- The admin API lists users by organization and by status in id order
-- (cursor pagination), and audit events by type and time.
CREATE INDEX users_organization ON users (organization, id);
CREATE INDEX users_disabled ON users (disabled, id);
CREATE INDEX audit_events_type ON audit_events (type, id);
CREATE INDEX audit_events_time ON audit_events (time, id);

-- +goose Down
DROP INDEX audit_events_time;
DROP INDEX audit_events_type;
DROP INDEX users_disabled;
DROP INDEX users_organization;
DROP TABLE api_keys;
