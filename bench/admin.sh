#!/usr/bin/env bash
# bench/admin.sh: the admin API and SCIM at scale. Builds authd, imports
# USERS users (default a million) with genusers' precomputed hash, creates
# an unlimited API key, and reads at a fixed RATE (default 200/s): a user
# by id and by email, the first and the 1000th page of the user list, and
# a SCIM userName eq filter. Prints loadgen's table (p50/p99 per run).
#
# usage: bench/admin.sh [--quick]      (--quick: 60,000 users, 2 s runs)
#
# environment: USERS, RATE, DURATION (10s), CONNS (16),
#   DATABASE_URL (postgres://...; default the embedded SQLite),
#   REDIS_URL, KEEP_TMP=1. All traffic goes to 127.0.0.1.
set -euo pipefail
quick=0
[[ "${1:-}" == --quick ]] && quick=1
if ((quick)); then USERS=${USERS:-60000}; DURATION=${DURATION:-2s}; else USERS=${USERS:-1000000}; DURATION=${DURATION:-10s}; fi
RATE=${RATE:-200}
CONNS=${CONNS:-16}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/bench/lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authd-admin-bench.XXXXXX")
pid=""
cleanup() {
	local rc=$?
	[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
log() { printf '==> %s\n' "$*" >&2; }

log "building authd, loadgen and genusers"
(cd "$repo" && go build -o "$tmp/authd" ./cmd/authd && go build -o "$tmp/loadgen" ./bench/cmd/loadgen &&
	go build -o "$tmp/genusers" ./bench/cmd/genusers)
port=$(free_port)
export AUTHD_DATA_DIR="$tmp/data" AUTHD_HTTP_ADDR="127.0.0.1:$port" AUTHD_ISSUER="http://127.0.0.1:$port"
if [[ -n "${DATABASE_URL:-}" ]]; then
	export AUTHD_DATABASE_URL="$DATABASE_URL" AUTHD_SECRETS_MASTER_KEY="${AUTHD_SECRETS_MASTER_KEY:-$(head -c 32 /dev/urandom | base64)}"
fi
[[ -n "${REDIS_URL:-}" ]] && export AUTHD_REDIS_URL="$REDIS_URL"
"$tmp/authd" migrate up >/dev/null

log "importing $USERS users"
start=$(date +%s.%N)
"$tmp/genusers" -start 1 -n "$USERS" -hash "$("$tmp/genusers" -print-hash)" -o "$tmp/users.jsonl"
"$tmp/authd" users import --quiet --batch 5000 --file "$tmp/users.jsonl" >"$tmp/import.json"
log "imported in $(echo "$(date +%s.%N) - $start" | bc) s"
rm -f "$tmp/users.jsonl"
if [[ -n "${DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
	# Measure a settled table, not autovacuum's first pass over a million
	# new rows (which otherwise overlaps the first runs).
	log "VACUUM ANALYZE users"
	psql -q "$DATABASE_URL" -c "VACUUM ANALYZE users" >/dev/null
fi
key=$("$tmp/authd" apikeys create --name bench --scope users:read --scope scim --tier unlimited |
	sed -n 's/.*"key": "\(authd_[^"]*\)".*/\1/p')

"$tmp/authd" serve >"$tmp/authd.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done

results=()
for s in admin_user_by_id admin_user_by_email admin_list_first admin_list_page1000 scim_username_eq; do
	log "$s at $RATE/s for $DURATION"
	"$tmp/loadgen" -target "http://127.0.0.1:$port" -scenario "$s" -api-key "$key" -user-email 'user%d@bench.example.com' \
		-users "$USERS" -rate "$RATE" -c "$CONNS" -d "$DURATION" -warmup 1s -fail-on-error -json "$tmp/$s.json" >/dev/null
	results+=("$tmp/$s.json")
done
"$tmp/loadgen" -summary "${results[@]}"
