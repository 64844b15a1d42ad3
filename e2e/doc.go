// Package e2e holds authd's end-to-end tests of a scaled-out deployment:
// real authd processes (the binary built once by TestMain) on one
// Postgres, reached through a real PgBouncer in transaction pooling mode,
// and one Redis (a single server, or a three-master Cluster), all started
// by the tests on loopback ports. It has no code of its own.
//
// The tests need the binaries redis-server, redis-cli and pgbouncer and a
// Postgres at AUTHD_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres, trust auth); scripts/services.sh
// installs and starts them.
package e2e
