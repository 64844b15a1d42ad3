// Package bench holds authd's performance tooling: the crypto ceiling
// benchmarks (ceiling_test.go), the loopback load generator (cmd/loadgen)
// and core.sh, which runs both against a freshly built authd. See README.md.
package bench
