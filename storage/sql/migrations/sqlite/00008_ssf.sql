-- +goose Up
-- OpenID Shared Signals streams (webhook.Stream) are endpoints of kind
-- 'ssf': they reuse the delivery, retry and dead-letter machinery of
-- webhooks. client_id is the receiver (the OAuth client that manages the
-- stream, and the aud of its SETs); stream holds the stream's own
-- configuration as JSON (storage.StreamConfig).
ALTER TABLE webhooks ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE webhooks ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN stream TEXT NOT NULL DEFAULT '';
CREATE INDEX webhooks_kind ON webhooks (kind, client_id, id);

-- The subjects a receiver added to (included) or removed from (not
-- included) a stream; users not listed follow the default (every user
-- the receiver's client may know).
CREATE TABLE ssf_subjects (
    stream_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    included   BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX ssf_subjects_user ON ssf_subjects (user_id);

-- +goose Down
DROP TABLE ssf_subjects;
DROP INDEX webhooks_kind;
ALTER TABLE webhooks DROP COLUMN stream;
ALTER TABLE webhooks DROP COLUMN client_id;
ALTER TABLE webhooks DROP COLUMN kind;
