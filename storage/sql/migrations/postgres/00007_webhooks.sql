-- +goose Up
-- Webhook endpoints (storage.Webhook). Secrets are sealed under the master
-- key; events is a space-separated list of types and patterns.
CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    url                 TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    events              TEXT NOT NULL,
    secret              BYTEA NOT NULL,
    previous_secret     BYTEA,
    previous_expires_at BIGINT NOT NULL DEFAULT 0,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason     TEXT NOT NULL DEFAULT '',
    failing_since       BIGINT NOT NULL DEFAULT 0,
    created_by          TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- One row per event and endpoint; its id is the webhook-id header. payload
-- is the exact body sent.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, id);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (webhook_id, created_at);
-- Finished deliveries are deleted after webhooks.retention.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status      INTEGER NOT NULL,
    latency_ms  BIGINT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    response    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, n)
);

-- Where each consumer of the audit log (the webhook dispatcher) stands:
-- the id of the last event it consumed.
CREATE TABLE event_cursors (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
-- The webhook dispatcher starts at the end of the log as it is now: it
-- publishes what happens from here on, including what the CLI does before
-- a server first runs.
INSERT INTO event_cursors (name, position) SELECT 'webhooks', seq FROM audit_head WHERE id = 1;

-- Alert de-duplication (webhook.Alerts): one row per kind of alert.
CREATE TABLE alert_states (
    kind                TEXT PRIMARY KEY,
    last_sent_at        BIGINT NOT NULL DEFAULT 0,
    suppressed          INTEGER NOT NULL DEFAULT 0,
    first_suppressed_at BIGINT NOT NULL DEFAULT 0
);

-- The addresses each API key has been used from, so that a use from a new
-- one raises an alert.
CREATE TABLE api_key_addresses (
    key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    ip         TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (key_id, ip)
);

-- +goose Down
DROP TABLE api_key_addresses;
DROP TABLE alert_states;
DROP TABLE event_cursors;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
