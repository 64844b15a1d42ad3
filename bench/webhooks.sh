#!/usr/bin/env bash
# bench/webhooks.sh: webhook delivery to a local receiver (loopback only).
# Runs webhook's load benchmark (BenchmarkDeliveryLoad) and emit benchmark:
#   - throughput: 5000 user.created events emitted 500 to a transaction,
#     delivered as fast as it goes (48 job workers, 64 in flight to the
#     endpoint); deliveries/s overall and once emission stopped;
#   - latency: 200 events/s for 10 s, from the event's insert to its
#     arrival at the receiver (p50/p90/p99/max);
#   - BenchmarkEmit: what emitting costs the request (its audit insert:
#     the outbox row; webhooks add no statement to it).
#   - BenchmarkStreamDelivery: 5000 security events to one Shared Signals
#     stream, each signed as a SET and pushed (SETs/s end to end).
# Each delivery is verified by the receiver with the Standard Webhooks
# reference library, so signing is in the numbers.
#
# usage: bench/webhooks.sh [sqlite|postgres]   (default postgres, at
#   AUTHD_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
db=${1:-postgres}
case "$db" in sqlite | postgres) ;; *) echo "usage: bench/webhooks.sh [sqlite|postgres]" >&2; exit 2 ;; esac
export AUTHD_BENCH_DB=$db
echo "# webhooks on $db, $(nproc) cores"
go test ./webhook -run '^$' -bench '^BenchmarkDeliveryLoad$' -benchtime 1x -v | grep -E 'throughput|latency|^Benchmark'
go test ./webhook -run '^$' -bench '^BenchmarkEmit$' -benchtime 2000x | grep -E '^Benchmark'
go test ./webhook -run '^$' -bench '^BenchmarkStreamDelivery$' -benchtime 1x -v | grep -E 'security events|^Benchmark'
