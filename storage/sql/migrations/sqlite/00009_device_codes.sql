-- +goose Up
-- Device authorizations (RFC 8628, storage.DeviceCode). signature is the
-- HMAC of the device code (the code itself is never stored); user_code is
-- normalised and unique while the row lives; session is the provider's
-- token session as JSON once approved. Times are Unix milliseconds.
CREATE TABLE device_codes (
    signature      TEXT PRIMARY KEY,
    user_code      TEXT NOT NULL UNIQUE,
    client_id      TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    status         TEXT NOT NULL,
    subject        TEXT NOT NULL DEFAULT '',
    session_id     TEXT NOT NULL DEFAULT '',
    granted_scopes TEXT NOT NULL DEFAULT '',
    session        TEXT NOT NULL DEFAULT '',
    interval_ms    INTEGER NOT NULL,
    last_polled_at INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);

-- +goose Down
DROP TABLE device_codes;
