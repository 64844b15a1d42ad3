#!/usr/bin/env bash
# bench/core.sh: build authd, run it on loopback with its embedded defaults in
# a temporary working directory, create a client_credentials client, put every
# load-generator scenario on it, then run the crypto ceiling benchmarks.
#
# usage: bench/core.sh [--quick]
#
#   --quick   short smoke run: -d 2s -warmup 0.5s -c 8 -fail-on-error, short
#             benchmarks; exits non-zero if any request failed
#
# environment (all optional):
#   DURATION       measured duration per scenario (default 10s; --quick 2s)
#   CONNS          connections/workers (default 64; --quick 8)
#   WARMUP         warm-up per scenario (default 2s; --quick 0.5s)
#   RATE           fixed arrival rate in requests/s (default 0 = closed loop)
#   SCENARIOS      space-separated scenarios to run (default: all of them)
#   BENCHTIME      go test -benchtime for the ceiling (default 1s; --quick 100ms)
#   NO_CEILING=1   skip the ceiling benchmarks
#   AUTHD_BIN      use this authd binary instead of building ./cmd/authd
#   READY_TIMEOUT  seconds to wait for /readyz (default 60)
#   KEEP_TMP=1     keep the temporary directory (authd log, JSON results)
#
# All traffic goes to 127.0.0.1 only. authd is always stopped on exit.
set -euo pipefail

quick=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "core.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

if ((quick)); then
	DURATION=${DURATION:-2s}
	CONNS=${CONNS:-8}
	WARMUP=${WARMUP:-0.5s}
	BENCHTIME=${BENCHTIME:-100ms}
	fail_flag=(-fail-on-error)
else
	DURATION=${DURATION:-10s}
	CONNS=${CONNS:-64}
	WARMUP=${WARMUP:-2s}
	BENCHTIME=${BENCHTIME:-1s}
	fail_flag=()
fi
RATE=${RATE:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
SCENARIOS=${SCENARIOS:-discovery jwks client_credentials introspect introspect_revoked}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authd-bench.XXXXXX")
authd_pid=""

log() { printf '==> %s\n' "$*" >&2; }

stop_authd() {
	[[ -n "$authd_pid" ]] || return 0
	if kill -0 "$authd_pid" 2>/dev/null; then
		kill -TERM "$authd_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$authd_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$authd_pid" 2>/dev/null; then
			log "authd (pid $authd_pid) did not stop on SIGTERM; killing it"
			kill -KILL "$authd_pid" 2>/dev/null || true
		fi
	fi
	wait "$authd_pid" 2>/dev/null || true
	authd_pid=""
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	stop_authd
	if [[ "${KEEP_TMP:-0}" == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_authd_log() {
	if [[ -s "$tmp/authd.log" ]]; then
		echo "---- last lines of the authd log ----" >&2
		tail -n 40 "$tmp/authd.log" >&2
		echo "-------------------------------------" >&2
	fi
}

die() {
	echo "core.sh: $*" >&2
	show_authd_log
	exit 1
}

# free_port prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return
	fi
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}

# http_status URL prints the HTTP status of a GET (000 if unreachable).
http_status() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<'PY' || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
	else
		# Bash's /dev/tcp: host:port/path from http://host:port/path.
		local rest=${1#http://} hp path
		hp=${rest%%/*}
		path=/${rest#*/}
		(
			exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || exit 1
			printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" >&3
			head -n 1 <&3 | awk '{print $2}'
		) 2>/dev/null || echo 000
	fi
}

# json_field FIELD FILE prints the string FIELD of the JSON object in FILE
# (the first object, should the file hold anything else as well).
json_field() {
	local field=$1 file=$2 v=""
	if command -v jq >/dev/null 2>&1; then
		v=$(jq -er --arg f "$field" '.[$f] // empty' <"$file" 2>/dev/null) || v=""
	fi
	if [[ -z "$v" ]] && command -v python3 >/dev/null 2>&1; then
		v=$(python3 - "$field" "$file" <<'PY' 2>/dev/null
import json, sys
text = open(sys.argv[2]).read()
dec = json.JSONDecoder()
i = text.find("{")
while i >= 0:
    try:
        obj, _ = dec.raw_decode(text, i)
        if isinstance(obj, dict) and sys.argv[1] in obj:
            print(obj[sys.argv[1]])
            break
    except ValueError:
        pass
    i = text.find("{", i + 1)
PY
		) || v=""
	fi
	if [[ -z "$v" ]]; then
		v=$(tr -d '\n' <"$file" | sed -n 's/.*"'"$field"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
	fi
	printf '%s' "$v"
}

cd "$repo"
log "machine: $(nproc) cores, $(go version)"

if [[ -n "${AUTHD_BIN:-}" ]]; then
	log "using authd binary $AUTHD_BIN"
	cp "$AUTHD_BIN" "$tmp/authd"
else
	log "building authd (./cmd/authd)"
	go build -o "$tmp/authd" ./cmd/authd || die "could not build ./cmd/authd"
fi
log "building the load generator (./bench/cmd/loadgen)"
go build -o "$tmp/loadgen" ./bench/cmd/loadgen || die "could not build ./bench/cmd/loadgen"

port=$(free_port) || die "no free port found on 127.0.0.1"
base="http://127.0.0.1:$port"
export AUTHD_HTTP_ADDR="127.0.0.1:$port"
export AUTHD_ISSUER="$base"

log "starting authd serve on $base (working directory $tmp)"
(cd "$tmp" && exec ./authd serve) >"$tmp/authd.log" 2>&1 &
authd_pid=$!

deadline=$((SECONDS + READY_TIMEOUT))
until [[ "$(http_status "$base/readyz")" == 200 ]]; do
	kill -0 "$authd_pid" 2>/dev/null || {
		wait "$authd_pid" 2>/dev/null && rc=0 || rc=$?
		authd_pid=""
		die "authd exited (status $rc) before becoming ready"
	}
	((SECONDS < deadline)) || die "authd not ready after ${READY_TIMEOUT}s ($base/readyz)"
	sleep 0.2
done
log "authd is ready"

log "creating the bench client"
(cd "$tmp" && ./authd clients create --name bench --grant-type client_credentials --scope api) \
	>"$tmp/client.json" 2>"$tmp/client.err" || {
	cat "$tmp/client.err" >&2
	die "authd clients create failed"
}
client_id=$(json_field client_id "$tmp/client.json")
client_secret=$(json_field client_secret "$tmp/client.json")
if [[ -z "$client_id" || -z "$client_secret" ]]; then
	cat "$tmp/client.json" "$tmp/client.err" >&2
	die "could not read client_id and client_secret from 'authd clients create'"
fi
log "client: $client_id"

failed=()
results=()
for sc in $SCENARIOS; do
	echo
	log "scenario $sc: -c $CONNS -d $DURATION -warmup $WARMUP -rate $RATE ${fail_flag[*]}"
	if "$tmp/loadgen" -target "$base" -scenario "$sc" \
		-client-id "$client_id" -client-secret "$client_secret" -scope api \
		-c "$CONNS" -d "$DURATION" -warmup "$WARMUP" -rate "$RATE" \
		-json "$tmp/$sc.json" "${fail_flag[@]}"; then
		rc=0
	else
		rc=$?
	fi
	[[ -s "$tmp/$sc.json" ]] && results+=("$tmp/$sc.json")
	if ((rc >= 128)); then
		log "interrupted"
		exit "$rc"
	elif ((rc != 0)); then
		failed+=("$sc")
	fi
	kill -0 "$authd_pid" 2>/dev/null || die "authd died during scenario $sc"
done

# The ceiling runs with authd stopped, so it has both cores to itself.
stop_authd

ceiling_rc=0
if [[ "${NO_CEILING:-0}" != 1 ]]; then
	echo
	log "crypto ceiling: go test -run '^\$' -bench . -cpu 2 -benchtime $BENCHTIME ./bench/"
	go test -run '^$' -bench . -cpu 2 -benchtime "$BENCHTIME" ./bench/ | tee "$tmp/ceiling.txt" || ceiling_rc=$?
fi

echo
echo "==================== summary ===================="
echo "authd $base, $(nproc) cores shared by authd and the load generator; c=$CONNS d=$DURATION warmup=$WARMUP rate=$RATE"
if ((${#results[@]})); then
	"$tmp/loadgen" -summary "${results[@]}"
fi
if [[ -s "$tmp/ceiling.txt" ]]; then
	echo
	echo "crypto ceiling (ops/s = both cores together):"
	grep '^Benchmark' "$tmp/ceiling.txt" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "ops/s") printf "  %-28s %12s ops/s  (%s ns/op)\n", $1, $i, $3 }'
fi

status=0
if ((${#failed[@]})); then
	echo "FAILED scenarios: ${failed[*]}" >&2
	status=1
fi
if ((ceiling_rc != 0)); then
	echo "FAILED: ceiling benchmarks (exit $ceiling_rc)" >&2
	status=1
fi
exit "$status"
