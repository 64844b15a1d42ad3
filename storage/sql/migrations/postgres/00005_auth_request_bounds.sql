-- +goose Up
-- The address an authorization request came from: the requests waiting
-- from one address are bounded (authorize.max_pending_per_address).
ALTER TABLE auth_requests ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
CREATE INDEX auth_requests_client_addr ON auth_requests (client_addr, created_at);

-- +goose Down
DROP INDEX auth_requests_client_addr;
ALTER TABLE auth_requests DROP COLUMN client_addr;
