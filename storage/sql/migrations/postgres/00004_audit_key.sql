-- +goose Up
-- The audit chain is keyed: each event's hash is an HMAC under a key
-- derived from the master key whose id it records ('' for events hashed
-- before, with plain SHA-256); the head remembers the key of the last.
ALTER TABLE audit_events ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN key_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_head DROP COLUMN key_id;
ALTER TABLE audit_events DROP COLUMN key_id;
